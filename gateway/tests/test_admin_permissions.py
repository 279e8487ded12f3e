"""Least privilege in the admin (PCI DSS 7): every action and every custom view
declares the permission it needs. This walks every registered model admin, so a
new action or page without its permission fails here, not in production."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group, Permission, User
from django.test import Client, RequestFactory
from django.urls import reverse

from conftest import staff_login
from payments.services.operators import OPERATORS_GROUP

pytestmark = [pytest.mark.django_db, pytest.mark.fast]

# The views every ModelAdmin has; anything else its get_urls() adds is custom.
_STANDARD_VIEWS = {"changelist", "add", "history", "delete", "change", "autocomplete"}


def _user(name: str, codenames) -> User:
    user = User.objects.create_user(name, password=f"pw-{name}", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=list(codenames)))
    return User.objects.get(pk=user.pk)  # a fresh object: no cached permissions


def _view_only_staff() -> User:
    return _user(
        "viewer",
        Permission.objects.filter(codename__startswith="view_")
        .exclude(codename__startswith="view_overview")
        .values_list("codename", flat=True),
    )


def _custom_urls():
    for model, model_admin in admin.site._registry.items():
        for pattern in model_admin.get_urls():
            name = pattern.name or ""
            prefix = f"{model._meta.app_label}_{model._meta.model_name}_"
            suffix = name.removeprefix(prefix)
            if not name or suffix in _STANDARD_VIEWS:
                continue
            values = {"action_name": "_sync_all_instances", "model_name": model._meta.model_name}
            kwargs = {key: values.get(key, 1) for key in pattern.pattern.converters}
            yield model, reverse(f"admin:{name}", kwargs=kwargs)


@pytest.mark.reliability(
    "Security hardening",
    "Every admin action and custom page declares its permission: refused to a view-only staff user and to a "
    "user with none; operators get their job's actions, not revoke or reprocess",
)
def test_every_custom_action_is_refused_to_a_viewer_and_to_a_user_without_permissions():
    users = [_view_only_staff(), _user("nobody", [])]
    request_factory = RequestFactory()
    offered = {}
    for user in users:
        for model, model_admin in admin.site._registry.items():
            request = request_factory.get("/")
            request.user = user
            actions = set(model_admin.get_actions(request))
            if actions:
                offered[(user.username, model._meta.label)] = actions
    declared = [
        (model._meta.label, name)
        for model, model_admin in admin.site._registry.items()
        for name in (model_admin.actions or [])
    ]

    assert len(declared) >= 7  # refund, sync, resend OTP, settle refunds, revoke, publish, reprocess
    assert offered == {}


@pytest.mark.reliability(
    "Security hardening",
    "Every admin action and custom page declares its permission: refused to a view-only staff user and to a "
    "user with none; operators get their job's actions, not revoke or reprocess",
)
@pytest.mark.reliability(
    "Security hardening",
    "MFA for every staff session, superusers included (PCI DSS 8.4.2): a password alone opens no admin page; "
    "enrolment forced (an authenticator app or a passkey, then one-time recovery codes); TOTP codes not "
    "accepted twice; five wrong codes end the session; no passwordless passkey login",
)
def test_every_custom_admin_page_is_refused_to_a_viewer_and_to_a_user_without_permissions():
    urls = list(_custom_urls())
    assert {url.rsplit("/", 2)[-2] for _, url in urls} >= {"overview", "refund"}
    for user in (_view_only_staff(), _user("nobody", [])):
        browser = Client()
        staff_login(browser, user)
        for _, url in urls:
            assert browser.get(url).status_code == 403, (user.username, url)
            assert browser.post(url, {}).status_code == 403, (user.username, url)


@pytest.mark.reliability(
    "Security hardening",
    "Every admin action and custom page declares its permission: refused to a view-only staff user and to a "
    "user with none; operators get their job's actions, not revoke or reprocess",
)
def test_operators_get_the_actions_of_their_job_and_not_the_administrators():
    operator = User.objects.create_user("olga", password="pw-olga", is_staff=True)
    operator.groups.add(Group.objects.get(name=OPERATORS_GROUP))
    request = RequestFactory().get("/")
    request.user = User.objects.get(pk=operator.pk)
    actions = {
        model._meta.label: set(model_admin.get_actions(request))
        for model, model_admin in admin.site._registry.items()
    }

    assert {"refund_action", "sync_from_stripe", "resend_otp"} <= actions["payments.Payment"]
    assert "reconcile" in actions["payments.Refund"]
    assert "publish_now" in actions["events.OutboxEvent"]
    assert "revoke" not in actions.get("payments.ApiClient", set())  # merchants' keys: administrators only
    assert "reprocess" not in actions.get("stripe_integration.StripeWebhookEvent", set())


@pytest.mark.fast
@pytest.mark.django_db
def test_every_permission_an_app_registers_for_operators_exists_and_is_granted():
    """Each app declares what operators may do with its models (gateway.core.operators);
    a misspelt codename would silently grant nothing."""
    from django.contrib.auth.models import Permission

    from gateway.core.operators import operator_permissions
    from payments.services.operators import operators_group_ensure

    registered = set(operator_permissions())
    existing = {
        (app, codename)
        for app, codename in Permission.objects.values_list("content_type__app_label", "codename")
    }
    assert registered <= existing, registered - existing
    group = operators_group_ensure()
    granted = set(group.permissions.values_list("content_type__app_label", "codename"))
    assert granted == registered
    assert {app for app, _ in registered} >= {"payments", "events", "stripe_integration", "webhooks"}
