"""The one rule every writer uses to compare a CRM's value with the hub's
(``connectors.values.same_value``): the three built-in writers import it, none keeps its own."""

from __future__ import annotations

from decimal import Decimal

import pytest

from connectors.hubspot import writer as hubspot_writer
from connectors.pipedrive import writer as pipedrive_writer
from connectors.salesforce import writer as salesforce_writer
from connectors.values import same_value


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (None, None),
        (None, ""),
        (0.5, "0.50"),  # Pipedrive and Salesforce answer numbers, changelogs hand back text
        ("72", 72),
        (Decimal("1E+2"), "100"),
        ("stage-a", "stage-a"),
    ],
)
def test_equal(a: object, b: object) -> None:
    assert same_value(a, b) and same_value(b, a)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (None, 0),  # an empty field is not zero
        ("", "0"),
        (None, "None"),  # HubSpot's own copy said these were equal (text of None)
        (0.5, "0.51"),
        ("stage-a", "stage-b"),
        ("stage-a", " stage-a"),  # text is compared as the CRM holds it
    ],
)
def test_different(a: object, b: object) -> None:
    assert not same_value(a, b) and not same_value(b, a)


def test_every_writer_uses_the_shared_rule() -> None:
    for module in (hubspot_writer, pipedrive_writer, salesforce_writer):
        assert module.same_value is same_value
        assert not hasattr(module, "_same")
