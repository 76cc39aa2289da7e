"""Django settings, read from the environment (12-factor) with safe local defaults.

Every variable is listed in ``.env.example`` and the README's configuration table.
In Lambda (``AWS_LAMBDA_FUNCTION_NAME`` is set) DEBUG defaults to off; with DEBUG off
a missing ``DJANGO_SECRET_KEY`` stops start-up with a clear message.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Mapping
from pathlib import Path

import dj_database_url
from corsheaders.defaults import default_headers
from django.core.exceptions import ImproperlyConfigured

from pipeline.core.constants import ADMIN_DB_KEY, MAX_RECEIVE_COUNT
from pipeline.core.names import resource_names
from twl_site.env import env_bool, env_int, env_list, env_list_or_none, env_str, source_bounds

BASE_DIR = Path(__file__).resolve().parent.parent
VERSION = "0.1.0"

IN_LAMBDA = bool(env_str("AWS_LAMBDA_FUNCTION_NAME"))
DEBUG = env_bool("DJANGO_DEBUG", default=not IN_LAMBDA)

SECRET_KEY = env_str("DJANGO_SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is not set. It is required when DEBUG is off "
            "(production). Set it in the environment, e.g. in zappa_settings.json "
            "'environment_variables' or an AWS secret."
        )
    SECRET_KEY = "insecure-local-development-key-do-not-use-in-production"

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "corsheaders",
    "csp",
    "rest_framework",
    # Its abstract key model and hashing; our ApiKey (pipeline.models) is the table used.
    "rest_framework_api_key",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "pipeline",
    "records_api",
]

MIDDLEWARE = [
    # First, so its X-Ray subsegment holds every other middleware's work (TWL_TRACING;
    # off, Django drops it at start-up).
    "records_api.tracing.TracingMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Content-Security-Policy and Permissions-Policy on every response (pages, API, admin).
    "csp.middleware.CSPMiddleware",
    "django_permissions_policy.PermissionsPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    # Pages, admin and /api/health per client (DRF throttles the rest of the API).
    "records_api.throttling.ThrottleMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # After authentication: an answer that depends on the reader is never shared-cached.
    "records_api.middleware.PrivateAnswersMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "records_api.middleware.ApiLatencyMiddleware",
    # Innermost: saves the admin's S3-hosted database after the view, before any response
    # leaves; a lost race is a 409 page (records_api/admin_data.py).
    "records_api.admin_data.AdminDataMiddleware",
]

ROOT_URLCONF = "twl_site.urls"
WSGI_APPLICATION = "twl_site.wsgi.application"

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

# The admin's own tables (operators, groups, permissions, the admin log): DATABASE_URL
# when set (PostgreSQL, e.g. postgres://user:pass@host:5432/twl); else TWL_ADMIN_DB:
# "s3", one SQLite file in the stage's raw bucket at TWL_ADMIN_DB_KEY (no server, no
# VPC; the default in Lambda; docs/DEPLOY.md, "The admin's own data"), or "file", a
# local SQLite file at TWL_SQLITE_PATH (the default elsewhere).
TWL_ADMIN_DB = env_str("TWL_ADMIN_DB").strip().lower() or ("s3" if IN_LAMBDA else "file")
TWL_ADMIN_DB_KEY = env_str("TWL_ADMIN_DB_KEY").strip() or ADMIN_DB_KEY
DATABASES: dict[str, Mapping[str, object]]
if env_str("DATABASE_URL"):
    DATABASES = {"default": dj_database_url.parse(env_str("DATABASE_URL"), conn_max_age=60)}
elif TWL_ADMIN_DB == "s3":
    # A new connection per request (CONN_MAX_AGE 0): each one starts with S3's current
    # version (one conditional GET), and a request that never queries pays nothing.
    DATABASES = {
        "default": {
            "ENGINE": "pipeline.stores.s3sqlite",
            "KEY": TWL_ADMIN_DB_KEY,
            "NAME": "",
            "CONN_MAX_AGE": 0,
        }
    }
elif TWL_ADMIN_DB == "file":
    DATABASES = {
        "default": dj_database_url.parse(
            f"sqlite:///{env_str('TWL_SQLITE_PATH', str(BASE_DIR / 'db.sqlite3'))}",
            conn_max_age=60,
        )
    }
else:
    raise ImproperlyConfigured(f"TWL_ADMIN_DB is {TWL_ADMIN_DB!r}; use 's3' or 'file'.")
# Sessions ride in a signed cookie: they work across Lambda instances with no session table.
SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"
SESSION_COOKIE_HTTPONLY = True

# --- HTTPS behind API Gateway --------------------------------------------------------
# API Gateway terminates TLS and says so in X-Forwarded-Proto.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("TWL_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SECURE_HSTS_SECONDS = env_int("TWL_HSTS_SECONDS", 0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("TWL_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env_bool("TWL_HSTS_PRELOAD", default=True)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# --- Content-Security-Policy (django-csp 4) and Permissions-Policy -------------------
# Everything from this origin, nothing inline: templates load their scripts and styles
# from static files (tests/api/test_headers.py checks no template has inline ones).
# data: images are Swagger UI's icons, drawn by its stylesheet.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}
# No page uses a device or a powerful feature; the records page's Copy button writes to
# the clipboard from this origin only.
PERMISSIONS_POLICY: dict[str, list[str]] = {
    "accelerometer": [],
    "autoplay": [],
    "browsing-topics": [],
    "camera": [],
    "clipboard-read": [],
    "clipboard-write": ["self"],
    "display-capture": [],
    "encrypted-media": [],
    "fullscreen": [],
    "geolocation": [],
    "gyroscope": [],
    "hid": [],
    "idle-detection": [],
    "magnetometer": [],
    "microphone": [],
    "midi": [],
    "payment": [],
    "publickey-credentials-get": [],
    "screen-wake-lock": [],
    "serial": [],
    "usb": [],
    "xr-spatial-tracking": [],
}
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
# Behind API Gateway's default URL every path starts with the stage (/dev, /prod).
# Zappa passes it as SCRIPT_NAME per request, but Django fixes STATIC_URL's prefix the
# first time it is read (at start-up, before any request), so the prefix is configured.
# Leave it empty behind a custom domain.
FORCE_SCRIPT_NAME = env_str("TWL_SCRIPT_NAME").rstrip("/") or None
STATIC_URL = f"{FORCE_SCRIPT_NAME or ''}/static/"
# Cookies stay below the prefix, so two stages on one host never read each other's.
SESSION_COOKIE_PATH = CSRF_COOKIE_PATH = FORCE_SCRIPT_NAME or "/"
# URL names, not paths: reversed under the prefix. The operators' sign-in is the admin's.
LOGIN_URL = "admin:login"
LOGIN_REDIRECT_URL = "admin:index"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
# whitenoise serves static files from the app itself (Lambda has no web server in front):
# in production the files collected into STATIC_ROOT at package time (hashed names,
# compressed); with DEBUG on straight from the finders, no collectstatic needed.
WHITENOISE_USE_FINDERS = DEBUG
# Locally nothing is collected; whitenoise would warn about the empty STATIC_ROOT.
warnings.filterwarnings("ignore", message="No directory at: .*staticfiles")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
# collectstatic keeps each file under its hashed name only (and its .gz, which whitenoise
# sends a client that accepts gzip), not under its original name too: pages name only
# the hashed files ({% static %} reads the manifest). This halves the package's static
# files; why each cut is safe: docs/DEPLOY.md, "The package".
WHITENOISE_KEEP_ONLY_HASHED_FILES = True

# --- API ------------------------------------------------------------------------
# Who may read (docs/ACCESS.md): "public", anyone may read the data endpoints (the
# default with DEBUG on: make run, tests); "key", only a valid API key or a signed-in
# staff user may (the default with DEBUG off; the deployed stages set it). In both,
# only the personal-data scope (or staff) receives the fields a source declares personal.
TWL_API_ACCESS = env_str("TWL_API_ACCESS").strip().lower() or ("public" if DEBUG else "key")
if TWL_API_ACCESS not in ("public", "key"):
    raise ImproperlyConfigured(f"TWL_API_ACCESS is {TWL_API_ACCESS!r}; use 'public' or 'key'.")
# Most records one CSV/NDJSON export of /api/records sends (records_api/exports.py). Zappa
# buffers the whole body and Lambda answers at most 6 MB: 2,000 of the largest records
# (RandomUser people, read with the personal scope) are under 3.9 MB in every form.
TWL_EXPORT_MAX_RECORDS = env_int("TWL_EXPORT_MAX_RECORDS", 2000)
if TWL_EXPORT_MAX_RECORDS < 1:
    raise ImproperlyConfigured("TWL_EXPORT_MAX_RECORDS must be at least 1.")
# Read-only: an API key (X-Api-Key or Authorization: Api-Key), else a staff session.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # First: its challenge (WWW-Authenticate: Api-Key) is the one a 401 carries.
        "records_api.access.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["records_api.access.ApiAccessPolicy"],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        # The browsable API, never pretty-printing more than a bounded page.
        "records_api.renderers.BoundedBrowsableAPIRenderer",
    ],
    # drf-spectacular's, with security following TWL_API_ACCESS (records_api/schema.py).
    "DEFAULT_SCHEMA_CLASS": "records_api.schema.AccessAutoSchema",
    "EXCEPTION_HANDLER": "records_api.errors.api_exception_handler",
    # Counted in the ledger table (shared by every Lambda instance), keyed on the address
    # API Gateway reports, never on X-Forwarded-For: records_api/throttling.py.
    # A request with a key is counted per key (the key's own rate, else TWL_API_KEY_RATE),
    # one without per client address.
    "DEFAULT_THROTTLE_CLASSES": [
        "records_api.throttling.SharedAnonRateThrottle",
        "records_api.access.ApiKeyRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env_str("TWL_API_ANON_RATE", "600/minute") or None,
        "apikey": env_str("TWL_API_KEY_RATE", "1200/minute") or None,
    },
    # Any DRF default ident is the TCP peer (REMOTE_ADDR), never a client-set header.
    "NUM_PROXIES": 0,
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "TWL Pipeline API",
    "DESCRIPTION": "Curated records, analytics, ingestion runs and health of the TWL Pipeline.",
    "VERSION": VERSION,
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI and ReDoc from the sidecar package: served locally, no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # The schema's server is the script prefix (/dev), so the docs' "Try it out" calls it.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "records_api.docs.servers_at_script_prefix",
    ],
}

# Per-client rates outside DRF (same syntax; empty disables): pages and the admin, and
# /api/health, whose higher rate keeps uptime probes working.
TWL_PAGE_RATE = env_str("TWL_PAGE_RATE", "300/minute")
TWL_HEALTH_RATE = env_str("TWL_HEALTH_RATE", "1200/minute")

# CORS: by default any origin may read the API (GET only); set a comma list to restrict.
_CORS_ORIGINS = env_list("TWL_CORS_ALLOWED_ORIGINS", ["*"])
CORS_ALLOW_ALL_ORIGINS = _CORS_ORIGINS == ["*"]
CORS_ALLOWED_ORIGINS = [] if CORS_ALLOW_ALL_ORIGINS else _CORS_ORIGINS
CORS_ALLOW_METHODS = ["GET", "HEAD", "OPTIONS"]
# The seed's frontend sends its key as x-api-key (and Content-Type: application/json).
CORS_ALLOW_HEADERS = (*default_headers, "x-api-key")
CORS_EXPOSE_HEADERS = ["Retry-After", "Content-Disposition", "X-Export-Total"]
CORS_EXPOSE_HEADERS += ["X-Export-Limit", "X-Export-Truncated"]
CORS_URLS_REGEX = r"^/api/.*$"

# A source whose last successful ingest is older than this makes /api/health 503.
TWL_STALE_AFTER_SECONDS = env_int("TWL_STALE_AFTER_SECONDS", 900)

# The stack (manage.py provision, docs/DEPLOY.md): where alarms are e-mailed (empty: the
# SNS topic only), when raw objects move to a cheaper storage class, and how long the
# oldest queued message may wait before its alarm fires. The feed-stale alarms use
# TWL_STALE_AFTER_SECONDS above.
TWL_ALARM_EMAIL = env_str("TWL_ALARM_EMAIL", "")
TWL_RAW_ARCHIVE_AFTER_DAYS = env_int("TWL_RAW_ARCHIVE_AFTER_DAYS", 90)
TWL_ALARM_QUEUE_AGE_SECONDS = env_int("TWL_ALARM_QUEUE_AGE_SECONDS", 900)

# --- The pipeline ---------------------------------------------------------------
# Resource names follow one rule (pipeline/core/names.py): twl-pipeline-<role>-<stage>,
# each data resource overridable with its TWL_* variable.
TWL_STAGE = env_str("TWL_STAGE", "local")
_NAMES = resource_names(TWL_STAGE, os.environ)
TWL_RAW_BUCKET = _NAMES.raw_bucket
TWL_QUEUE_NAME = _NAMES.queue
TWL_DLQ_NAME = _NAMES.dlq
TWL_CURATED_TABLE = _NAMES.curated_table
TWL_LEDGER_TABLE = _NAMES.ledger_table

# AWS: one endpoint setting points every client at an emulator (moto) when set.
AWS_ENDPOINT_URL = env_str("AWS_ENDPOINT_URL") or None
AWS_REGION = env_str("AWS_REGION", env_str("AWS_DEFAULT_REGION", "us-east-1"))

# In Lambda the web function's role only reads data: the admin's jobs that write
# (Ingest now, Replay, DLQ redrive/delete) are handed to the worker function,
# asynchronously. Elsewhere (make run, tests) they run inline.
TWL_JOBS_ON_WORKER = env_bool("TWL_JOBS_ON_WORKER", default=IN_LAMBDA)

# Processing function's timeout (seconds); the queue's visibility timeout is 6x it.
TWL_WORKER_TIMEOUT_SECONDS = env_int("TWL_WORKER_TIMEOUT_SECONDS", 60)
TWL_MAX_RECEIVE_COUNT = MAX_RECEIVE_COUNT

# Sources: each fetches from its own public API unless TWL_<SOURCE>_BASE_URL names
# another base URL (the local stack points them at the sandbox this way).
TWL_SOURCE_BASE_URLS = {
    match[1].lower(): value
    for name, value in os.environ.items()
    if (match := re.fullmatch(r"TWL_([A-Z][A-Z0-9_]*)_BASE_URL", name)) and value
}
TWL_RANDOMUSER_RESULTS = env_int("TWL_RANDOMUSER_RESULTS", 25)
# Unset: every registered source. A comma list restricts the scheduled ingest.
TWL_ENABLED_SOURCES = env_list_or_none("TWL_ENABLED_SOURCES")
# Declared sources (docs/SOURCES.md): per-run bounds (TWL_SOURCE_MAX_PAGES, …_RECORDS,
# …_BYTES, …_SECONDS), and loopback addresses, allowed only with DEBUG on (the local stack).
TWL_SOURCE_BOUNDS = source_bounds(os.environ)
TWL_SOURCES_ALLOW_LOOPBACK = env_bool("TWL_SOURCES_ALLOW_LOOPBACK", default=DEBUG)
TWL_HTTP_CONNECT_TIMEOUT = float(env_str("TWL_HTTP_CONNECT_TIMEOUT", "3.05"))
TWL_HTTP_READ_TIMEOUT = float(env_str("TWL_HTTP_READ_TIMEOUT", "15"))
TWL_HTTP_RETRIES = env_int("TWL_HTTP_RETRIES", 3)
# Longest Retry-After the fetcher honours; keeps a 5-minute job failing fast.
TWL_HTTP_RETRY_AFTER_MAX = env_int("TWL_HTTP_RETRY_AFTER_MAX", 10)

# Structured JSON logs by default; TWL_LOG_FORMAT=plain for a human-friendly console.
TWL_LOG_FORMAT = env_str("TWL_LOG_FORMAT", "json")
# CloudWatch Embedded Metric Format lines on stdout.
TWL_METRICS_ENABLED = env_bool("TWL_METRICS_ENABLED", default=True)
# X-Ray tracing (pipeline/core/tracing.py). On by default only in Lambda's runtime
# (LAMBDA_TASK_ROOT, set by Lambda itself: where the X-Ray SDK finds the invocation's
# segment); off locally and in tests, where nothing of X-Ray is imported.
TWL_TRACING = env_bool("TWL_TRACING", default=bool(os.environ.get("LAMBDA_TASK_ROOT")))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "pipeline.core.logs.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain" if TWL_LOG_FORMAT == "plain" else "json",
        }
    },
    "root": {"handlers": ["console"], "level": env_str("TWL_LOG_LEVEL", "INFO")},
    "loggers": {
        "botocore": {"level": "WARNING"},
        "urllib3": {"level": "WARNING"},
        # X-Ray says "successfully patched module …" at each cold start.
        "aws_xray_sdk": {"level": "WARNING"},
        # moto's server logs every request; the local stack prints its own summary.
        "werkzeug": {"level": "WARNING"},
    },
}
