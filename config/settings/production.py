"""Production: secrets from the environment, no defaults for them."""

from django.core.exceptions import ImproperlyConfigured

from config.startup import licensing_jwt_secret

from .base import *  # noqa: F403
from .base import env

DEBUG = False
SECRET_KEY = env("DJANGO_SECRET_KEY", default="")
if not SECRET_KEY:
    raise ImproperlyConfigured("Set DJANGO_SECRET_KEY: production refuses to start without it.")
if not env("DATABASE_URL", default=""):
    raise ImproperlyConfigured("Set DATABASE_URL: production refuses to run on the embedded SQLite.")

# Whether a request came over HTTPS is gunicorn's to say: it believes X-Forwarded-Proto only from the
# proxies in TRUSTED_PROXIES (forwarded_allow_ips in gunicorn.conf.py), so no SECURE_PROXY_SSL_HEADER here,
# which would believe the header from anyone.
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

LICENSING_JWT_SECRET = licensing_jwt_secret(env("LICENSING_JWT_SECRET", default="") or SECRET_KEY)
