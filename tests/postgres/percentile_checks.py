"""The comparison the percentile macros' tests share: a macro's rows against PostgreSQL's own
``percentile_cont`` over the same rows."""

from __future__ import annotations

import math
from typing import Any

Rows = dict[tuple[Any, ...], tuple[Any, ...]]  # group -> (count, mean, *percentiles)


def assert_same_percentiles(got: Rows, want: Rows) -> int:
    """The same groups with the same counts and percentiles (exactly, as percentile_cont
    gives them) and means within float rounding; returns how many groups."""
    assert sorted(got, key=repr) == sorted(want, key=repr)
    for group, expected in want.items():
        n, mean, *pcts = got[group]
        n_want, mean_want, *pcts_want = expected
        assert n == n_want, group
        assert (mean is None) == (mean_want is None), group
        if mean is not None:
            assert math.isclose(mean, mean_want, rel_tol=1e-12, abs_tol=1e-12), group
        assert pcts == pcts_want, (group, pcts, pcts_want)
    return len(want)
