"""Incremental transforms give the marts a full rebuild gives, on DuckDB and PostgreSQL.

A generated CSV export is pulled and transformed; then a slice of it changes (stage moves,
wins, new deals, deleted deals, a moved activity, an FX rate) and as_of moves past instants
of deals whose rows did not change; the incremental transform's every table and view in
hub_staging, analytics and outbound must equal, row for row, what a --full-refresh build of
the same data at the same as_of gives; so must the aggregates kept by period or day (or by
difference, rep_activity's) when a closed deal changes owner or is re-dated, activities change
owner, type, deal or week, and as_of crosses a month's and weeks' ends. A stage remap
rebuilds in full by itself, and a transform with nothing changed rebuilds no deal and
changes no row.
"""

from __future__ import annotations

import csv
import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from hub.generate import Generated
from hub.pull import run_pull
from hub.transform import TransformResult, run_transform
from hub.warehouse import Warehouse
from models.config import HubConfig, load_config
from tests.normal_rows import normal_rows
from tests.pg import pg_warehouse
from tests.resolve.checks import assert_resolution_current

SCHEMAS = ("hub_staging", "analytics", "outbound")
AS_OF_1 = "2026-06-30T00:00:00Z"
AS_OF_2 = "2026-07-15T00:00:00Z"


def _rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


def _write(path: Path, fields: list[str], rows: list[dict[str, str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fields)
        writer.writeheader()
        writer.writerows(rows)


def _edit_config(root: Path, change: Any) -> HubConfig:
    raw = yaml.safe_load((root / "hub.yml").read_text())
    change(raw)
    (root / "hub.yml").write_text(yaml.safe_dump(raw, sort_keys=False))
    return load_config(root / "hub.yml")


def _snapshot(config: HubConfig) -> dict[str, tuple[list[str], list[tuple]]]:
    """Every relation dbt builds (tables and views), rows normalised and sorted."""
    out = {}
    with Warehouse(config).connect() as conn:
        inspector = sa.inspect(conn)
        for schema in SCHEMAS:
            names = inspector.get_table_names(schema=schema)
            names += inspector.get_view_names(schema=schema)
            for name in sorted(set(names)):
                result = conn.execute(sa.text(f"SELECT * FROM {schema}.{name}"))
                columns = list(result.keys())
                rows = sorted(normal_rows(result), key=repr)
                out[f"{schema}.{name}"] = (columns, rows)
    return out


def _assert_same(incremental: dict, full: dict) -> None:
    assert sorted(incremental) == sorted(full)
    for name, (columns, rows) in full.items():
        inc_columns, inc_rows = incremental[name]
        assert inc_columns == columns, name
        assert inc_rows == rows, _difference(name, inc_rows, rows)


def _difference(name: str, incremental: list[tuple], full: list[tuple]) -> str:
    """A few rows each side lacks; built only when the check fails (a set per row would be
    quadratic on tables of 10^4 rows)."""
    inc_set, full_set = set(incremental), set(full)
    missing = [r for r in full if r not in inc_set][:3]
    extra = [r for r in incremental if r not in full_set][:3]
    return f"{name}: incremental lacks {missing}, has extra {extra}"


def _transform(config: HubConfig, **kwargs: Any) -> TransformResult:
    result = run_transform(config, **kwargs)
    assert result.plan is not None and not result.failures
    return result


def _prepare(root: Path) -> None:
    """Before the first pull: instants after the first as_of on deals that will not change,
    so only moving as_of (not their rows) changes them."""
    fields, deals = _rows(root / "deals.csv")
    won = next(d for d in deals if d["status"] == "won")
    won["closed_at"] = won["updated_at"] = "2026-07-05T09:00:00Z"
    fields_a, activities = _rows(root / "activities.csv")
    open_ids = [d["deal_id"] for d in deals if d["status"] == "open"]
    late = next(a for a in activities if a["deal_id"] == open_ids[-1])
    late["occurred_at"] = "2026-07-03T08:00:00Z"
    _write(root / "deals.csv", fields, deals)
    _write(root / "activities.csv", fields_a, activities)


def _change_a_slice(root: Path) -> str:
    """Stage moves and wins, new deals, deletes (full snapshot), a re-dated activity, a deal's
    activities left without an owner."""
    fields, deals = _rows(root / "deals.csv")
    _, history = _rows(root / "stage_history.csv")
    open_deals = [d for d in deals if d["status"] == "open"]
    for deal in open_deals[:8]:
        deal["stage"], deal["updated_at"] = "Negotiation", "2026-07-01T10:00:00Z"
        history.append({"deal_id": deal["deal_id"], "stage": "Negotiation",
                        "changed_at": "2026-07-01T10:00:00Z"})  # fmt: skip
    for deal in open_deals[8:11]:
        deal.update(stage="Closed Won", status="won", closed_at="2026-07-10T12:00:00Z",
                    updated_at="2026-07-10T12:00:00Z")  # fmt: skip
    for n, template in enumerate(open_deals[11:16]):
        deals.append({**template, "deal_id": f"D9{n:06d}", "created_at": "2026-07-02T09:00:00Z",
                      "updated_at": "2026-07-02T09:00:00Z", "legacy_id": ""})  # fmt: skip
    gone = {d["deal_id"] for d in open_deals[20:25]}
    deals = [d for d in deals if d["deal_id"] not in gone]
    _write(root / "deals.csv", fields, deals)
    _write(root / "stage_history.csv", ["deal_id", "stage", "changed_at"], history)
    fields_a, activities = _rows(root / "activities.csv")
    moved = next(a for a in activities if a["deal_id"] == open_deals[30]["deal_id"])
    moved["occurred_at"] = "2026-07-12T15:00:00Z"
    # no owner on any activity of one deal: it loses its first response (lead_response_time)
    for activity in activities:
        if activity["deal_id"] == open_deals[40]["deal_id"]:
            activity["owner_email"] = ""
    _write(root / "activities.csv", fields_a, activities)
    return open_deals[40]["deal_id"]


def _full_snapshot_and_fx(raw: dict) -> None:
    raw["sources"][0]["options"]["deals"]["full_snapshot"] = True
    raw["fx_rates"]["EUR"] = 1.21


def _remap(raw: dict) -> None:
    raw["sources"][0]["stage_map"]["*"]["Meeting Booked"] = "qualification"


def _first_response(config: HubConfig, deal_id: str) -> Any:
    with Warehouse(config).connect() as conn:
        return conn.execute(
            sa.text(
                "SELECT first_activity_at FROM analytics.lead_response_time WHERE deal_key = :k"
            ),
            {"k": f"{config.sources[0].name}:{deal_id}"},
        ).scalar_one()


def _check(root: Path, config: HubConfig) -> None:
    (run,) = run_pull(config)
    assert run.status == "ok", run.error
    first = _transform(config)
    assert first.plan.full and "no complete previous build" in first.plan.reason

    unowned = _change_a_slice(root)
    assert _first_response(config, unowned) is not None
    config = _edit_config(root, _full_snapshot_and_fx)
    (run,) = run_pull(config)
    assert run.status == "ok", run.error
    config = _edit_config(root, lambda raw: raw.update(as_of=AS_OF_2))
    incremental = _transform(config)
    assert not incremental.plan.full, incremental.plan.reason
    # 8 moved + 3 won + 5 new + 1 re-dated activity + 1 whose activities lost their owner + 2
    # whose instants as_of now passes. The 5 deleted are not among them: is_deleted is read
    # only by models rebuilt on every run.
    assert incremental.plan.changed_deals == 20
    after_incremental = _snapshot(config)
    full = _transform(config, full_refresh=True)
    assert full.plan.full and full.plan.reason == "--full-refresh"
    after_full = _snapshot(config)
    _assert_same(after_incremental, after_full)
    assert len(after_full["analytics.deals"][1]) > 300
    assert _first_response(config, unowned) is None
    assert_resolution_current(config)

    config = _edit_config(root, _remap)
    remapped = _transform(config)
    assert remapped.plan.full and "stage map" in remapped.plan.reason

    before = _snapshot(config)
    unchanged = _transform(config)
    assert unchanged.plan.skip and unchanged.models == 0, unchanged.plan.reason
    _assert_same(_snapshot(config), before)
    # a change no deal's stage history reads (an owner's name, an account's industry) still
    # runs dbt, and rebuilds every deal's int_deal_facts and int_deal_dimensions rows
    fields, owners = _rows(root / "owners.csv")
    owners[0]["name"] = "Renamed Owner"
    _write(root / "owners.csv", fields, owners)
    fields, accounts = _rows(root / "accounts.csv")
    accounts[0]["industry"] = "Renamed Industry"
    _write(root / "accounts.csv", fields, accounts)
    (run,) = run_pull(config)
    assert run.status == "ok", run.error
    renamed = _transform(config)
    assert not renamed.plan.skip and renamed.plan.changed_deals == 0, renamed.plan.reason
    assert renamed.plan.changed_deal_rows == len(after_full["analytics.deals"][1])
    with Warehouse(config).connect() as conn:
        names = conn.execute(sa.text("SELECT rep_name FROM analytics.reps")).scalars().all()
    assert "Renamed Owner" in names
    after_renamed = _snapshot(config)
    _transform(config, full_refresh=True)
    _assert_same(after_renamed, _snapshot(config))
    # nothing changed but as_of (back to July 4th): only the deals with an instant between
    # it and July 15th are rebuilt: closed July 5th, the 3 won July 10th, the activity of July
    # 12th.
    config = _edit_config(root, lambda raw: raw.update(as_of="2026-07-04T00:00:00Z"))
    moved = _transform(config)
    assert not moved.plan.full and moved.plan.changed_deals == 5, moved.plan.reason
    after_moved = _snapshot(config)
    _transform(config, full_refresh=True)
    _assert_same(after_moved, _snapshot(config))
    _check_deal_rows_only(root, config)
    _check_one_table_written(config)
    _check_moved_periods(root, config)


def _check_one_table_written(config: HubConfig) -> None:
    """Writes to one or two source tables in place (as a connector's after-load SQL does):
    an activity moved to another deal and a stage change deleted. The deals table is
    unchanged, so the snapshot reads only the parts those tables feed
    (``changes.part_digests``): the three deals must still be found, and the marts equal a
    full rebuild's. A row rewritten with the values it had changes nothing."""
    schema = f"src_{config.sources[0].name}"
    with Warehouse(config).connect() as conn:
        key, source = conn.execute(
            sa.text(
                f"SELECT activity_key, deal_key FROM {schema}.activities "
                "WHERE deal_key IS NOT NULL ORDER BY activity_key LIMIT 1"
            )
        ).one()
        target = conn.execute(
            sa.text(
                f"SELECT deal_key FROM {schema}.deals WHERE deal_key <> :d "
                "ORDER BY deal_key LIMIT 1"
            ),
            {"d": source},
        ).scalar_one()
        conn.execute(
            sa.text(f"UPDATE {schema}.activities SET deal_key = :t WHERE activity_key = :k"),
            {"t": target, "k": key},
        )
        history = conn.execute(
            sa.text(
                f"SELECT deal_key, max(changed_at) FROM {schema}.stage_changes "
                "WHERE deal_key NOT IN (:a, :b) GROUP BY deal_key HAVING count(*) > 1 "
                "ORDER BY deal_key LIMIT 1"
            ),
            {"a": source, "b": target},
        ).one()
        conn.execute(
            sa.text(f"DELETE FROM {schema}.stage_changes WHERE deal_key = :d AND changed_at = :c"),
            {"d": history[0], "c": history[1]},
        )
    written = _transform(config)
    assert not written.plan.full and written.plan.changed_deals == 3, written.plan.reason
    with Warehouse(config).connect() as conn:
        keys = conn.execute(sa.text("SELECT deal_key FROM hub_meta.hub_changed_deals"))
        assert sorted(keys.scalars()) == sorted([source, target, history[0]])
    after_written = _snapshot(config)
    _transform(config, full_refresh=True)
    _assert_same(after_written, _snapshot(config))
    with Warehouse(config).connect() as conn:
        conn.execute(
            sa.text(f"UPDATE {schema}.activities SET subject = subject WHERE activity_key = :k"),
            {"k": key},
        )
    rewritten = _transform(config)
    assert rewritten.plan.skip, rewritten.plan.reason


def _check_deal_rows_only(root: Path, config: HubConfig) -> None:
    """Deal columns no per-deal model reads (amount, a custom field that is a dimension, the
    deleted mark of a full snapshot): no deal is rebuilt in those models, only these three
    in int_deal_facts and int_deal_dimensions, and the marts still equal a full rebuild's.
    The renamed and the deleted deal are each the only deal of their lead_source bucket of
    stage_conversion_by_dimension (kept as sums on PostgreSQL): one leaves its dimension
    value's bucket, the other's bucket loses its one deal; both buckets must go."""
    fields, deals = _rows(root / "deals.csv")
    name = config.sources[0].name
    alone = _alone_in_a_funnel_bucket(config)
    closed = [d for d in deals if d["status"] in ("won", "lost")]
    lonely = [d for d in closed[1:] if f"{name}:{d['deal_id']}" in alone]
    assert len(lonely) >= 2
    closed[1:3] = lonely[:2]
    closed[0]["amount"] = str(float(closed[0]["amount"] or 0) + 5000)
    closed[1]["lead_source"] = "Renamed Source"
    gone = closed[2]["deal_id"]
    _write(root / "deals.csv", fields, [d for d in deals if d["deal_id"] != gone])
    (run,) = run_pull(config)
    assert run.status == "ok", run.error
    edited = _transform(config)
    assert not edited.plan.full and edited.plan.changed_deals == 0, edited.plan.reason
    assert edited.plan.changed_deal_rows == 3
    with Warehouse(config).connect() as conn:
        rebuilt = conn.execute(sa.text("SELECT deal_key FROM hub_meta.hub_changed_deal_rows"))
        keys = sorted(rebuilt.scalars())
    assert keys == sorted(f"{name}:{d['deal_id']}" for d in closed[:3])
    after_edited = _snapshot(config)
    _transform(config, full_refresh=True)
    _assert_same(after_edited, _snapshot(config))


def _alone_in_a_funnel_bucket(config: HubConfig) -> set[str]:
    """Counted deals alone in their lead_source bucket of stage_conversion_by_dimension
    (dimension value, source, pipeline, cohort month and funnel row)."""
    with Warehouse(config).connect() as conn:
        keys = conn.execute(
            sa.text(
                "SELECT deal_key FROM (SELECT d.deal_key, count(*) OVER (PARTITION BY "
                "d.dimension_value, d.source_name, d.pipeline_key, "
                "date_trunc('month', d.created_at), f.furthest_order, f.was_lost, f.visited) "
                "AS n FROM hub_staging.int_deal_dimensions AS d "
                "JOIN hub_staging.int_deal_funnel AS f ON f.deal_key = d.deal_key "
                "WHERE d.dimension = 'lead_source' AND d.is_counted AND d.has_dated_creation"
                ") AS buckets WHERE n = 1"
            )
        )
        return set(keys.scalars())


def _check_moved_periods(root: Path, config: HubConfig) -> None:
    """What the period and day aggregates rebuild only where touched can get wrong: a won deal
    that changes owner (leaves one rep's periods, joins another's), a closed deal re-dated
    into another month and quarter, a deal created in another month, activities that change
    owner, type, deal or week, and as_of crossing a month's and weeks' ends (the partial
    period, the snapshot window, rep_activity's week spine): every mart equals a full
    build's, and rep_activity's activities were counted as often as the source holds them."""
    fields, deals = _rows(root / "deals.csv")
    won = [d for d in deals if d["status"] == "won"]
    lost = [d for d in deals if d["status"] == "lost"]
    owners = sorted({d["owner_email"] for d in deals if d["owner_email"]})
    won[1]["owner_email"] = next(o for o in owners if o != won[1]["owner_email"])
    won[2]["closed_at"] = won[2]["updated_at"] = "2026-03-15T10:00:00Z"
    lost[3]["created_at"] = "2025-09-01T10:00:00Z"
    # what the sums kept by delta could get wrong (int_sales_velocity_periods): a month and
    # rep whose one deal leaves (the group must go, not stay at zero), and the one won deal
    # of a month and rep losing its amount (the kept sum must be NULL, not 0)
    taken = {won[1]["deal_id"], won[2]["deal_id"], lost[3]["deal_id"]}
    leaving = next(
        d
        for d in _alone_in_its_month(deals, taken, ("won", "lost"), ("won", "lost", "open"))
        if _velocity_month(config, d) is not None
    )
    left_group = _velocity_month(config, leaving)
    leaving["owner_email"] = next(o for o in owners if o != leaving["owner_email"])
    taken.add(leaving["deal_id"])
    unpriced = next(
        d
        for d in _alone_in_its_month(deals, taken, ("won",), ("won",))
        if _velocity_month(config, d) is not None
    )
    unpriced["amount"] = ""
    _write(root / "deals.csv", fields, deals)
    # what rep_activity's counts kept by difference can get wrong: an activity re-assigned to
    # another owner (leaves one owner's week, joins another's), one re-typed, one taken off
    # its deal (counted without a deal from now on), one moved into another week; each of
    # another deal, so no other change rebuilds its deal
    fields_a, activities = _rows(root / "activities.csv")
    by_deal = {a["deal_id"]: a for a in activities if a["deal_id"] and a["owner_email"]}
    on_deals = list(by_deal.values())[-4:]
    on_deals[0]["owner_email"] = next(o for o in owners if o != on_deals[0]["owner_email"])
    on_deals[1]["type"] = "meeting" if on_deals[1]["type"] != "meeting" else "call"
    on_deals[2]["deal_id"] = ""
    on_deals[3]["occurred_at"] = "2026-07-29T10:00:00Z"
    _write(root / "activities.csv", fields_a, activities)
    (run,) = run_pull(config)
    assert run.status == "ok", run.error
    config = _edit_config(root, lambda raw: raw.update(as_of="2026-08-01T00:00:00Z"))
    edited = _transform(config)
    assert not edited.plan.full, edited.plan.reason
    with Warehouse(config).connect() as conn:
        gone = conn.execute(
            sa.text(
                "SELECT count(*) FROM analytics.sales_velocity WHERE period_type = 'month' "
                "AND period_start = :p AND rep_key = :r"
            ),
            {"p": left_group[0], "r": left_group[1]},
        ).scalar_one()
    assert left_group is not None and gone == 0
    unpriced_group = _velocity_month(config, unpriced)
    assert unpriced_group is not None and unpriced_group[2] >= 1 and unpriced_group[3] is None
    after_edited = _snapshot(config)
    _transform(config, full_refresh=True)
    _assert_same(after_edited, _snapshot(config))
    with Warehouse(config).connect() as conn:
        counted = conn.execute(
            sa.text("SELECT sum(activities), sum(meetings) FROM analytics.rep_activity")
        ).one()
    held = [a for a in activities if a["occurred_at"] <= "2026-08-01T00:00:00Z"]
    assert counted[0] == len(held) > 0
    assert counted[1] == sum(1 for a in held if a["type"] == "meeting")


def _alone_in_its_month(
    deals: list[dict[str, str]], taken: set[str], status: tuple[str, ...], others: tuple[str, ...]
) -> Iterator[dict[str, str]]:
    """Deals of a `status` (not in `taken`, with an amount, closed before July) that no other
    deal of their owner and of a status in `others` joins in their close month's
    sales_velocity group (closed there; created there, unless `others` is only won)."""
    for deal in deals:
        if deal["deal_id"] in taken or deal["status"] not in status or not deal["amount"]:
            continue
        if not deal["closed_at"] or deal["closed_at"] >= "2026-07":
            continue
        month, owner = deal["closed_at"][:7], deal["owner_email"]
        if owner and not any(
            other is not deal
            and other["owner_email"] == owner
            and other["status"] in others
            and (
                (other["closed_at"] or "")[:7] == month
                or (others != ("won",) and other["created_at"][:7] == month)
            )
            for other in deals
        ):
            yield deal


def _velocity_month(config: HubConfig, deal: dict[str, str]) -> Any:
    """The sales_velocity row of a deal's close month (in the CSV) and current rep:
    (period_start, rep_key, won_count, avg_won_amount_base), None if there is none."""
    month = date.fromisoformat(deal["closed_at"][:7] + "-01")
    with Warehouse(config).connect() as conn:
        return conn.execute(
            sa.text(
                "SELECT v.period_start, v.rep_key, v.won_count, v.avg_won_amount_base "
                "FROM analytics.sales_velocity AS v JOIN analytics.deals AS d "
                "ON v.rep_key = d.rep_key AND v.period_type = 'month' AND v.period_start = :m "
                "WHERE d.deal_key = :k"
            ),
            {"k": f"{config.sources[0].name}:{deal['deal_id']}", "m": month},
        ).one_or_none()


def _project(tmp_path: Path, export: Generated, warehouse: dict[str, Any] | None) -> Path:
    root = tmp_path / "project"
    shutil.copytree(export.export.out_dir, root)
    _prepare(root)
    if warehouse:
        _edit_config(root, lambda raw: raw.update(warehouse=warehouse))
    _edit_config(root, lambda raw: raw.update(as_of=AS_OF_1))
    return root


def test_incremental_equals_full_rebuild_on_duckdb(tmp_path: Path, small_export: Generated) -> None:
    root = _project(tmp_path, small_export, None)
    _check(root, load_config(root / "hub.yml"))


# Under xdist its own group: the two warehouses' checks are the two longest tests of the file.
@pytest.mark.postgres
@pytest.mark.xdist_group("incremental-postgres")
def test_incremental_equals_full_rebuild_on_postgres(
    tmp_path: Path, small_export: Generated, pg_database: dict[str, Any]
) -> None:
    root = _project(tmp_path, small_export, pg_warehouse(pg_database))
    _check(root, load_config(root / "hub.yml"))
