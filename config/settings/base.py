"""Settings shared by every environment. Values come from the environment."""

from datetime import timedelta
from pathlib import Path

import environ

from config.startup import mor_api_allowed_ips, trusted_proxies

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

SECRET_KEY = env("DJANGO_SECRET_KEY", default="")
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])

INSTALLED_APPS = [
    "config.apps.DeviceAdminConfig",  # django.contrib.admin, with the dashboard as its first page
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_guid",
    "constance",
    "axes",
    "rangefilter",
    "devices",
    "billing",
    "licensing",
    "mor_api",
    "manage_api",
    "idempotency",
    "webhooks",
]

MIDDLEWARE = [
    "config.middleware.RequestIdFromTrustedProxiesMiddleware",  # before django-guid reads the header
    "django_guid.middleware.guid_middleware",
    "config.middleware.HostMiddleware",  # the probes, and the Host check, before any other middleware reads it
    "config.middleware.BodySizeLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # last, as django-axes asks: turns a locked-out login into its answer
]

# Only the admin uses CSRF; an API path that somehow fails it answers in its protocol's format, not HTML.
CSRF_FAILURE_VIEW = "config.views.csrf_failure"

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# With no DATABASE_URL the service runs on an embedded SQLite file.
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'var' / 'db.sqlite3'}"),
}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DJANGO_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True


def prepared_statements(database: dict) -> dict:
    """On PostgreSQL, bind parameters on the server and prepare what a connection runs again.

    PostgreSQL then parses and plans each hot statement once per connection,
    not once per request (bench/README.md). A pooler in transaction mode that
    can't keep prepared statements needs DJANGO_DB_PREPARED_STATEMENTS=false.
    """
    if database["ENGINE"] == "django.db.backends.postgresql" and env.bool(
        "DJANGO_DB_PREPARED_STATEMENTS", default=True
    ):
        database.setdefault("OPTIONS", {}).update(server_side_binding=True, prepare_threshold=2)
    return database


prepared_statements(DATABASES["default"])
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Redis when REDIS_URL is set (shared by every app server), local memory otherwise.
REDIS_URL = env("REDIS_URL", default="")
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    ),
}

# Argon2id first; the others only to check (and then rehash) passwords hashed before.
PASSWORD_HASHERS = [
    "config.hashers.Argon2idPasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]

# The admin's login is locked (django-axes) after AXES_FAILURE_LIMIT wrong passwords for one username from
# anywhere, or from one client ip for any username, for AXES_COOLOFF_TIME after the last of them: the right
# password is refused meanwhile. Only the admin's login counts: the APIs authenticate with keys, signatures and
# tokens, never with Django's authenticate().
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_ONLY_ADMIN_SITE = True
AXES_CLIENT_IP_CALLABLE = "devices.client_ip.client_ip"  # the address the throttles use (TRUSTED_PROXIES)
AXES_LOCKOUT_CALLABLE = "config.admin.login_locked_out"  # the admin's page, not a line of text
AXES_ENABLE_ADMIN = False  # devices/admin.py registers its pages, with permissions on their actions
AXES_VERBOSE = False  # no banner on every manage.py command; failures and lockouts are still logged

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "var" / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    # The admin import's uploads and reports (devices/admin_import.py), between its dry run and its apply: a folder
    # every app server reaches when there are several (or another storage backend).
    "device_imports": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": env("DJANGO_DEVICE_IMPORTS_DIR", default=str(BASE_DIR / "var" / "imports"))},
    },
}

# Bodies larger than this are refused before any view reads them.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DJANGO_DATA_UPLOAD_MAX_MEMORY_SIZE", default=1024 * 1024)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "devices.api.parsers.SafeJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # No OPTIONS metadata: each protocol is POST (or GET) only, and OPTIONS gets its 405 in the protocol's format.
    "DEFAULT_METADATA_CLASS": None,
    # Each protocol has its one format: `?format=` is not theirs to read (only the schema view reads it).
    "URL_FORMAT_OVERRIDE": None,
    "UNAUTHENTICATED_USER": None,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Device activation back-office",
    "DESCRIPTION": (
        "The source of truth for devices and their owners. It speaks the client "
        "device registry, the VMS billing API, edge-device licensing and the VoIP "
        "softswitch API; every answer carries an `X-Request-ID`."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI served from our own static files: the docs work with no outside network.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # The core's choice sets, as the management API shows them (the protocols' own vocabularies keep theirs).
    "ENUM_NAME_OVERRIDES": {
        "DeviceStatusEnum": "devices.choices.DeviceStatus",
        "AccountStatusEnum": "devices.choices.AccountStatus",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "config.schema.document_generic_failures",
    ],
}

# X-Request-ID: taken from a trusted proxy when it is a UUID (config.middleware), generated otherwise.
DJANGO_GUID = {
    "GUID_HEADER_NAME": "X-Request-ID",
    "VALIDATE_GUID": True,
    "RETURN_HEADER": True,
    "EXPOSE_HEADER": True,
}

CONSTANCE_BACKEND = "constance.backends.database.DatabaseBackend"
# Staff see the runtime configuration with constance's view_config permission and change it with change_config,
# as every other model's page (constance's default is superusers alone).
CONSTANCE_SUPERUSER_ONLY = False
CONSTANCE_CONFIG = {
    "DEVICE_MANAGEMENT": (
        True,
        "Enforce device bans in the client device registry. Off: bans are only reported.",
        bool,
    ),
}
# Keys of CONSTANCE_CONFIG published by GET /api/base/configs, with their wire names.
PUBLIC_CLIENT_CONFIG = {"device_management": "DEVICE_MANAGEMENT"}

# A verified API key is remembered this long (0: never); revoking it forgets it.
API_KEY_CACHE_SECONDS = env.int("API_KEY_CACHE_SECONDS", default=60)

# Lifecycle: how long the transient states last.
DEVICE_INITIALIZATION_SECONDS = env.int("DEVICE_INITIALIZATION_SECONDS", default=0)
DEVICE_DEACTIVATION_SECONDS = env.int("DEVICE_DEACTIVATION_SECONDS", default=300)

# Licensing: bearer tokens of the login endpoint (signed with this secret, valid this long).
LICENSING_JWT_SECRET = env("LICENSING_JWT_SECRET", default="") or SECRET_KEY
LICENSING_TOKEN_SECONDS = env.int("LICENSING_TOKEN_SECONDS", default=24 * 60 * 60)

# VoIP softswitch (MOR) API: the secret that signs requests, GET allowed or not, new devices' defaults.
MOR_API_SECRET_KEY = env("MOR_API_SECRET_KEY", default="")
MOR_API_ALLOW_GET = env.bool("MOR_API_ALLOW_GET", default=False)
MOR_PIN_LENGTH = env.int("MOR_PIN_LENGTH", default=6)
MOR_DEFAULT_DEVICE_TYPE = env("MOR_DEFAULT_DEVICE_TYPE", default="SIP")
# The addresses (or networks, 192.0.2.0/24) the MOR API answers, as the client's ip is found (TRUSTED_PROXIES);
# empty: every address. Anyone else gets <error>IP address not allowed</error> before the hash is checked.
MOR_API_ALLOWED_IPS = mor_api_allowed_ips(env.list("MOR_API_ALLOWED_IPS", default=[]))

# Webhooks (deliver_webhooks): each delivery's time in all; retries after BASE seconds, doubling up to MAX, for
# RETRY_FOR seconds, then it is marked failed. URLs of private, loopback or link-local addresses are refused unless
# allowed (a receiver on the service's own network).
WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", default=10)
WEBHOOK_RETRY_BASE_SECONDS = env.float("WEBHOOK_RETRY_BASE_SECONDS", default=5)
WEBHOOK_RETRY_MAX_SECONDS = env.float("WEBHOOK_RETRY_MAX_SECONDS", default=60 * 60)
WEBHOOK_RETRY_FOR_SECONDS = env.float("WEBHOOK_RETRY_FOR_SECONDS", default=24 * 60 * 60)
WEBHOOK_POLL_SECONDS = env.float("WEBHOOK_POLL_SECONDS", default=1)
WEBHOOK_ALLOW_PRIVATE_URLS = env.bool("WEBHOOK_ALLOW_PRIVATE_URLS", default=False)
# Webhooks at most: each event is written once per webhook subscribed to it, in the transaction of the change.
WEBHOOK_MAX_COUNT = env.int("WEBHOOK_MAX_COUNT", default=20)

# Requests per client ip, each public protocol its own budget (THROTTLE_PUBLIC_RATE: the default of all three), and
# per API key (billing); then failures, limited apart from the requests: wrong licensing passwords per login and
# per ip, unknown license keys (serial numbers can be guessed) per ip. Empty: no limit.
_PUBLIC_RATE = env("THROTTLE_PUBLIC_RATE", default="600/min")
THROTTLE_RATES = {
    "registry": env("THROTTLE_REGISTRY_RATE", default=_PUBLIC_RATE) or None,
    "licensing": env("THROTTLE_LICENSING_RATE", default=_PUBLIC_RATE) or None,
    "mor": env("THROTTLE_MOR_RATE", default=_PUBLIC_RATE) or None,
    "billing": env("THROTTLE_BILLING_RATE", default="6000/min") or None,
    "manage": env("THROTTLE_MANAGE_RATE", default="600/min") or None,
    "login_failures": env("THROTTLE_LOGIN_FAILURE_RATE", default="10/hour") or None,
    "login_failures_ip": env("THROTTLE_LOGIN_FAILURE_IP_RATE", default="30/min") or None,
    "license_lookup_failures": env("THROTTLE_LICENSE_LOOKUP_FAILURE_RATE", default="10/min") or None,
}

# Proxies whose X-Forwarded-For is believed when finding a client's ip.
TRUSTED_PROXIES = trusted_proxies(env.list("TRUSTED_PROXIES", default=[]))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "django_guid.log_filters.CorrelationId"}},
    "formatters": {
        "default": {
            "format": "%(asctime)s %(levelname)s [%(correlation_id)s] %(name)s: %(message)s",
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "default",
            "filters": ["request_id"],
        },
    },
    "root": {"handlers": ["console"], "level": env("DJANGO_LOG_LEVEL", default="INFO")},
    "loggers": {
        "django_guid": {"level": "WARNING"},
        # Each webhook delivery's URL (which may carry the receiver's token): deliver_webhooks says what failed.
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
    },
}
