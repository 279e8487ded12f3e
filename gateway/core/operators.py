"""What the back office's Operators group may do, declared by the app that
owns each action: an app registers its permissions in its AppConfig.ready()
(operator_permissions_register), and the group is made from this list after
every migrate (payments.services.operators). No app names another app's
permissions here."""

from __future__ import annotations

_REGISTERED: list[tuple[str, str]] = []


def operator_permissions_register(app_label: str, *codenames: str) -> None:
    for codename in codenames:
        if (app_label, codename) not in _REGISTERED:
            _REGISTERED.append((app_label, codename))


def operator_permissions() -> list[tuple[str, str]]:
    """(app label, codename) of every permission the Operators group has."""
    return list(_REGISTERED)
