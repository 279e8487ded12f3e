"""What an app adds to another app's admin page, declared explicitly: an
action on another app's list (otp's "resend the code" on payments) or a link
on its record page (stripe_integration's dj-stripe mirror). The app that owns
the addition registers it from its own admin module (autodiscovered with the
rest of the admin); the page's ModelAdmin inherits ContributionsAdminMixin.
Nobody patches another app's class."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import admin
from django.contrib.admin.options import IS_POPUP_VAR
from django.core.exceptions import ImproperlyConfigured
from django.utils.html import format_html, format_html_join

# model label ("payments.Payment") -> [(action, "app_label.codename")]
_ACTIONS: dict[str, list[tuple[Callable, str]]] = {}
# model label -> [callable(obj) -> (text, url) or None]
_LINKS: dict[str, list[Callable]] = {}


def admin_action_register(model_label: str, action: Callable, *, permission: str) -> None:
    """Offers `action` (an @admin.action function) on model_label's list to
    users who have `permission` ("app_label.codename")."""
    action.allowed_permissions = (permission,)  # least privilege (admin_base): it declares one
    entries = _ACTIONS.setdefault(model_label, [])
    if all(existing is not action for existing, _ in entries):
        entries.append((action, permission))


def admin_link_register(model_label: str, link: Callable) -> None:
    """Shows link(obj) -> (text, url) or (text, None) on model_label's record page."""
    entries = _LINKS.setdefault(model_label, [])
    if link not in entries:
        entries.append(link)


class ContributionsAdminMixin:
    """A ModelAdmin whose actions and record links include those other apps
    registered for its model. Its fieldsets name "contributed_links"."""

    def get_actions(self, request):
        actions = super().get_actions(request)
        if self.actions is None or IS_POPUP_VAR in request.GET:
            return actions
        for action, permission in _ACTIONS.get(self.model._meta.label, []):
            if request.user.has_perm(permission):
                func, name, description = self.get_action(action)
                if name in actions:  # another app's action must not replace the page's own
                    raise ImproperlyConfigured(
                        f"{action!r}: {self.model._meta.label} already has an action {name!r}."
                    )
                actions[name] = (func, name, description)
        return actions

    @admin.display(description="elsewhere")
    def contributed_links(self, obj):
        rows = [row for link in _LINKS.get(self.model._meta.label, []) if (row := link(obj))]
        for text, url in rows:  # links within the site only (they come from reverse())
            if url and not url.startswith("/"):
                raise ImproperlyConfigured(
                    f"{text!r}: a contributed link must be a path on this site, not {url!r}."
                )
        if not rows:
            return "—"
        return format_html_join(
            "",
            "<div>{}</div>",
            ((format_html('<a href="{}">{}</a>', url, text) if url else text,) for text, url in rows),
        )
