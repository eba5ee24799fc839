"""gunicorn reads this file from the working directory when started without ``-c``: the same
settings as ``config/gunicorn.py`` (logging through the application's handlers, the access log
with the subject's secrets redacted)."""

from config.gunicorn import *  # noqa: F403
