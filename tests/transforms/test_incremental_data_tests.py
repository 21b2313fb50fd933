"""On an incremental transform, the data tests of the per-deal models read only the changed
deals' rows, and only when the last complete build passed every test.

A row of a deal that does not change is made to break a test of ``int_deal_created`` (as a
row that slipped past would; has_dated_creation, which no model downstream passes on as it
is): the next incremental transform, which rebuilds other deals,
does not read it; once the last build is recorded ``tests_failed``, the same transform tests
every row and fails on it. A full rebuild writes the row again from its inputs.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from hub.generate import Generated
from hub.pull import run_pull
from hub.transform import TransformError, run_transform
from hub.warehouse import Warehouse
from models.config import HubConfig, load_config
from tests.transforms.test_column_rules import expected_test_nodes


def _pull(config: HubConfig) -> None:
    (run,) = run_pull(config)
    assert run.status == "ok", run.error


def _move_first_open_deal(path: Path, stamp: str) -> str:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        fields, rows = list(reader.fieldnames or []), list(reader)
    deal = next(r for r in rows if r["status"] == "open")
    deal["stage"], deal["updated_at"] = "Negotiation", stamp
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fields)
        writer.writeheader()
        writer.writerows(rows)
    return deal["deal_id"]


def _break_a_kept_row(config: HubConfig, spared: str) -> str:
    """Give another deal's int_deal_created row a value its test refuses."""
    with Warehouse(config).connect() as conn:
        key = conn.execute(
            sa.text("SELECT max(deal_key) FROM hub_staging.int_deal_created WHERE deal_key <> :k"),
            {"k": spared},
        ).scalar_one()
        conn.execute(
            sa.text(
                "UPDATE hub_staging.int_deal_created SET has_dated_creation = NULL "
                "WHERE deal_key = :key"
            ),
            {"key": key},
        )
    return key


def _dated(config: HubConfig, key: str) -> bool | None:
    with Warehouse(config).connect() as conn:
        return conn.execute(
            sa.text(
                "SELECT has_dated_creation FROM hub_staging.int_deal_created WHERE deal_key = :k"
            ),
            {"k": key},
        ).scalar_one()


def _mark_last_build(config: HubConfig, status: str) -> None:
    with Warehouse(config).connect() as conn:
        conn.execute(
            sa.text(
                "UPDATE hub_meta.hub_transforms SET status = :s WHERE run_id = "
                "(SELECT run_id FROM hub_meta.hub_transforms WHERE status <> 'unchanged' "
                "ORDER BY started_at DESC LIMIT 1)"
            ),
            {"s": status},
        )


def test_per_deal_tests_read_only_changed_deals_after_a_build_that_passed(
    tmp_path: Path, small_export: Generated
) -> None:
    root = tmp_path / "project"
    shutil.copytree(small_export.export.out_dir, root)
    raw = yaml.safe_load((root / "hub.yml").read_text())
    raw["as_of"] = "2026-06-30T00:00:00Z"
    (root / "hub.yml").write_text(yaml.safe_dump(raw, sort_keys=False))
    config = load_config(root / "hub.yml")
    _pull(config)
    first = run_transform(config)
    assert first.plan is not None and first.plan.full and not first.failures

    moved = _move_first_open_deal(root / "deals.csv", "2026-06-20T10:00:00Z")
    kept = _break_a_kept_row(config, spared=f"{config.sources[0].name}:{moved}")
    _pull(config)
    incremental = run_transform(config)
    assert incremental.plan is not None and not incremental.plan.full
    assert incremental.plan.test_changed_only and incremental.plan.changed_deals == 1
    assert not incremental.failures and incremental.left_out
    assert incremental.tests == expected_test_nodes(incremental.left_out) < first.tests
    assert _dated(config, kept) is None  # kept, not rebuilt, and not read

    # After a build whose tests failed, kept rows are not known good: every row is tested.
    _mark_last_build(config, "tests_failed")
    _move_first_open_deal(root / "deals.csv", "2026-06-21T10:00:00Z")
    _pull(config)
    # one rules node per model; the hub names the column and rule from its failing rows
    with pytest.raises(
        TransformError,
        match=r"column_rules_int_deal_created: .*\(null in has_dated_creation \(1 row\)\)",
    ):
        run_transform(config)

    full = run_transform(config, full_refresh=True)
    assert full.plan is not None and full.plan.full and not full.failures
    assert _dated(config, kept) is not None
