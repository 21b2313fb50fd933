"""On an incremental transform, the data tests of the per-deal models read only the changed
deals' rows, and only when the last complete build passed every test.

A row of a deal that does not change is made to break a test of ``int_deal_created`` (as a
row that slipped past would; has_dated_creation, which no model downstream passes on as it
is): the next incremental transform, which rebuilds other deals,
does not read it; once the last build is recorded ``tests_failed``, the same transform tests
every row and fails on it. A full rebuild writes the row again from its inputs.
``deal_stage_history`` (a view whose ``days`` moves with as_of) is tested the same way: a
kept deal's spell made to end before it starts is not read, the same break in a spell of the
deal the run rebuilt is.
"""

from __future__ import annotations

import csv
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from hub.generate import Generated
from hub.pull import run_pull
from hub.transform import TransformError, run_dbt, run_transform
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


def _break_a_spell(config: HubConfig, deal_key: str) -> None:
    """Give one closed spell of a deal negative days in deal_stage_history (a view that moves
    with as_of, tested on the listed deals only): it enters a day after it exits."""
    with Warehouse(config).connect() as conn:
        broken = conn.execute(
            sa.text(
                "UPDATE hub_staging.int_deal_spells SET entered_at = exited_at + INTERVAL '1 day' "
                "WHERE spell_key = (SELECT min(spell_key) FROM hub_staging.int_deal_spells "
                "WHERE deal_key = :key AND exited_at IS NOT NULL)"
            ),
            {"key": deal_key},
        )
        assert broken.rowcount == 1


def _stage_history_failures(config: HubConfig) -> list[str]:
    """deal_stage_history's rules as the last incremental transform's test phase ran them."""
    from hub.push import dbt_vars as push_vars

    extra = {
        **push_vars(config),
        "hub_changed_deals": True,
        "hub_test_changed_deals": True,
        "hub_test_unchanged_tables": [],
    }
    as_of = config.effective_as_of(datetime.now(UTC))
    result = run_dbt(
        config, ["test", "--select", "deal_stage_history"], as_of=as_of, extra_vars=extra
    )
    return result.failures


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
    moved_key = f"{config.sources[0].name}:{moved}"
    kept = _break_a_kept_row(config, spared=moved_key)
    _break_a_spell(config, kept)
    _pull(config)
    incremental = run_transform(config)
    assert incremental.plan is not None and not incremental.plan.full
    assert incremental.plan.test_changed_only and incremental.plan.changed_deals == 1
    assert not incremental.failures and incremental.left_out
    assert incremental.tests == expected_test_nodes(incremental.left_out) < first.tests
    assert _dated(config, kept) is None  # kept, not rebuilt, and not read

    # A row the incremental run wrote is read: the moved deal's spell broken the same way
    # fails deal_stage_history's rules, run as that run's test phase ran them.
    assert _stage_history_failures(config) == []
    _break_a_spell(config, moved_key)
    (failure,) = _stage_history_failures(config)
    assert failure.startswith("column_rules_deal_stage_history: ") and "days" in failure

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
