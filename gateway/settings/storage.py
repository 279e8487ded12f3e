"""Where data lives: the database, and Redis (the cache; Celery's broker by default)."""

from gateway.settings.environment import BASE_DIR, env

# --- Database -----------------------------------------------------------------
# sqlite:///… is the embedded default (a file at the repository root, so that
# `manage.py` with no variables works on the database `make run` serves);
# mysql://… is the real one.
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
_db = DATABASES["default"]
_db["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
_db["CONN_HEALTH_CHECKS"] = True
if _db["ENGINE"] == "django.db.backends.mysql":
    _db.setdefault("OPTIONS", {}).update(
        {
            "charset": "utf8mb4",
            # READ COMMITTED keeps select_for_update() from taking gap locks
            # that deadlock concurrent inserts.
            "isolation_level": "read committed",
            "init_command": "SET sql_mode='STRICT_TRANS_TABLES'",
        }
    )
    _db["TEST"] = {"CHARSET": "utf8mb4", "COLLATION": "utf8mb4_unicode_ci"}
elif _db["ENGINE"] == "django.db.backends.sqlite3":
    # WAL and IMMEDIATE transactions let gunicorn's threads (and the eager-task
    # thread) write without "database is locked" errors on the embedded default.
    # Connections are kept per thread like MariaDB's: opening one (and its
    # PRAGMAs) on every request cost more than the request's own queries.
    _db.setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache and Redis ------------------------------------------------------------
# redis://[:password@]host:6379/0, or rediss:// for TLS (Redis AUTH and TLS):
# the CA bundle to check the server with (empty: the system's).
REDIS_URL = env.str("REDIS_URL", default="")
REDIS_SSL_CA_CERTS = env.str("REDIS_SSL_CA_CERTS", default="")
_REDIS_TLS = {
    "ssl_cert_reqs": "required",
    **({"ssl_ca_certs": REDIS_SSL_CA_CERTS} if REDIS_SSL_CA_CERTS else {}),
}
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {
                "CLIENT_CLASS": "django_redis.client.DefaultClient",
                # JSON, never pickle: what Redis holds is data, not code to run.
                "SERIALIZER": "django_redis.serializers.json.JSONSerializer",
                "SOCKET_CONNECT_TIMEOUT": 1,
                "SOCKET_TIMEOUT": 1,
                **({"CONNECTION_POOL_KWARGS": _REDIS_TLS} if REDIS_URL.startswith("rediss://") else {}),
            },
            "KEY_PREFIX": "gw",
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
