"""Webhooks to merchants: every event that goes to Kafka also goes, signed
(Standard Webhooks), to the endpoints its payment's API client subscribed.

models.py       WebhookEndpoint, WebhookDelivery (one per endpoint and event, with its attempts)
services.py     the only writers: endpoints, fan-out, dispatch, delivery, disabling
selectors.py    reads
signing.py      Standard Webhooks signatures and secrets
net.py          the SSRF-safe POST
receivers.py    after an outbox commit, queue a fan-out
tasks.py        fan-out, one endpoint's sender, the sweeper
views.py, serializers.py, urls.py, admin.py
"""
