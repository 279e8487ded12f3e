from django.contrib.admin.apps import AdminConfig


class GatewayAdminConfig(AdminConfig):
    """django.contrib.admin with the back-office's own site (gateway.admin)."""

    default_site = "gateway.admin.BackOfficeSite"
