"""What one app adds to another's admin page is offered only by permission,
never replaces the page's own action, and links only within the site."""

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission, User
from django.core.exceptions import ImproperlyConfigured
from django.test import RequestFactory

from gateway.core import admin_registry
from payments.models import Payment

pytestmark = [pytest.mark.django_db, pytest.mark.fast]


@pytest.fixture
def registry(monkeypatch):
    monkeypatch.setattr(admin_registry, "_ACTIONS", {})
    monkeypatch.setattr(admin_registry, "_LINKS", {})


def _request(*permissions: str):
    user = User.objects.create_user("olga", password="pw", is_staff=True)
    for codename in permissions:
        user.user_permissions.add(Permission.objects.get(codename=codename))
    request = RequestFactory().get("/")
    request.user = User.objects.get(pk=user.pk)
    return request


@admin.action(description="Shout")
def shout(model_admin, request, queryset):
    return None


def test_a_contributed_action_is_offered_only_with_its_permission(registry):
    admin_registry.admin_action_register("payments.Payment", shout, permission="payments.sync_payment")
    page = admin.site._registry[Payment]

    assert "shout" in page.get_actions(_request("view_payment", "sync_payment"))
    User.objects.all().delete()
    assert "shout" not in page.get_actions(_request("view_payment"))


def test_a_contributed_action_never_replaces_the_pages_own(registry):
    @admin.action(description="Not the refund")
    def refund_action(model_admin, request, queryset):
        return None

    admin_registry.admin_action_register(
        "payments.Payment", refund_action, permission="payments.sync_payment"
    )

    with pytest.raises(ImproperlyConfigured, match="already has an action 'refund_action'"):
        admin.site._registry[Payment].get_actions(_request("view_payment", "refund_payment", "sync_payment"))


def test_a_contributed_link_is_escaped_and_stays_on_the_site(registry):
    page = admin.site._registry[Payment]
    admin_registry.admin_link_register("payments.Payment", lambda obj: ("<b>mirror</b>", "/admin/x/"))
    assert page.contributed_links(Payment()) == '<div><a href="/admin/x/">&lt;b&gt;mirror&lt;/b&gt;</a></div>'

    admin_registry.admin_link_register("payments.Payment", lambda obj: ("evil", "javascript:alert(1)"))
    with pytest.raises(ImproperlyConfigured, match="a path on this site"):
        page.contributed_links(Payment())
