"""Settings of the test Django project: no database, signed-cookie sessions, DEBUG off (so an
exception is Django's own 500, as in production)."""

from __future__ import annotations

DEBUG = False
SECRET_KEY = "tapster-tests-only"
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = __name__.rsplit(".", 1)[0] + ".urls"
USE_TZ = True
INSTALLED_APPS: list[str] = []
MIDDLEWARE = [
    "django.middleware.common.CommonMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
]
SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"
DATABASES: dict[str, object] = {}
# Uploads larger than this go to a temporary file as they are read, not to memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 256 * 1024
LOGGING_CONFIG = None  # leave logging to pytest
