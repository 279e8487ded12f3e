from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "payments"
    verbose_name = "Payments"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from gateway.core.metrics import scrape_gauges_register
        from payments import (
            auth,  # noqa: F401  registers the API key's OpenAPI security scheme
            receivers,  # noqa: F401  records timeline entries in the outbox
        )
        from payments.metrics import payments_gauges

        scrape_gauges_register(payments_gauges)

        from gateway.core.operators import operator_permissions_register

        # Operators look at payments and their records, refund, sync and see the overview.
        operator_permissions_register(
            "payments",
            *(
                f"view_{model}"
                for model in ("payment", "refund", "paymentevent", "apiclient", "idempotencykey")
            ),
            "refund_payment",
            "sync_payment",
            "view_overview_payment",
        )

        # For every app: each app registers the permissions it grants (gateway.core.operators).
        post_migrate.connect(_operators_group, dispatch_uid="payments-operators-group")
        from django.db.models.signals import post_delete, post_save

        for signal in (post_save, post_delete):
            signal.connect(
                _api_client_changed, sender="payments.ApiClient", dispatch_uid=f"apiclient-{signal}"
            )


def _operators_group(sender, **kwargs) -> None:
    # Idempotent; permissions that do not exist yet are added on a later call.
    from payments.services.operators import operators_group_ensure

    operators_group_ensure()


def _api_client_changed(sender, instance, **kwargs) -> None:
    # Dropped at once (a revoked key must stop working even if the commit
    # hooks never run) and again after commit (a request between the two could
    # have cached the row as it was before the change).
    from django.db import transaction

    from payments.selectors import api_client_cache_forget

    api_client_cache_forget(key_prefix=instance.key_prefix)
    transaction.on_commit(lambda: api_client_cache_forget(key_prefix=instance.key_prefix), robust=True)
