"""D-Store mapping and path choice, without HTTP."""

from __future__ import annotations

from decimal import Decimal

import pytest

from project_runner import CATALOGS
from document_examples import DOCUMENT_EXAMPLES
from reconciler.diff import diff_resources
from reconciler.project import load_project
from reconciler.provider import CompileRequest, DesiredStore, Observed, ProviderContext
from reconciler.validation import validate_project
from reconciler_dstore import mapping

STORE_EXAMPLE = {"basic": "basic", "modifier-group": "modifier", "nested-modifiers": "nested",
                 "variant": "variant", "combo": "combo", "bundle": "bundle"}


@pytest.fixture(scope="module")
def validated(tmp_path_factory):
    project = load_project(CATALOGS / "dstore-examples")
    work = tmp_path_factory.mktemp("work")
    return validate_project(project, ProviderContext(project.root, work))


@pytest.mark.parametrize("store", sorted(STORE_EXAMPLE))
def test_catalog_maps_to_the_document_examples_exactly(validated, store):
    view = next(v for v in validated.views if v.store_id == store)
    desired = validated.providers["demo"].desired(view)
    # Same products, same fields, same order of fields as the document.
    expected = DOCUMENT_EXAMPLES[STORE_EXAMPLE[store]]
    assert list(desired.resources.values()) == expected
    assert [list(p) for p in desired.resources.values()] == [list(p) for p in expected]


def test_amounts_convert_exactly_to_minor_units():
    assert mapping.amount(Decimal("9.50"), "SGD") == {"currency": "SGD", "value": 950}
    assert mapping.amount(Decimal("1500"), "JPY") == {"currency": "JPY", "value": 1500}
    assert mapping.amount(Decimal("1.234"), "KWD") == {"currency": "KWD", "value": 1234}
    with pytest.raises(ValueError):
        mapping.amount(Decimal("10.005"), "SGD")


def test_status_body_carries_only_the_required_fields():
    body = mapping.status_body("r1", "bk001", "s1", [("p1", "SOLDOUT")])
    assert body == {"requestId": "r1", "posAccountId": "bk001", "store": {"posStoreId": "s1"},
                    "products": [{"posProductId": "p1", "status": "SOLDOUT"}]}


def _compile(validated, store, change):
    provider = validated.providers["demo"]
    view = next(v for v in validated.views if v.store_id == store)
    desired = provider.desired(view)
    observed = {k: dict(v) for k, v in desired.resources.items()}
    change(observed)
    changes = diff_resources(desired.resources, observed)
    return provider.compile(CompileRequest(
        view=view, remote_id="s5", desired=desired, observed=Observed(desired.meta, observed, "state"),
        changes=changes, meta_changed=False, full=False, full_reason="", idempotency_key=lambda i: f"k{i}"))


def test_status_of_a_single_takes_the_light_path(validated):
    program = _compile(validated, "combo", lambda o: o["p2"].update(status="SOLDOUT"))
    assert program.path == "light"
    (action,) = program.actions
    assert action.body["products"] == [{"posProductId": "p2", "status": "AVAILABLE"}]
    assert action.effect.set == ["p2"] and not action.effect.replace
    assert program.full_cost.requests == 1 and program.full_cost.bytes > action.bytes


def test_status_of_a_group_needs_the_full_path(validated):
    program = _compile(validated, "combo", lambda o: o["g1"].update(status="SOLDOUT"))
    assert program.path == "full"
    assert "status updates take SINGLE and MODIFIER only" in program.reason
    assert len(program.actions[0].body["products"]) == 7


def test_a_removed_product_needs_the_full_path(validated):
    program = _compile(validated, "combo", lambda o: o.update(extra={"posProductId": "extra", "type": "SINGLE"}))
    assert (program.path, program.reason) == ("full", "'extra' was removed")
    assert program.actions[0].effect.replace


def test_an_empty_store_is_never_sent(validated):
    provider = validated.providers["demo"]
    program = provider.compile(CompileRequest(
        view=None, remote_id="s9", desired=DesiredStore({}, {}),
        observed=Observed({}, {"p": {"status": "AVAILABLE"}}, "state"),
        changes=diff_resources({}, {"p": {"status": "AVAILABLE"}}), meta_changed=False,
        full=False, full_reason="", idempotency_key=lambda i: f"k{i}"))
    assert program.actions == [] and "cannot hold a store without products" in program.warnings[0]
