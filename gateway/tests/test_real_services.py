"""The real services that `make services` starts are there and work."""

import uuid

import pytest
from django.core.cache import cache, caches
from django.db import connection

pytestmark = pytest.mark.django_db


def test_the_suite_runs_on_mariadb_with_utf8mb4():
    # `make test` points DATABASE_URL at MariaDB; a SQLite run fails here on purpose.
    assert connection.vendor == "mysql", "run the suite with `make test`"
    with connection.cursor() as cursor:
        cursor.execute("SELECT @@character_set_database, VERSION()")
        charset, version = cursor.fetchone()
    assert charset == "utf8mb4"
    assert "MariaDB" in version


def test_the_cache_is_redis_and_round_trips(redis_client):
    assert type(caches["default"]).__module__.startswith("django_redis")
    cache.set("health:probe", "1", 5)
    assert cache.get("health:probe") == "1"
    assert redis_client.exists(cache.make_key("health:probe")) == 1


def test_kafka_has_the_seed_topics_and_a_message_comes_back(kafka_brokers, settings):
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition

    from gateway.events.kafka import kafka_admin

    admin = kafka_admin()
    try:
        topics = set(admin.list_topics())
    finally:
        admin.close()
    assert {"payment-events", "payment-success", "payment-failed", "payment-refunded"} <= topics

    marker = uuid.uuid4().hex.encode()
    producer = KafkaProducer(bootstrap_servers=kafka_brokers, acks="all", enable_idempotence=True)
    try:
        sent = producer.send("payment-events", key=b"probe", value=marker).get(timeout=15)
    finally:
        producer.close()
    consumer = KafkaConsumer(
        bootstrap_servers=kafka_brokers, enable_auto_commit=False, consumer_timeout_ms=10000
    )
    try:
        partition = TopicPartition("payment-events", sent.partition)
        consumer.assign([partition])
        consumer.seek(partition, sent.offset)
        message = next(iter(consumer))
    finally:
        consumer.close()
    assert message.value == marker
    assert message.key == b"probe"


def test_localstripe_answers_an_authenticated_call(localstripe):
    from stripe_integration.client import psp_ping

    result = psp_ping()

    assert result.ok
    assert result.detail == "localstripe"


def test_a_real_celery_worker_answers_on_the_redis_broker(celery_worker_process, settings):
    from gateway.celery import app

    assert settings.CELERY_BROKER_URL.startswith("redis://")
    replies = app.control.ping(destination=[celery_worker_process], timeout=5)

    assert replies and celery_worker_process in replies[0]
