from django.contrib import admin

from payments.models import ApiClient


@admin.register(ApiClient)
class ApiClientAdmin(admin.ModelAdmin):
    list_display = ["name", "key_prefix", "is_active", "created_at", "revoked_at"]
    list_filter = ["is_active"]
    search_fields = ["name", "key_prefix"]
    # Keys are made by `manage.py create_api_client`; the admin never sees a raw key.
    readonly_fields = ["key_prefix", "key_hash", "created_at", "revoked_at"]

    def has_add_permission(self, request):
        return False
