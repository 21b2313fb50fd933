"""The fit cache's key: it moves exactly when a training value or label moves."""

from __future__ import annotations

import copy
from datetime import datetime

import numpy as np

from hub.score.features import FeatureTable
from hub.score.store import fingerprint


def _table() -> FeatureTable:
    return FeatureTable(
        deal_key=["a:1", "a:2", "b:1"],
        at=[datetime(2025, 1, 1), datetime(2025, 2, 1), datetime(2025, 2, 1)],
        closed_at=[datetime(2025, 3, 1)] * 3,
        won=[True, False, None],
        ids={"source_name": ["a", "a", "b"]},
        numeric={"deal_age_days": [1.5, None, 0.0], "rep_closed": [3.0, 4.0, 5.0]},
        categorical={"canonical_stage": ["qualification", "prospecting", ""]},
        facts={"idle_days": [1, 2, 3]},
    )


def test_the_key_is_stable_and_moves_with_every_training_value_and_label() -> None:
    base = fingerprint(_table())
    assert fingerprint(_table()) == base and len(base) == 32

    def changed(edit) -> str:  # noqa: ANN001
        table = copy.deepcopy(_table())
        edit(table)
        return fingerprint(table)

    edits = [
        lambda t: t.deal_key.__setitem__(0, "a:9"),
        lambda t: t.at.__setitem__(1, datetime(2025, 2, 1, 0, 0, 1)),
        lambda t: t.won.__setitem__(2, False),  # open -> lost
        lambda t: t.won.__setitem__(0, False),
        lambda t: t.numeric["deal_age_days"].__setitem__(1, 0.0),  # missing -> 0
        lambda t: t.numeric["rep_closed"].__setitem__(2, 5.000001),
        lambda t: t.categorical["canonical_stage"].__setitem__(2, "x"),
        # text moved across a boundary: same joined bytes, different values
        lambda t: t.categorical.__setitem__(
            "canonical_stage", ["qualificationp", "rospecting", ""]
        ),
        lambda t: t.categorical.__setitem__("dim_region", ["", "", ""]),  # a new dimension
    ]
    keys = [changed(edit) for edit in edits]
    assert base not in keys and len(set(keys)) == len(keys)
    # What the model never reads (ids, facts, closed_at) leaves the key alone, and noise
    # below the 9th decimal too.
    assert changed(lambda t: t.facts["idle_days"].__setitem__(0, 99)) == base
    assert changed(lambda t: t.ids["source_name"].__setitem__(0, "z")) == base
    assert changed(lambda t: t.numeric["rep_closed"].__setitem__(0, 3.0 + 1e-12)) == base


def test_lists_and_arrow_arrays_of_the_same_values_give_the_same_key() -> None:
    table = _table()
    arrays = copy.deepcopy(table)
    arrays.numeric = {
        name: np.array([np.nan if v is None else v for v in values], dtype=np.float64)
        for name, values in table.numeric.items()
    }
    assert fingerprint(arrays) == fingerprint(table)


def test_the_key_is_the_one_the_row_by_row_hash_gave() -> None:
    """Cached models stay valid across the columnar rewrite: every edit above, an empty
    table and non-ASCII text hash as the row-by-row code hashed them."""
    from hub.score.store import FEATURE_VERSION
    from tests.score.rowpath import fingerprint_by_row

    tables = [_table(), FeatureTable(numeric={"x": []}, categorical={"c": []})]
    wide = _table()
    wide.deal_key[0] = "crm:Ünïcødé-€-1"
    wide.categorical["canonical_stage"] = ["", "négociation", "提案"]
    wide.at[2] = datetime(2025, 2, 1, 12, 30, 15, 250)
    tables.append(wide)
    for table in tables:
        assert fingerprint(table) == fingerprint_by_row(table, FEATURE_VERSION)
