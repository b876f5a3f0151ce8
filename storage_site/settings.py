"""Stratus settings: everything comes from the environment (the README lists every variable).

With nothing set, the server runs on the embedded default: SQLite and files under
DATA_DIR, Celery tasks in process, WhatsApp messages to the console.
"""

import os
import secrets
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env")

# Off unless asked for (`make dev` sets DEBUG=true): the debug page shows settings and the environment.
DEBUG = env.bool("DEBUG", default=False)
DATA_DIR = Path(env("DATA_DIR", default=str(BASE_DIR / "var"))).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)


def _dev_secret_key() -> str:
    """A key generated once per DATA_DIR, so tokens survive a restart (set SECRET_KEY
    when several machines must share it)."""
    path = DATA_DIR / ".secret_key"
    if not path.exists():  # processes starting together: the first link wins, all read the same key
        draft = DATA_DIR / f".secret_key.{os.getpid()}"
        draft.write_text(secrets.token_urlsafe(50))
        draft.chmod(0o600)
        try:
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return path.read_text().strip()


SECRET_KEY = env("SECRET_KEY", default="") or _dev_secret_key()

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "storages",
    "storage_site.core",
    "accounts",
    "folders",
    "files",
    "backups",
    "previews",
    "billing",
    "storage_site.dashboards",
    "web",
    "dav",
    "nextcloud",
]

MIDDLEWARE = [
    "storage_site.core.middleware.RequestIdMiddleware",  # first: every later line has the id
    "storage_site.core.middleware.AllowedHostMiddleware",  # never the debug page for an unknown Host
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",  # the admin's static files under gunicorn (collectstatic)
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "storage_site.core.middleware.InputCheckMiddleware",  # before any view: docs/input.md
]

ROOT_URLCONF = "storage_site.urls"
WSGI_APPLICATION = "storage_site.wsgi.application"
ASGI_APPLICATION = "storage_site.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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

# --- Database -----------------------------------------------------------------
# No ATOMIC_REQUESTS: it would hold a transaction open while bytes stream.
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'db.sqlite3'}")}
# Keep connections between requests (a fresh PostgreSQL backend per request costs ~10 %).
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DB_CONN_MAX_AGE", default=60))
DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several writers at once (gunicorn's workers and threads, the Celery worker): WAL lets
    # readers go on while one writes; IMMEDIATE takes the write lock when a transaction
    # begins, where a deferred one that reads first fails at once with "database is locked"
    # when it tries to write; the timeout is how long a writer waits for the lock (seconds).
    DATABASES["default"].setdefault("OPTIONS", {}).update({
        "timeout": env.int("SQLITE_BUSY_TIMEOUT", default=20),
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL",
    })
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

AUTHENTICATION_BACKENDS = ["accounts.backends.EmailOrUsernameBackend"]

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
STATIC_ROOT = DATA_DIR / "static"

# --- Storage ------------------------------------------------------------------
STORAGE_BACKEND = env("STORAGE_BACKEND", default="local")
if STORAGE_BACKEND == "s3":
    from boto3.s3.transfer import TransferConfig
    from botocore.config import Config

    _default_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "endpoint_url": env("AWS_S3_ENDPOINT_URL", default=None),
            "access_key": env("AWS_ACCESS_KEY_ID", default=None),
            "secret_key": env("AWS_SECRET_ACCESS_KEY", default=None),
            "bucket_name": env("AWS_STORAGE_BUCKET_NAME", default="stratus"),
            "region_name": env("AWS_S3_REGION_NAME", default="us-east-1"),
            "file_overwrite": False,
            "default_acl": "private",
            "querystring_auth": True,
            # Given whole, client_config replaces the addressing_style/signature_version options.
            # The body is not SHA-256-signed (one hash pass less per byte written: the server
            # already hashes every byte for its content address); botocore's default CRC32
            # checksum header still lets S3 refuse a corrupted part or object.
            "client_config": Config(signature_version="s3v4", s3={"addressing_style": "path",
                                                                   "payload_signing_enabled": False}),
            # 8 MiB parts, at most 4 in flight: fast, and memory stays flat.
            "transfer_config": TransferConfig(multipart_threshold=8 * 1024**2, multipart_chunksize=8 * 1024**2,
                                              max_concurrency=4),
        },
    }
elif STORAGE_BACKEND == "local":
    _default_storage = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(DATA_DIR / "media")},
    }
else:
    raise ImproperlyConfigured("STORAGE_BACKEND must be 'local' or 's3'.")
STORAGES = {
    "default": _default_storage,
    # collectstatic writes a gzip copy of each file beside it; WhiteNoise sends it to browsers that accept it.
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# --- Cache (throttles, OTP counters) -----------------------------------------
REDIS_URL = env("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    # Files under DATA_DIR, shared by every process of this machine (gunicorn's workers, Celery):
    # a per-process memory cache would let each worker count throttles alone.
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
                          "LOCATION": str(DATA_DIR / "cache"),
                          # Past this, random entries go (a throttle's count with them); each write lists the folder.
                          "OPTIONS": {"MAX_ENTRIES": 10_000}}}

# --- Celery -------------------------------------------------------------------
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="")
# No broker: run tasks in process (the embedded default).
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 30 * 60
CELERY_TASK_SOFT_TIME_LIMIT = 25 * 60
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# --- REST framework, JWT, schema ----------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["accounts.authentication.SessionJWTAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": [
        "storage_site.core.parsers.JSONParser",  # the input rules: docs/input.md
        "storage_site.core.parsers.FormParser",
        "storage_site.core.parsers.MultiPartParser",
    ],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "storage_site.core.exceptions.exception_handler",
    "DEFAULT_THROTTLE_RATES": {
        # Per client IP, on every sign-in endpoint.
        "otp_request": env("THROTTLE_OTP_REQUEST", default="10/min"),
        "otp_verify": env("THROTTLE_OTP_VERIFY", default="20/min"),
        "password_login": env("THROTTLE_PASSWORD_LOGIN", default="20/min"),
        "token_refresh": env("THROTTLE_TOKEN_REFRESH", default="60/min"),
        "register": env("THROTTLE_REGISTER", default="10/min"),
        "share_password": env("THROTTLE_SHARE_PASSWORD", default="10/min"),
    },
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    # Trusted reverse proxies in front of the server; 0 = use the peer address, so
    # a client cannot dodge per-IP throttles with a forged X-Forwarded-For.
    "NUM_PROXIES": env.int("NUM_PROXIES", default=0),
}

ACCESS_TOKEN_LIFETIME = timedelta(hours=24)
SESSION_LIFETIME = timedelta(days=env.int("SESSION_LIFETIME_DAYS", default=30))
SIMPLE_JWT = {
    "ALGORITHM": "HS256",
    "SIGNING_KEY": env("JWT_SIGNING_KEY", default=SECRET_KEY),
    "ACCESS_TOKEN_LIFETIME": ACCESS_TOKEN_LIFETIME,
    "REFRESH_TOKEN_LIFETIME": SESSION_LIFETIME,
    "USER_ID_FIELD": "uuid",
    "USER_ID_CLAIM": "user_id",
    "AUTH_HEADER_TYPES": ("Bearer",),
    "UPDATE_LAST_LOGIN": False,
    "LEEWAY": 0,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Stratus API",
    "DESCRIPTION": (
        "Self-hosted, S3-native cloud storage. One domain served through four client APIs: "
        "LayoodStorage (`/api/...`, the primary API), MegaVault mobile (`/api/mobile/...`), "
        "StreamVault (`/storage/api/v3|v5/`, `/api/v4/`) and FileAgo (`/auth`, `/api/nodes/...`).\n\n"
        "Primary API answers `{\"success\": true, \"data\": ...}`; errors are "
        "`{\"success\": false, \"error\": {\"code\", \"message\"}}`. Sign-in endpoints are throttled "
        "per client IP (429 with `Retry-After`)."
    ),
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "UploadConflictEnum": ["version", "rename", "error"],
        "ConflictEnum": ["rename", "error"],
    },
}

# --- Accounts -----------------------------------------------------------------
DEFAULT_STORAGE_QUOTA = env.int("DEFAULT_STORAGE_QUOTA", default=5 * 1024**3)
OTP_TTL = timedelta(minutes=5)
OTP_MAX_ATTEMPTS = 5  # wrong codes before a challenge locks
OTP_MAX_FAILURES_PER_HOUR = 100  # per phone, whatever the source address
OTP_RESEND_INTERVAL = timedelta(seconds=30)
OTP_MAX_SENDS_PER_HOUR = 6  # the first code and five resends

WHATSAPP_BACKEND = env("WHATSAPP_BACKEND", default="console")
WHATSAPP_FILE_PATH = env("WHATSAPP_FILE_PATH", default=str(DATA_DIR / "whatsapp.jsonl"))
AISENSY_API_URL = env("AISENSY_API_URL", default="https://backend.aisensy.com/campaign/t1/api/v2")
AISENSY_API_KEY = env("AISENSY_API_KEY", default="")
AISENSY_CAMPAIGN_NAME = env("AISENSY_CAMPAIGN_NAME", default="stratus_otp")
AISENSY_USER_NAME = env("AISENSY_USER_NAME", default="Stratus")
AISENSY_TIMEOUT = env.float("AISENSY_TIMEOUT", default=10.0)

# Logs: one JSON object per line (LOG_FORMAT=json, the default when DEBUG is off) or
# readable text; every line carries the request id (storage_site/core/logging.py).
LOG_FORMAT = env("LOG_FORMAT", default="text" if DEBUG else "json")
if LOG_FORMAT not in ("json", "text"):
    raise ImproperlyConfigured("LOG_FORMAT must be 'json' or 'text'.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "storage_site.core.logging.RequestIdFilter"}},
    "formatters": {
        "json": {"()": "storage_site.core.logging.JsonFormatter"},
        "text": {"format": "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "filters": ["request_id"], "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    # Django's own request logger repeats what the access line says.
    "loggers": {"django.request": {"level": "ERROR"}},
}

if not DEBUG:
    SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=True)
    CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=True)
    SECURE_CONTENT_TYPE_NOSNIFF = True

# --- Files --------------------------------------------------------------------
UPLOAD_MAX_SIZE = env.int("UPLOAD_MAX_SIZE", default=100 * 1024**2)  # POST /api/files/upload
FILE_UPLOAD_TEMP_DIR = str(DATA_DIR / "tmp")
Path(FILE_UPLOAD_TEMP_DIR).mkdir(parents=True, exist_ok=True)
TRASH_RETENTION_DAYS = env.int("TRASH_RETENTION_DAYS", default=30)
VERSION_KEEP_MAX = env.int("VERSION_KEEP_MAX", default=20)  # per file, 0 = no limit
VERSION_KEEP_DAYS = env.int("VERSION_KEEP_DAYS", default=0)  # 0 = keep regardless of age

# Chunked uploads (files/services/upload_sessions.py)
UPLOAD_SESSION_TTL_DAYS = env.int("UPLOAD_SESSION_TTL_DAYS", default=7)  # extended by every part
UPLOAD_SESSION_MAX_SIZE = env.int("UPLOAD_SESSION_MAX_SIZE", default=5 * 1024**4)  # S3's object limit
# Uploads up to this size are assembled in the `complete` request; bigger ones by a worker.
UPLOAD_ASSEMBLE_INLINE_MAX = env.int("UPLOAD_ASSEMBLE_INLINE_MAX", default=64 * 1024**2)
UPLOAD_ASSEMBLY_STALE_SECONDS = env.int("UPLOAD_ASSEMBLY_STALE_SECONDS", default=120)
UPLOAD_PRESIGNED_URL_SECONDS = env.int("UPLOAD_PRESIGNED_URL_SECONDS", default=24 * 3600)
UPLOAD_CHUNK_MAX_SIZE = env.int("UPLOAD_CHUNK_MAX_SIZE", default=512 * 1024**2)  # one chunk request
# A request's quota hold (accounts/quota.py): renewed while its bytes flow; once the lease has run
# out (the process died) the sweep gives the bytes back.
QUOTA_HOLD_LEASE_SECONDS = env.int("QUOTA_HOLD_LEASE_SECONDS", default=300)

FILEAGO_UPLOAD_TOKEN_SECONDS = env.int("FILEAGO_UPLOAD_TOKEN_SECONDS", default=5)

CELERY_BEAT_SCHEDULE = {
    "purge-expired-trash": {"task": "files.tasks.trash_purge_expired_task", "schedule": 3600.0},
    "prune-versions": {"task": "files.tasks.versions_prune_task", "schedule": 6 * 3600.0},
    "collect-blobs": {"task": "files.tasks.blobs_collect_task", "schedule": 3600.0},
    "expire-uploads": {"task": "files.tasks.uploads_expire_task", "schedule": 3600.0},
    "resume-assemblies": {"task": "files.tasks.uploads_resume_task", "schedule": 60.0},
    "expire-quota-holds": {"task": "accounts.tasks.quota_holds_expire_task", "schedule": 60.0},
}

# --- Backups, devices, mobile sync and push (backups app; files/services/sync.py) ----
# Access tokens of MegaVault sign-ins (sessions stay server-side and revocable).
MOBILE_ACCESS_TOKEN_LIFETIME = timedelta(days=env.int("MOBILE_ACCESS_TOKEN_DAYS", default=7))
BACKUP_FOLDER_NAME = env("BACKUP_FOLDER_NAME", default="Backups")  # under home: Backups/<device name>/
BACKUP_SESSION_IDLE_HOURS = env.int("BACKUP_SESSION_IDLE_HOURS", default=24)  # then the session expires
BACKUP_CHUNK_SIZE = env.int("BACKUP_CHUNK_SIZE", default=8 * 1024**2)  # chunked backup of big files
BACKUP_CHECK_MAX_ITEMS = env.int("BACKUP_CHECK_MAX_ITEMS", default=5000)
CONTACTS_MAX_SIZE = env.int("CONTACTS_MAX_SIZE", default=10 * 1024**2)
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["backup"] = env("THROTTLE_BACKUP", default="1200/min")  # per user

PUSH_BACKEND = env("PUSH_BACKEND", default="console")  # console, file, fcm
PUSH_FILE_PATH = env("PUSH_FILE_PATH", default=str(DATA_DIR / "push.jsonl"))
PUSH_STORAGE_ALERT_PERCENT = env.int("PUSH_STORAGE_ALERT_PERCENT", default=90)
FCM_PROJECT_ID = env("FCM_PROJECT_ID", default="")
FCM_CREDENTIALS_FILE = env("FCM_CREDENTIALS_FILE", default="")  # a Google service-account JSON key
FCM_TIMEOUT = env.float("FCM_TIMEOUT", default=10.0)

CELERY_BEAT_SCHEDULE["push-release-held"] = {"task": "backups.tasks.push_release_held_task", "schedule": 60.0}
CELERY_BEAT_SCHEDULE["expire-backup-sessions"] = {"task": "backups.tasks.backup_sessions_expire_task",
                                                  "schedule": 3600.0}

# --- Previews (previews app) ----------------------------------------------------------
PREVIEW_AUTO_GENERATE = env.bool("PREVIEW_AUTO_GENERATE", default=True)  # queue previews of every new file
PREVIEW_THUMBNAIL_SIZE = env.int("PREVIEW_THUMBNAIL_SIZE", default=256)  # longest side, px
PREVIEW_MEDIUM_SIZE = env.int("PREVIEW_MEDIUM_SIZE", default=1024)
PREVIEW_FORMAT = env("PREVIEW_FORMAT", default="webp")  # webp or jpeg
if PREVIEW_FORMAT not in ("webp", "jpeg"):
    raise ImproperlyConfigured("PREVIEW_FORMAT must be 'webp' or 'jpeg'.")
PREVIEW_QUALITY = env.int("PREVIEW_QUALITY", default=80)
PREVIEW_TASK_SOFT_TIME_LIMIT = env.int("PREVIEW_TASK_SOFT_TIME_LIMIT", default=120)  # s; then FAILED
PREVIEW_TASK_TIME_LIMIT = env.int("PREVIEW_TASK_TIME_LIMIT", default=180)  # s; a prefork child is killed
# A Celery queue of their own; empty = the default queue. The stack sets `previews`, which its
# previews worker consumes (deploy/previews.sh: one process, a threads pool).
PREVIEW_QUEUE = env("PREVIEW_QUEUE", default="")
PREVIEW_REQUEUE_AFTER = env.int("PREVIEW_REQUEUE_AFTER", default=3600)  # s a preview may wait before a re-send
# Decoded pixels per image (a JPEG counts at its reduced-scale decode); more is `failed`. Pillow holds
# up to 4 bytes a pixel: 50 megapixels is at most 200 MB decoded per preview.
PREVIEW_MAX_PIXELS = env.int("PREVIEW_MAX_PIXELS", default=50_000_000)
CELERY_BEAT_SCHEDULE["sweep-previews"] = {"task": "previews.tasks.previews_sweep_task", "schedule": 600.0}

# --- Billing (billing app) ------------------------------------------------------------
# Without both Razorpay keys the offline gateway serves orders (billing/gateways.py).
RAZORPAY_KEY_ID = env("RAZORPAY_KEY_ID", default="")
RAZORPAY_KEY_SECRET = env("RAZORPAY_KEY_SECRET", default="")
RAZORPAY_WEBHOOK_SECRET = env("RAZORPAY_WEBHOOK_SECRET", default="")
RAZORPAY_TIMEOUT = env.float("RAZORPAY_TIMEOUT", default=10.0)  # seconds per Razorpay API call
BILLING_OFFLINE_SECRET = env("BILLING_OFFLINE_SECRET", default="")  # empty = derived from SECRET_KEY
BILLING_GRACE_DAYS = env.int("BILLING_GRACE_DAYS", default=0)  # past_due days after a period ends
BILLING_CHECKOUT_NAME = env("BILLING_CHECKOUT_NAME", default="Stratus")  # shown in Razorpay Checkout
CELERY_BEAT_SCHEDULE["expire-subscriptions"] = {"task": "billing.tasks.subscriptions_expire_task",
                                                "schedule": 3600.0}
CELERY_BEAT_SCHEDULE["retry-payment-webhooks"] = {"task": "billing.tasks.webhook_events_retry_task",
                                                  "schedule": 300.0}

# --- Dashboards and operators (storage_site/dashboards) -------------------------------
# The operators' admin site (Django's admin plus /admin/dashboard/) in place of the plain one.
INSTALLED_APPS[INSTALLED_APPS.index("django.contrib.admin")] = "storage_site.dashboards.apps.OperatorsAdminConfig"
HEALTH_CHECK_TIMEOUT = env.float("HEALTH_CHECK_TIMEOUT", default=3.0)  # seconds, per /readyz check
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise serves it; `collectstatic` fills it
SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"].update({
    "FileCategoryEnum": "storage_site.dashboards.serializers.CATEGORIES",
    "NodeCategoryEnum": "folders.models.Category",  # the same field with "folder": named apart
    "HealthStatusEnum": "storage_site.dashboards.serializers.HEALTH_STATUSES",
    "BulkUploadStatusEnum": ["uploading", "complete", "expired"],  # files/api/bulk.py; "status" is shared
})
# Unknown objects under blobs/ younger than this are uploads still committing, not orphans.
ORPHAN_GRACE_HOURS = env.float("ORPHAN_GRACE_HOURS", default=24.0)
# Workers log through LOGGING (JSON lines with the request id), not Celery's own format.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE["recompute-usage"] = {"task": "storage_site.dashboards.tasks.usage_recompute_task",
                                           "schedule": 24 * 3600.0}
CELERY_BEAT_SCHEDULE["collect-orphaned-objects"] = {"task": "storage_site.dashboards.tasks.orphans_collect_task",
                                                    "schedule": 24 * 3600.0}

# --- WebDAV at /dav/ (dav app) ------------------------------------------------------------
# HTTP Basic with app passwords always; with the account password too unless this is off.
WEBDAV_ACCOUNT_PASSWORDS = env.bool("WEBDAV_ACCOUNT_PASSWORDS", default=True)

# --- Behind a TLS-terminating proxy (docs/operations.md, deploy/nginx.conf.example) ------------
# Only when the proxy always sets X-Forwarded-Proto itself: then the links the server builds
# (share links, QR codes, tus Locations) say https.
if env.bool("TRUST_X_FORWARDED_PROTO", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
