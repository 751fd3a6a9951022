"""The test suite: PostgreSQL over a real connection."""

from .base import *  # noqa: F403
from .base import env, prepared_statements

SECRET_KEY = "test-only-not-secret"  # noqa: S105 - the test settings never serve anyone
DATABASES = {
    "default": prepared_statements(env.db("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/devices")),
}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES["staticfiles"] = {  # noqa: F405
    "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage",
}
# Static files come straight from the apps: no collectstatic outside production.
STATIC_ROOT = None
WHITENOISE_USE_FINDERS = True
DEVICE_DEACTIVATION_SECONDS = 300
DEVICE_INITIALIZATION_SECONDS = 0

LICENSING_JWT_SECRET = env("LICENSING_JWT_SECRET", default="") or SECRET_KEY
MOR_API_SECRET_KEY = "secret"  # noqa: S105 - the seed's test vector
MOR_API_ALLOW_GET = False
# The suite sends many requests from one ip; the throttling tests turn the limits on themselves.
THROTTLE_RATES = {}
# Webhook receivers on this machine (a development receiver, the tests' own) are allowed.
WEBHOOK_ALLOW_PRIVATE_URLS = env.bool("WEBHOOK_ALLOW_PRIVATE_URLS", default=True)
# The admin import's uploads and reports, apart from a development server's.
STORAGES["device_imports"]["OPTIONS"]["location"] = str(BASE_DIR / "var" / "test-imports")  # noqa: F405
