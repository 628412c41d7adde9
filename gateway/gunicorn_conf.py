"""gunicorn settings for the gateway (asgi worker); values come from the environment like everything else."""

import os

bind = f"{os.environ.get('GIBSEY_HTTP_HOST', '127.0.0.1')}:{os.environ.get('GIBSEY_HTTP_PORT', '8000')}"
worker_class = "asgi"
workers = int(os.environ.get("GIBSEY_HTTP_WORKERS", "2"))
# On SIGTERM a worker waits this long for open connections. SSE streams never finish by themselves (readers
# resume with Last-Event-ID), so keep it under honcho's 5 s before SIGKILL: Ctrl-C on `make run` then stops
# the gateway cleanly (with 10 s, an open stream got it SIGKILLed).
graceful_timeout = int(os.environ.get("GIBSEY_HTTP_GRACEFUL_S", "3"))
timeout = 30
keepalive = 5
# gunicorn 25+ opens a control socket at one fixed path per user; several gateways on one machine (make run
# beside the tests) would fight over it, and we do not use it.
control_socket_disable = True

# gunicorn's own lines (start, stop, access) as JSON too, through the project's formatter.
accesslog = "-"
access_log_format = '%(m)s %(U)s %(s)s %(M)sms'
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "shared.logging.JsonFormatter", "service": "gateway"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
    "root": {"handlers": ["stderr"], "level": os.environ.get("GIBSEY_LOG_LEVEL", "INFO")},
    "loggers": {
        "gunicorn.error": {"handlers": ["stderr"], "level": os.environ.get("GIBSEY_LOG_LEVEL", "INFO"), "propagate": False},
        "gunicorn.access": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
    },
}
