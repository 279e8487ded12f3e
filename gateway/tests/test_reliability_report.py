"""docs/RELIABILITY.md is generated from the tests' `@pytest.mark.reliability`
markers (scripts/reliability_report.py): every claim is in a known area, each case
in one area only, each fault point of the exactly-once tables has its own row, and
the document lists every case."""

import ast
from collections import defaultdict

import pytest

from conftest import ROOT, load_script

report = load_script("reliability_report")

EXACTLY_ONCE = "gateway/tests/scenarios/test_exactly_once.py"


@pytest.fixture(scope="module")
def claims():
    # One collection of the whole suite in a new interpreter (~20 s), as `make reliability` does.
    return report.collect()


def test_every_claim_names_a_known_area_and_a_case(claims):
    assert [claim for claim in claims if claim[0] not in report.AREAS or not claim[1].strip()] == []
    assert {area for area, _, _ in claims} == set(report.AREAS)  # no area left without a case


def test_a_case_belongs_to_one_area(claims):
    areas = defaultdict(set)
    for area, case, _ in claims:
        areas[case].add(area)
    assert {case: found for case, found in areas.items() if len(found) > 1} == {}


def test_an_unknown_area_is_refused():
    with pytest.raises(ValueError, match="unknown area 'Fautls'"):
        report.cases([("Fautls", "Redis stopped", "gateway/tests/scenarios/test_faults.py::test_x")])


def test_the_rows_are_grouped_by_case_in_the_order_of_the_areas(claims):
    rows = report.cases(claims)
    assert len({(area, case) for area, case, _ in rows}) == len(rows)
    assert [report.AREAS.index(area) for area, _, _ in rows] == sorted(
        report.AREAS.index(area) for area, _, _ in rows
    )
    assert all(len(nodes) == len(set(nodes)) for _, _, nodes in rows)


def test_every_fault_point_has_a_row_of_its_own(claims):
    tree = ast.parse((ROOT / EXACTLY_ONCE).read_text())
    tables = {
        node.targets[0].id: ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign)
        and isinstance(node.targets[0], ast.Name)
        and node.targets[0].id in ("PAYMENT_FAULT_POINTS", "REFUND_FAULT_POINTS")
    }
    rows = report.cases(claims)
    for table, test in (
        ("PAYMENT_FAULT_POINTS", "test_a_payment_retried_after_a_fault_is_charged_once"),
        ("REFUND_FAULT_POINTS", "test_a_refund_retried_after_a_fault_is_made_once"),
    ):
        assert tables[table]
        for row_id, point, target, _ in tables[table]:
            matching = [case for _, case, nodes in rows if nodes == [f"{EXACTLY_ONCE}::{test}[{row_id}]"]]
            assert len(matching) == 1 and point in matching[0] and target in matching[0], row_id
        assert [nodes for _, _, nodes in rows if f"{EXACTLY_ONCE}::{test}" in nodes] == []


def test_the_document_lists_every_case(claims):
    document = (ROOT / "docs" / "RELIABILITY.md").read_text()
    assert [case for _, case, _ in claims if case not in document] == []
