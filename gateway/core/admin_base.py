"""Admin building blocks shared by every app."""

import functools

from django.contrib import admin
from django.core.exceptions import PermissionDenied


def has_model_permission(model_admin, request, codename: str) -> bool:
    """`<app>.<codename>` on the admin's model: what `@admin.action(permissions=[…])`
    and each custom admin view check, so nothing is offered to a mere viewer."""
    return request.user.has_perm(f"{model_admin.opts.app_label}.{codename}")


class ReadOnlyModelAdmin(admin.ModelAdmin):
    """Records operators may look at and act on (through actions), never edit."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# Views of installed apps' admins that act without checking any permission,
# by URL name: the app that brings the installed app in names them
# (stripe_integration: dj-stripe's), and they become superusers-only.
_UNGUARDED_VIEWS: set[str] = set()


def admin_unguarded_view_register(url_name: str) -> None:
    """An installed app's admin view that checks no permission: superusers only.
    Call from AppConfig.ready(): the site's URLs are read at the first request."""
    _UNGUARDED_VIEWS.add(url_name)


def _superusers_only(view):
    @functools.wraps(view)
    def guarded(request, *args, **kwargs):
        if not request.user.is_superuser:
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return guarded


def admin_require_declared_permissions(site) -> None:
    """Least privilege for every admin on the site, ours and installed apps':
    an action that declares no `permissions=` (Django offers those to anyone
    who can see the list; dj-stripe's resyncs and axes' cleanup are such) is
    for superusers only, and so are the installed apps' views that check
    nothing. Run once the registry is complete (CoreConfig.ready)."""
    for model_admin in site._registry.values():
        if getattr(model_admin, "_declared_permissions_required", False):
            continue
        model_admin._declared_permissions_required = True
        model_admin.get_actions = _declared_actions_only(model_admin.get_actions)
        model_admin.get_urls = _guarded_urls(model_admin.get_urls)


def _declared_actions_only(get_actions):
    @functools.wraps(get_actions)
    def actions_for(request):
        actions = get_actions(request)
        if request.user.is_superuser:
            return actions
        return {
            name: entry for name, entry in actions.items() if getattr(entry[0], "allowed_permissions", ())
        }

    return actions_for


def _guarded_urls(get_urls):
    @functools.wraps(get_urls)
    def urls():
        patterns = get_urls()
        for pattern in patterns:
            if getattr(pattern, "name", None) in _UNGUARDED_VIEWS:
                pattern.callback = _superusers_only(pattern.callback)
        return patterns

    return urls
