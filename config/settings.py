"""Settings for LLM Artifacts.

Every value that differs between machines comes from an environment variable; the defaults
give a working local set-up (SQLite for the app, a separate SQLite file for the demo
marketplace) so `make run` needs no configuration at all.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp.constants import NONCE, NONE, SELF, UNSAFE_INLINE
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("VAR_DIR", BASE_DIR / "var"))
# SQLite files (the app database and the demo marketplace) live here by default.
VAR_DIR.mkdir(parents=True, exist_ok=True)


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value not in (None, "") else default


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

# The local demo (`make run`, `make test`, a bare `pytest`) needs no configuration at all. A
# deployment always names its hosts, so setting DJANGO_ALLOWED_HOSTS is what says "this is not
# the local demo" unless DJANGO_LOCAL_DEMO says otherwise; outside it there is no fallback key.
LOCAL_DEMO = env_bool("DJANGO_LOCAL_DEMO", default="DJANGO_ALLOWED_HOSTS" not in os.environ)
SECRET_KEY = env_str("DJANGO_SECRET_KEY")
if not SECRET_KEY:
    if not LOCAL_DEMO:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is not set. Outside the local demo the app refuses to start "
            "with a public key: set DJANGO_SECRET_KEY to a long random string (see README, "
            "Production settings), or DJANGO_LOCAL_DEMO=true for a local demo."
        )
    SECRET_KEY = "insecure-local-demo-key-set-DJANGO_SECRET_KEY"

# Served over HTTPS (directly or behind a proxy): cookies only travel encrypted, plain HTTP is
# redirected and browsers are told to remember it (HSTS). Each piece can be switched apart.
HTTPS = env_bool("DJANGO_HTTPS", default=False)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = HTTPS
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", default=HTTPS)
SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 31_536_000 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", default=HTTPS)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", default=HTTPS)
# Only behind a proxy that sets X-Forwarded-Proto itself (and drops the client's): otherwise a
# client could claim HTTPS.
if env_bool("DJANGO_PROXY_SSL_HEADER", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    # Loads each app's rules.py (the sharing permissions) at start-up.
    "rules.apps.AutodiscoverRulesConfig",
    "knox",
    "axes",
    "csp",
    "django_filters",
    "drf_spectacular",
    "django_htmx",
    "template_partials",
    "django_tasks",
    "django_tasks_db",
    "apps.core",
    "apps.jobs",
    "apps.notifications",
    "apps.accounts",
    "apps.datasources",
    "apps.llm_agent",
    "apps.llm_artifact",
    "apps.schedules",
    "apps.llm_chat",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The user's language (kept in the session), else the language cookie, else the
    # browser's Accept-Language: apps/accounts/language.py.
    "apps.accounts.language.UserLocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "csp.middleware.CSPMiddleware",
    # Below the others rather than second (WhiteNoise's advice), for every request that is not
    # a static file. Under ASGI a sync-only middleware (WhiteNoise) above async-capable ones
    # makes Django run each of those async, with two thread hops of its own (process_request,
    # process_response): 18 hops a request here. Below them, they all run in one thread: an
    # API execute makes a third fewer Python calls (6,600 -> 4,500; bench/api_execute.py).
    # Static responses now pass through the middleware above too (a few more headers).
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Last, as django-axes asks: it turns a locked-out sign-in into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"

# Bootstrap 5 classes and one field template (label, input, help, errors) for every form.
FORM_RENDERER = "apps.core.forms.BootstrapFormRenderer"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "csp.context_processors.nonce",
            ],
        },
    },
]

WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

# The app's own database. It is never a data source that artifacts may query.
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'app.sqlite3'}")
# Connections persist between requests for DATABASE_CONN_MAX_AGE seconds: under uvicorn each
# request thread is reused (apps/core/asgi.py), so the next request on it skips the connect
# (on PostgreSQL a new server process: an API execute took 5x the bare app, now 2x;
# bench/api_execute.py). Health checks reconnect when the server dropped one meanwhile.
DATABASES = {
    "default": dj_database_url.parse(
        DATABASE_URL,
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 600),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Under uvicorn each request and each streaming reply writes from its own thread and
    # connection. A deferred transaction that must upgrade to a write lock fails at once with
    # "database is locked"; IMMEDIATE ones take the lock up front and wait for it (timeout,
    # seconds), and WAL lets readers go on while one connection writes. synchronous=NORMAL is
    # SQLite's advice for WAL: a commit no longer waits for the disk (only checkpoints do),
    # which was most of an API execute's time (recording the run, bench/api_execute.py); the
    # database stays consistent, and only a power loss can undo the last commits.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
    }

# Named connections that artifact SQL runs against, as "name=url" pairs separated by commas
# or whitespace. Per-source limits may ride on the URL's query string:
# postgresql://reader@host/shop?timeout=5&max_rows=500
DEMO_DATA_SOURCE_PATH = VAR_DIR / "marketplace.sqlite3"
DATA_SOURCES = env_str("DATA_SOURCES", f"marketplace=sqlite:///{DEMO_DATA_SOURCE_PATH}")
DEFAULT_DATA_SOURCE = env_str("DEFAULT_DATA_SOURCE", "marketplace")
DATA_SOURCE_TIMEOUT_SECONDS = env_float("DATA_SOURCE_TIMEOUT_SECONDS", 10.0)
# The default limit of a query a worker runs (background runs and exports); per source:
# ?background_timeout= on its URL.
DATA_SOURCE_BACKGROUND_TIMEOUT_SECONDS = env_float("DATA_SOURCE_BACKGROUND_TIMEOUT_SECONDS", 600.0)
DATA_SOURCE_MAX_ROWS = env_int("DATA_SOURCE_MAX_ROWS", 1000)
EXPORT_MAX_ROWS = env_int("EXPORT_MAX_ROWS", 1_000_000)
# Background exports (apps/llm_artifact/tasks.py): an export from the artifact page of more
# rows than this goes to a worker instead of streaming from the web process; the file is
# written to EXPORT_FILES_DIR (private: never under a static or media URL, served only by
# the download view to who may see the artifact) and deleted after EXPORT_FILE_KEEP_HOURS.
BACKGROUND_EXPORT_ROWS = env_int("BACKGROUND_EXPORT_ROWS", 100_000)
EXPORT_FILES_DIR = Path(os.environ.get("EXPORT_FILES_DIR", VAR_DIR / "exports"))
EXPORT_FILE_KEEP_HOURS = env_float("EXPORT_FILE_KEEP_HOURS", 24.0)
SQL_MAX_LENGTH = env_int("SQL_MAX_LENGTH", 20_000)

# Background work (apps/jobs): Django's Tasks API through the django-tasks backport. The queue
# lives in the app's database by default, so the embedded set-up needs nothing else and any
# number of workers on PostgreSQL share it. TASKS_BACKEND=rq puts it on Redis instead (RQ via
# django-tasks-rq, REDIS_URL) for large installations; "immediate" runs each job inside the
# request that enqueued it (tests).
TASKS_BACKEND = env_str("TASKS_BACKEND", "database")
REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")
TASKS = {
    "default": {
        "database": {"BACKEND": "django_tasks_db.DatabaseBackend"},
        "rq": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": ["default"]},
        "immediate": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"},
    }[TASKS_BACKEND]
}
# Our jobs keep their own time limit (apps/jobs/runner.py), so RQ's is only a backstop.
RQ_QUEUES = {"default": {"URL": REDIS_URL, "DEFAULT_TIMEOUT": 24 * 3600}}
RQ = {
    # RQ must load tasks through django-tasks-rq's job class (RQ's own cannot call a Task),
    # with this worker class (no fork per task: apps/jobs/rq_worker.py), for `manage.py worker`
    # and a bare `manage.py rqworker` alike.
    "JOB_CLASS": "django_tasks_rq.Job",
    "WORKER_CLASS": "apps.jobs.rq_worker.JobsWorker",
}
if TASKS_BACKEND == "rq":
    INSTALLED_APPS.append("django_rq")
# How long a worker waits before looking again at an empty database queue: the queue latency
# when idle, against one small query per worker and interval.
JOBS_POLL_SECONDS = env_float("JOBS_POLL_SECONDS", 0.5)
# A worker renews its hold on a running job every third of this; a job whose worker stopped
# renewing for this long is taken up by another worker.
JOBS_LEASE_SECONDS = env_int("JOBS_LEASE_SECONDS", 15)

# Email (apps.notifications: alerts and subscriptions): Django's email backend, the console by
# default (the demo prints mails to the worker's output); SMTP with EMAIL_HOST and friends.
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", default=False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", default=False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 30)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "LLM Artifacts <noreply@localhost>")

# Webhooks (apps.notifications.webhooks): HTTPS only, and never to loopback, private,
# link-local, multicast or reserved addresses (checked when sent, on the resolved address
# connected to), unless these allow it: a receiver on the same machine or network (tests, a
# local set-up). WEBHOOKS_CA_FILE adds certificate authorities to trust (an internal CA).
WEBHOOKS_ALLOW_PRIVATE_ADDRESSES = env_bool("WEBHOOKS_ALLOW_PRIVATE_ADDRESSES", default=False)
WEBHOOKS_ALLOW_HTTP = env_bool("WEBHOOKS_ALLOW_HTTP", default=False)
WEBHOOKS_TIMEOUT_SECONDS = env_float("WEBHOOKS_TIMEOUT_SECONDS", 10.0)
WEBHOOKS_CA_FILE = env_str("WEBHOOKS_CA_FILE")

# The demo agent talks to a local OpenAI-compatible server (Ollama by default).
LLM_BASE_URL = env_str("LLM_BASE_URL", "http://127.0.0.1:11434/v1")
LLM_MODEL = env_str("LLM_MODEL", "qwen2.5-coder:7b")
LLM_HISTORY_TURNS = env_int("LLM_HISTORY_TURNS", 10)
LLM_REQUEST_TIMEOUT_SECONDS = env_float("LLM_REQUEST_TIMEOUT_SECONDS", 120.0)
# How often the provider SDK retries a failed request (429, 5xx, dropped connection).
LLM_MAX_RETRIES = env_int("LLM_MAX_RETRIES", 2)

# Password of the local `demo` user that `manage.py seed_demo` creates and `make run` prints.
DEMO_PASSWORD = env_str("DEMO_PASSWORD", "demo-password-123")

# A schedule (apps.schedules) pauses itself and tells its owner after this many failed
# refreshes in a row.
SCHEDULE_MAX_FAILURES = env_int("SCHEDULE_MAX_FAILURES", 3)
# Where the site is, for the links in alert emails and webhook bodies (read off the site).
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000")

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# django-axes first: it refuses a locked-out username+address before the password is checked.
AUTHENTICATION_BACKENDS = [
    "apps.accounts.backends.AxesBackend",
    "django.contrib.auth.backends.ModelBackend",
    # Object permissions (who may see, edit, share an artifact or chat): each app's rules.py.
    "rules.permissions.ObjectPermissionBackend",
]
# Sign-in lockout (the page, the admin and POST /api/auth/token/): after SIGNIN_FAILURE_LIMIT
# wrong passwords for one username from one address, that pair is refused for
# SIGNIN_LOCKOUT_MINUTES (each further failure restarts the wait); a success resets the count.
AXES_FAILURE_LIMIT = env_int("SIGNIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("SIGNIN_LOCKOUT_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# Lockouts are rows in the admin (Axes > Access attempts); no log line at every start-up.
AXES_VERBOSE = False
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
# The client's address (apps.accounts.addresses): the connection's, unless DJANGO_PROXY_COUNT
# proxies stand in front; then X-Forwarded-For is read past their entries.
PROXY_COUNT = env_int("DJANGO_PROXY_COUNT", 0)
AXES_CLIENT_IP_CALLABLE = "apps.accounts.addresses.client_address"

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "llm_chat:chat_list"
LOGOUT_REDIRECT_URL = "login"

# English and Russian: each user picks one (profile, or the switcher in the navigation),
# otherwise the browser's Accept-Language decides. Translations live in locale/ and are
# compiled by `make` (Babel, so no system gettext is needed to run the app).
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("ru", "Русский")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
NODE_MODULES = BASE_DIR / "node_modules"
# `make bundle` (esbuild) writes the SQL editor here; created so a checkout that has not
# built it yet still starts (pages then link a file that is missing until `make bundle`).
BUILD_STATIC_DIR = BASE_DIR / "build" / "static"
BUILD_STATIC_DIR.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static", BUILD_STATIC_DIR]
# npm packages, installed by `npm ci`, are served straight from node_modules so that no
# third-party file is ever copied into the repository: only the files pages link (and their
# source maps), under a prefix per package, by config.staticfiles.NpmFinder.
NPM_STATIC_FILES = {
    "vendor/htmx": ("htmx.org/dist", ["htmx.min.js"]),
    "vendor/bootstrap": ("bootstrap/dist", ["css/bootstrap.min.css", "js/bootstrap.bundle.min.js"]),
    "vendor/bootstrap-icons": (
        "bootstrap-icons/font",
        ["bootstrap-icons.min.css", "fonts/bootstrap-icons.woff2", "fonts/bootstrap-icons.woff"],
    ),
    "vendor/vega": ("vega/build", ["vega.min.js"]),
    "vendor/vega-lite": ("vega-lite/build", ["vega-lite.min.js"]),
    "vendor/vega-embed": ("vega-embed/build", ["vega-embed.min.js"]),
    # Number and date formats of chart axes and tooltips in Russian (static/js/charts.js).
    "vendor/d3-format": ("d3-format/locale", ["ru-RU.json"]),
    "vendor/d3-time-format": ("d3-time-format/locale", ["ru-RU.json"]),
    # What drf-spectacular's Swagger UI page links (SPECTACULAR_SETTINGS below).
    "vendor/swagger-ui": (
        "swagger-ui-dist",
        [
            "swagger-ui.css",
            "swagger-ui-bundle.js",
            "swagger-ui-standalone-preset.js",
            "favicon-32x32.png",
        ],
    ),
}
STATICFILES_FINDERS = [
    "django.contrib.staticfiles.finders.FileSystemFinder",
    "django.contrib.staticfiles.finders.AppDirectoriesFinder",
    "config.staticfiles.NpmFinder",
]
# `collectstatic` (part of `make run`'s set-up) copies every file into STATIC_ROOT under a
# name carrying a hash of its content, with gzip (and Brotli, when the brotli package is
# installed) copies beside it; `{% static %}` links the hashed names, which WhiteNoise serves
# compressed and cacheable for ten years (`immutable`), so a page's assets load once and a
# changed file gets a new name. Unhashed names still answer, with WHITENOISE_MAX_AGE.
# With DJANGO_DEBUG, templates link plain names served straight from the finders, so edits
# show at once without collecting. Tests use plain names too (tests/conftest.py), as Django
# advises: the manifest needs a collectstatic that the test run does not do.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# API tokens (apps.accounts): how long a new one lasts; 0 means until it is revoked.
API_TOKEN_TTL_HOURS = env_int("API_TOKEN_TTL_HOURS", 24 * 30)
# django-rest-knox keeps only a digest of each token, in our own model (name, last use).
KNOX_TOKEN_MODEL = "accounts.ApiToken"
# knox's own migrations predate its swappable model and would create a knox_authtoken table we
# never use, whose foreign key to auth_user then stops PostgreSQL from truncating users (test
# flushes). With our model in its place, knox needs no table at all.
MIGRATION_MODULES = {"knox": None}
REST_KNOX = {
    "TOKEN_MODEL": KNOX_TOKEN_MODEL,
    "TOKEN_TTL": timedelta(hours=API_TOKEN_TTL_HOURS) if API_TOKEN_TTL_HOURS > 0 else None,
    "AUTH_HEADER_PREFIX": "Token",
}

# Request limits (Django's defaults, named here because the README documents them): a body
# held in memory, and the number of form fields. Beyond them API clients get a JSON error
# naming the limit (apps.core.errors), people a readable page.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 2_621_440)  # 2.5 MB
DATA_UPLOAD_MAX_NUMBER_FIELDS = env_int("DATA_UPLOAD_MAX_NUMBER_FIELDS", 1000)

# Artifact bundles (apps.llm_artifact.bundles): the largest bundle imported, in bytes and in
# artifacts. A file upload is not held to DATA_UPLOAD_MAX_MEMORY_SIZE; these limits are.
BUNDLE_MAX_BYTES = env_int("BUNDLE_MAX_BYTES", 5 * 1024 * 1024)
BUNDLE_MAX_ARTIFACTS = env_int("BUNDLE_MAX_ARTIFACTS", 1000)

REST_FRAMEWORK = {
    # Token first: DRF answers a missing or bad credential with the first class's challenge,
    # so API clients get 401 + "WWW-Authenticate: Token" instead of a bare 403.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "apps.accounts.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.SearchFilter",
        "rest_framework.filters.OrderingFilter",
    ],
    # Strict JSON (no NaN/Infinity/1e400, bounded depth and size: apps.core.json) first;
    # forms for the browsable API.
    "DEFAULT_PARSER_CLASSES": [
        "apps.core.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    # A body too big or with too many fields is a JSON error naming the limit.
    "EXCEPTION_HANDLER": "apps.core.errors.api_exception_handler",
    "DEFAULT_PAGINATION_CLASS": "apps.core.pagination.PageNumberPagination",
    # drf-spectacular's, plus the error answers every operation really gives.
    "DEFAULT_SCHEMA_CLASS": "apps.core.openapi.AutoSchema",
    "PAGE_SIZE": 25,
    # Only views that name a scope are throttled (ScopedRateThrottle): the token endpoint, per
    # client address, on top of django-axes's per-username lockout; previews of unsaved SQL
    # (the API's and the workbench's), per user (apps.llm_artifact.throttling).
    "DEFAULT_THROTTLE_RATES": {
        "auth-token": env_str("API_TOKEN_THROTTLE_RATE", "10/minute"),
        "sql-preview": env_str("SQL_PREVIEW_THROTTLE_RATE", "30/minute"),
    },
}

SPECTACULAR_SETTINGS = {
    "TITLE": "LLM Artifacts API",
    "DESCRIPTION": "Agents, chats and the SQL artifacts that LLM agents write.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI from npm through staticfiles instead of drf-spectacular's default CDN.
    "SWAGGER_UI_DIST": "/static/vendor/swagger-ui",
    "SWAGGER_UI_FAVICON_HREF": "/static/vendor/swagger-ui/favicon-32x32.png",
    # Artifacts and messages both have a "status" with different choices: name them apart.
    "ENUM_NAME_OVERRIDES": {
        "ArtifactStatusEnum": "apps.llm_artifact.models.Artifact.Status",
        "MessageStatusEnum": "apps.llm_chat.models.Message.Status",
        # A message's main artifact_action and each of its artifact links share the choices.
        "ArtifactActionEnum": "apps.llm_chat.models.Message.ArtifactAction",
    },
}

# Content-Security-Policy (django-csp): scripts only from our own static files (or carrying the
# per-request nonce), no eval (charts use vega's expression interpreter), nothing framed, no
# form posted elsewhere. Styles allow inline: vega-embed, its tooltips and Swagger UI insert
# <style> elements at run time, and a style cannot run script.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, UNSAFE_INLINE],
        "img-src": [SELF, "data:", "blob:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        # sqlglot warns whenever it falls back to a generic Command node (CALL, DO, ...); the
        # guard refuses those statements anyway and says why, so the warning is only noise.
        "sqlglot": {"level": "ERROR"},
    },
}
