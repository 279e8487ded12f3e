"""Admin building blocks shared by every app."""

from django.contrib import admin


class ReadOnlyModelAdmin(admin.ModelAdmin):
    """Records operators may look at and act on (through actions), never edit."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
