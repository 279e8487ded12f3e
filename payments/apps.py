from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "payments"
    verbose_name = "Payments"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        # For every app: the permissions it grants come from several apps.
        post_migrate.connect(_operators_group, dispatch_uid="payments-operators-group")


def _operators_group(sender, **kwargs) -> None:
    # Idempotent; permissions that do not exist yet are added on a later call.
    from payments.services.operators import operators_group_ensure

    operators_group_ensure()
