"""The order `make test` hands xdist groups out in (tests/conftest.py): the long groups first,
as listed, then the others by number of tests; and every listed group still exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import LONG_GROUPS_FIRST, SHARED_SESSION_FIXTURES, schedule_order

TESTS = Path(__file__).parent
REPO = TESTS.parent


def test_listed_groups_go_first_in_their_order_then_the_rest_by_size() -> None:
    first, second = LONG_GROUPS_FIRST[0], LONG_GROUPS_FIRST[1]
    groups = ["small", "big", second, "big", "small", first, "big", second]
    order = [groups[i] for i in schedule_order(groups)]
    assert order == [first, second, second, "big", "big", "big", "small", "small"]


def test_items_of_a_group_keep_their_collection_order() -> None:
    groups = ["a", "b", "a", "b", "a"]
    assert schedule_order(groups) == [0, 2, 4, 1, 3]


def test_every_listed_long_group_still_exists() -> None:
    marked = set()
    for path in TESTS.rglob("test_*.py"):
        marked |= set(re.findall(r"xdist_group\(\"([^\"]+)\"\)", path.read_text()))
    sessions = {f"session:{name}" for name in SHARED_SESSION_FIXTURES}
    missing = [
        g
        for g in LONG_GROUPS_FIRST
        if g not in marked and g not in sessions and not (REPO / g).is_file()
    ]
    assert not missing, f"LONG_GROUPS_FIRST names groups no test has: {missing}"
    assert len(set(LONG_GROUPS_FIRST)) == len(LONG_GROUPS_FIRST)


def test_under_loadgroup_the_test_id_ends_with_its_group(request: pytest.FixtureRequest) -> None:
    """xdist's controller groups tests by that ending; without it each test is its own group
    and every module or session fixture is built again on each worker, batch after batch."""
    if not request.config.getoption("loadgroup", default=False):
        pytest.skip("checked under `pytest -n 2 --dist loadgroup` (make test)")
    assert request.node.nodeid.endswith("@tests/test_xdist_groups.py"), request.node.nodeid
