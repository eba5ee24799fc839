"""gunicorn's settings for the web process: ``gunicorn -c config/gunicorn.py config.wsgi``.

The address and the number of workers stay on the command line (``--bind``, ``--workers``, or
gunicorn's own WEB_CONCURRENCY and GUNICORN_CMD_ARGS). What is set here: gunicorn logs through
the application's logging (one format, LOG_FORMAT, for every line), and its access log names
the method, the path without the query string, the status, the size and the duration, plus the
client address the proxy reports, and never the referrer or the query string, where links with
tokens travel. The path itself can hold a token (``/verify/<token>/``): the filters on the
``console`` handler of ``config.logs`` see every access line, and are where it is redacted.
"""

from config.settings import LOGGING

logconfig_dict = LOGGING
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms client=%({x-real-ip}i)s'
# Slow uploads and slow clients are the proxy's to buffer; a request that takes longer than this
# is a stuck worker, which gunicorn replaces.
timeout = 120
graceful_timeout = 30
# The access log's atoms (path, request line) with the subject's secrets redacted, before any
# format sees them (dsar.logfilters).
logger_class = "dsar.logfilters.RedactingGunicornLogger"
