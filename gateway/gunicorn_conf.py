"""gunicorn settings for the gateway (asgi worker); values come from the environment like everything else."""

import os

bind = f"{os.environ.get('GIBSEY_HTTP_HOST', '127.0.0.1')}:{os.environ.get('GIBSEY_HTTP_PORT', '8000')}"
worker_class = "asgi"
workers = int(os.environ.get("GIBSEY_HTTP_WORKERS", "2"))
graceful_timeout = 10
timeout = 30
keepalive = 5
accesslog = "-"
access_log_format = '{"ts":"%(t)s","service":"gateway","msg":"http","method":"%(m)s","path":"%(U)s","status":%(s)s,"ms":%(M)s}'
