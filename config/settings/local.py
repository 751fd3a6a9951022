"""Development: an embedded SQLite database unless DATABASE_URL says otherwise."""

from .base import *  # noqa: F403
from .base import BASE_DIR, env

DEBUG = env.bool("DJANGO_DEBUG", default=True)
SECRET_KEY = env("DJANGO_SECRET_KEY", default="local-development-only-not-secret")
STORAGES["staticfiles"] = {  # noqa: F405
    "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage",
}
# Static files come straight from the apps: no collectstatic outside production.
STATIC_ROOT = None
WHITENOISE_USE_FINDERS = True

# The embedded SQLite file and collected static files live here.
(BASE_DIR / "var").mkdir(exist_ok=True)

LICENSING_JWT_SECRET = env("LICENSING_JWT_SECRET", default="") or SECRET_KEY
# The seed's example secret, so its signed example works against the demo; set your own anywhere else.
MOR_API_SECRET_KEY = env("MOR_API_SECRET_KEY", default="secret")
# Webhook receivers on this machine (a development receiver, the tests' own) are allowed.
WEBHOOK_ALLOW_PRIVATE_URLS = env.bool("WEBHOOK_ALLOW_PRIVATE_URLS", default=True)
