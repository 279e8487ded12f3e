"""docs/RELIABILITY.md is generated from tests (scripts/reliability_report.py):
every test it names must exist, and the document must list every case."""

import ast

from conftest import ROOT, load_script

report = load_script("reliability_report")


def _defined_tests(path) -> set[str]:
    """Test functions and Class::method names defined in a test module (read, not imported)."""
    tree = ast.parse((ROOT / path).read_text())
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(node.name)
        elif isinstance(node, ast.ClassDef):
            names.update(
                f"{node.name}::{item.name}" for item in node.body if isinstance(item, ast.FunctionDef)
            )
    return names


def test_every_test_the_matrix_names_exists():
    # Read from the modules' syntax trees: a collection in a new interpreter took ~20 s.
    missing = []
    for node_id in report.node_ids():
        path, _, name = node_id.partition("::")
        name = name.split("[", 1)[0]
        if not (ROOT / path).is_file() or (name and name not in _defined_tests(path)):
            missing.append(node_id)
    assert missing == []


def test_the_document_lists_every_case():
    document = (ROOT / "docs" / "RELIABILITY.md").read_text()
    for _, case, _ in report.CASES:
        assert case in document
