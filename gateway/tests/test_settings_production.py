"""Production's other refusals and options: a proxy's trusted addresses, the
console e-mail backend, each role's own secrets, Kafka's and Redis's TLS.
The helpers are test_settings.py's.
"""

import json

import pytest

from gateway.tests.test_settings import DEVELOPMENT, HARDENED_PRODUCTION, PRODUCTION, _refused, _run, _values

pytestmark = pytest.mark.fast


@HARDENED_PRODUCTION
def test_production_behind_a_proxy_needs_its_trusted_addresses():
    _refused({**PRODUCTION, "BEHIND_PROXY": "true"}, "RATELIMIT_TRUSTED_PROXIES is empty")
    names = ("BEHIND_PROXY", "SECURE_PROXY_SSL_HEADER", "RATELIMIT_TRUSTED_PROXIES")
    proxied = _values(
        {**PRODUCTION, "BEHIND_PROXY": "true", "RATELIMIT_TRUSTED_PROXIES": "10.0.0.0/8"}, *names
    )
    direct = _values(PRODUCTION, *names)

    assert proxied == {
        "BEHIND_PROXY": True,
        "SECURE_PROXY_SSL_HEADER": ["HTTP_X_FORWARDED_PROTO", "https"],
        "RATELIMIT_TRUSTED_PROXIES": ["10.0.0.0/8"],
    }
    assert direct == {"BEHIND_PROXY": False, "SECURE_PROXY_SSL_HEADER": None, "RATELIMIT_TRUSTED_PROXIES": []}


@HARDENED_PRODUCTION
def test_production_refuses_the_console_email_backend():
    _refused({k: v for k, v in PRODUCTION.items() if k != "EMAIL_URL"}, "EMAIL_URL must name an SMTP server")
    _refused({**PRODUCTION, "EMAIL_URL": "memorymail://"}, "EMAIL_URL must name an SMTP server")


@HARDENED_PRODUCTION
def test_each_role_needs_only_its_own_secrets():
    without_psp_secrets = {
        k: v for k, v in PRODUCTION.items() if k not in ("STRIPE_SECRET_KEY", "OTP_SECRET", "EMAIL_URL")
    }
    for role in ("relay", "beat", "migrate"):
        values = _values({**without_psp_secrets, "GATEWAY_ROLE": role}, "STRIPE_SECRET_KEY", "OTP_SECRET")
        assert values == {"STRIPE_SECRET_KEY": "", "OTP_SECRET": ""}, role
    _refused({**without_psp_secrets, "GATEWAY_ROLE": "worker"}, "STRIPE_SECRET_KEY must be set")
    _refused({**without_psp_secrets, "GATEWAY_ROLE": "web"}, "STRIPE_SECRET_KEY must be set")
    _refused({**PRODUCTION, "GATEWAY_ROLE": "everything"}, "GATEWAY_ROLE must be")


@HARDENED_PRODUCTION
def test_kafka_tls_and_sasl_and_redis_tls_are_settings():
    sasl = {**DEVELOPMENT, "KAFKA_BROKERS": "kafka.example:9093", "KAFKA_SECURITY_PROTOCOL": "sasl_ssl"}
    _refused(sasl, "needs KAFKA_SASL_USERNAME")
    script = (
        "import json, django; django.setup(); from django.conf import settings; "
        "from gateway.events.kafka import kafka_security_options; "
        "print(json.dumps({'kafka': kafka_security_options(), "
        "'cache': settings.CACHES['default']['OPTIONS'], 'broker_ssl': settings.CELERY_BROKER_USE_SSL}))"
    )
    env = {
        **sasl,
        "KAFKA_SASL_USERNAME": "relay",
        "KAFKA_SASL_PASSWORD": "s3cret",
        "KAFKA_SSL_CAFILE": "/etc/ssl/kafka-ca.pem",
        "REDIS_URL": "rediss://:redis-pass@redis.example:6380/0",
        "REDIS_SSL_CA_CERTS": "/etc/ssl/redis-ca.pem",
    }
    result = _run(["-c", script], env)
    assert result.returncode == 0, result.stderr[-800:]
    values = json.loads(result.stdout.strip().splitlines()[-1])

    assert values["kafka"] == {
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "relay",
        "sasl_plain_password": "s3cret",
        "ssl_check_hostname": True,
        "ssl_cafile": "/etc/ssl/kafka-ca.pem",
    }
    assert values["cache"]["CONNECTION_POOL_KWARGS"] == {
        "ssl_cert_reqs": "required",
        "ssl_ca_certs": "/etc/ssl/redis-ca.pem",
    }
    assert values["broker_ssl"] == {"ssl_cert_reqs": 2, "ssl_ca_certs": "/etc/ssl/redis-ca.pem"}


# Where the settings read a variable: django-environ's env.<type>("NAME"), os.environ,
# and the parsing helpers that take a variable's name (not required_in_production,
# which is given the name for its message only, after env has read the variable).
