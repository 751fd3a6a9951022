"""gunicorn settings for `gunicorn config.wsgi` (read from the working directory).

Sync workers, one per core: every request is CPU-bound Django work plus short
database round trips (bench/README.md: more workers or threads on 2 cores add
nothing but memory). Set WEB_CONCURRENCY to override.
"""

import multiprocessing
import os

bind = os.environ.get("BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count()))
worker_class = "sync"
# Behind a load balancer that keeps connections open.
keepalive = 5
timeout = 30
graceful_timeout = 30
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-") or None
# X-Forwarded-Proto (https or not) is believed only from these: the same proxies the service trusts for
# X-Forwarded-For.
forwarded_allow_ips = os.environ.get("TRUSTED_PROXIES", "127.0.0.1")
