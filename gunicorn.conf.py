"""gunicorn's settings, read from the working directory whenever gunicorn starts here: its
access log never prints the secrets in the subject's links (dsar.logfilters)."""

logger_class = "dsar.logfilters.RedactingGunicornLogger"
