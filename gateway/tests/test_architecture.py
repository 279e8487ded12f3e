"""Dependencies point one way: the project package (gateway: settings, URLs,
the admin site, Celery) wires everything; otp and stripe_integration build on
payments; payments on the platform apps (gateway.mfa, gateway.events); all of
them on the ground (gateway.core), which imports no app. pyproject.toml's
import-linter contract checks the imports (also in `make lint`); the tests
below check what it cannot see."""

import ast
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from conftest import ROOT


def test_no_lower_layer_imports_a_higher_one():
    result = subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports"), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "1 kept, 0 broken" in result.stdout


# --- What imports cannot show -------------------------------------------------
# A lower layer can still depend on a higher one by naming it in a string: a
# model ("payments.Payment"), a permission ("payments.refund_payment"), a table
# ("payments_payment") or an app label given to apps.get_model(). Each app
# reaches the others through the registries of the layers beneath it instead.

_OURS = ("gateway", "payments", "otp", "stripe_integration")
# Third-party apps that one of ours owns: only that app (and those above it)
# names their models.
_OWNED_BY = {"djstripe": "stripe_integration"}  # app label -> the app (its name) that owns it


def _layers() -> list[list[str]]:
    contract = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"][0]
    return [re.split(r"\s*[|:]\s*", layer.strip()) for layer in contract["layers"]]


def _layer_of(module: str, layers: list[list[str]]) -> int | None:
    if module == "gateway":
        return 0  # the project package's __init__ (it imports the Celery app) is the project's
    matches = [
        (len(name), index)
        for index, layer in enumerate(layers)
        for name in layer
        if module == name or module.startswith(name + ".")
    ]
    return max(matches)[1] if matches else None


def _modules() -> list[tuple[str, Path]]:
    found = []
    for package in _OURS:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if "migrations" in parts:
                continue
            found.append((".".join(p for p in parts if p != "__init__"), path))
    return found


def _strings(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text())
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
    ]


@pytest.mark.fast
def test_every_module_of_ours_is_in_one_layer():
    layers = _layers()
    outside = [module for module, _ in _modules() if _layer_of(module, layers) is None]

    assert outside == [], f"modules in no layer of pyproject.toml's contract: {outside}"


def _names_of(config) -> set[str]:
    """How code can name an app without importing it: "label.Model",
    "label.codename" of a permission, its tables, and the bare label."""
    names = {config.label}
    for model in config.get_models(include_auto_created=True):
        opts = model._meta
        names |= {f"{config.label}.{opts.object_name}", f"{config.label}.{opts.model_name}", opts.db_table}
        codenames = [f"{action}_{opts.model_name}" for action in opts.default_permissions]
        names |= {f"{config.label}.{codename}" for codename in codenames}
        names |= {f"{config.label}.{codename}" for codename, _ in opts.permissions}
    return names


def _string_couplings() -> list[str]:
    """Each string in a module that names an app of a higher layer."""
    from django.apps import apps

    layers = _layers()
    owner_layer = {
        config.name: _layer_of(config.name, layers)
        for config in apps.get_app_configs()
        if config.name.split(".")[0] in _OURS
    }
    named = {}  # a name -> the layer of the app it belongs to
    for config in apps.get_app_configs():
        owner = _OWNED_BY.get(config.label, config.name)
        if owner in owner_layer:
            for name in _names_of(config):
                named[name] = owner_layer[owner]
    found = []
    for module, path in _modules():
        if ".tests" in module or module.startswith("gateway.tests"):
            continue  # tests drive the app they test, and those above it
        layer = _layer_of(module, layers)
        for line, text in _strings(path):
            if named.get(text, layer) < layer:
                found.append(f"{path.relative_to(ROOT)}:{line}: {text!r}")
    return found


@pytest.mark.fast
def test_no_lower_layer_names_a_higher_apps_models_permissions_or_tables_in_a_string():
    assert _string_couplings() == []


@pytest.mark.fast
def test_the_coupling_check_sees_a_model_named_in_a_string_by_the_ground():
    """The check above, shown to catch what it looks for."""
    planted = ROOT / "gateway" / "core" / "_planted_for_test.py"
    planted.write_text('PAYMENT_MODEL = "payments.Payment"\nTABLE = "payments_refund"\n')
    try:
        found = _string_couplings()
    finally:
        planted.unlink()

    assert found == [
        "gateway/core/_planted_for_test.py:1: 'payments.Payment'",
        "gateway/core/_planted_for_test.py:2: 'payments_refund'",
    ]


@pytest.mark.fast
def test_every_module_of_ours_imports():
    """A module no test happens to import (a management command, an admin
    hook) still has to import: a move that left a stale import fails here."""
    import importlib

    from django.apps import apps

    ours = {config.name for config in apps.get_app_configs()}
    # An app that settings leave out (the dj-stripe mirror with DJSTRIPE_MIRROR=off) is not imported.
    left_out = {"stripe_integration.mirror"} - ours
    failed = []
    for module, _ in _modules():
        if ".tests" in module or module.startswith("gateway.tests") or module == "gateway.settings":
            continue
        if any(module == name or module.startswith(name + ".") for name in left_out):
            continue
        try:
            importlib.import_module(module)
        except Exception as exc:
            failed.append(f"{module}: {type(exc).__name__}: {exc}")

    assert failed == []
