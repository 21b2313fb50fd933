"""A model's column rules are one test node (``column_rules``) whose failure still names the
model, the column and the rule; on an incremental run a per-deal model's node reads only the
rows that run wrote, and a full refresh reads every row. Real pulls, real dbt, on DuckDB and
PostgreSQL.

A bad value that comes from a source is refused by the staging model's own rules, and dbt then
builds nothing downstream. The staging views whose rows change only with a deal the hub lists
(``stg_deals``, ``stg_stage_changes``, ``stg_stage_observations``) are tested, on an
incremental run, on the listed deals' rows: a bad source row in a changed deal is found, one
in a deal no list names (as if an earlier build had passed it) is found by ``--full-refresh``.
The views over source tables tested whole (``stg_activities``) read no row while their
tables hold the rows the last passing build tested, and every row once the table changed,
whatever deal lists say. What a per-deal model's own tests
are for is its logic: so the bad row is written by a faulty copy of ``int_deal_created`` (it
gives two chosen deals a ``created_at_source`` that is none of the accepted ones), run with
the fingerprint of the real project so the hub still builds incrementally, as it would under
a bug in an unchanged project.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from hub import dbt_project, incremental
from hub.generate import Generated
from hub.pull import run_pull
from hub.transform import TransformError, TransformResult, run_transform
from hub.warehouse import Warehouse, changes, deal_rows, source_digests
from models.config import HubConfig, load_config
from tests.pg import fresh_database, pg_engine, pg_warehouse

CREATED = "hub_staging.int_deal_created"


def expected_test_nodes(leaving_out: Collection[str] = ()) -> int:
    """Data test nodes the project declares, counted from its .yml files in plain Python:
    every entry of a model's or column's ``data_tests`` is one node; but those of the models
    a run left out (``TransformResult.left_out``, hub/dbt_skip.py)."""
    count = 0
    for path in (dbt_project.project_dir() / "transforms").rglob("*.yml"):
        for model in (yaml.safe_load(path.read_text()) or {}).get("models") or []:
            if model["name"] in leaving_out:
                continue
            count += len(model.get("data_tests") or [])
            count += sum(len(c.get("data_tests") or []) for c in model.get("columns") or [])
    return count


@dataclass(frozen=True)
class Built:
    """The small export pulled and built once (real project) per module and warehouse: both
    tests of a warehouse start from it, on copies (``_copy``), never on it."""

    root: Path
    first: TransformResult
    database: dict[str, Any] | None = None


def _build(root: Path, export: Generated, warehouse: dict[str, Any] | None) -> Built:
    shutil.copytree(export.export.out_dir, root)
    raw = yaml.safe_load((root / "hub.yml").read_text())
    raw["as_of"] = "2026-06-30T00:00:00Z"
    if warehouse:
        raw["warehouse"] = warehouse
    (root / "hub.yml").write_text(yaml.safe_dump(raw, sort_keys=False))
    config = load_config(root / "hub.yml")
    (run,) = run_pull(config)
    assert run.status == "ok", run.error
    return Built(root, run_transform(config))


@pytest.fixture(scope="module")
def built_duckdb(tmp_path_factory: pytest.TempPathFactory, small_export: Generated) -> Built:
    return _build(tmp_path_factory.mktemp("rules_duckdb") / "project", small_export, None)


@pytest.fixture(scope="module")
def built_postgres(
    tmp_path_factory: pytest.TempPathFactory,
    small_export: Generated,
    pg_server: dict[str, Any],
) -> Iterator[Built]:
    with fresh_database(pg_server) as database:
        root = tmp_path_factory.mktemp("rules_postgres") / "project"
        built = _build(root, small_export, pg_warehouse(database))
        yield Built(built.root, built.first, database)


def _copy(
    built: Built,
    tmp_path: Path,
    server: dict[str, Any] | None = None,
    database: dict[str, Any] | None = None,
) -> HubConfig:
    """A private copy of the built project (its .hub folder, DuckDB file and all); on
    PostgreSQL, of its database too (``CREATE DATABASE ... TEMPLATE``, in place of the empty
    ``database``, from the server's own database ``server``)."""
    root = tmp_path / "project"
    shutil.copytree(built.root, root)
    if database is not None:
        assert built.database is not None and server is not None
        admin = pg_engine(server, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE "{database["database"]}"'))
            conn.execute(
                sa.text(
                    f'CREATE DATABASE "{database["database"]}" '
                    f'TEMPLATE "{built.database["database"]}"'
                )
            )
        admin.dispose()
        raw = yaml.safe_load((root / "hub.yml").read_text())
        raw["warehouse"] = pg_warehouse(database)
        (root / "hub.yml").write_text(yaml.safe_dump(raw, sort_keys=False))
    return load_config(root / "hub.yml")


def _sql(config: HubConfig, sql: str, **params: Any) -> None:
    with Warehouse(config).connect() as conn:
        conn.execute(sa.text(sql), params)


def _open_deals(config: HubConfig, schema: str) -> list[str]:
    with Warehouse(config).connect() as conn:
        return list(
            conn.execute(
                sa.text(
                    f"SELECT deal_key FROM {schema}.deals WHERE status = 'open' "
                    "AND updated_at IS NOT NULL ORDER BY deal_key LIMIT 3"
                )
            ).scalars()
        )


def _touch(config: HubConfig, schema: str, deal_key: str) -> None:
    """A change the per-deal snapshot sees: the deal is rebuilt by the next transform."""
    _sql(
        config,
        f"UPDATE {schema}.deals SET updated_at = updated_at - interval '1 second' "
        "WHERE deal_key = :k",
        k=deal_key,
    )


def _faulty_project(tmp_path: Path, bad_deals: list[str]) -> Path:
    """The project with int_deal_created writing created_at_source 'bogus' for bad_deals."""
    real = dbt_project.project_dir()
    copy = tmp_path / "faulty_project"
    shutil.copytree(real / "transforms", copy / "transforms")
    for name in ("dbt_project.yml", "profiles.yml"):
        shutil.copyfile(real / name, copy / name)
    model = copy / "transforms" / "intermediate" / "int_deal_created.sql"
    keys = ", ".join(f"'{key}'" for key in bad_deals)
    text = model.read_text()
    assert text.count("    created_at_source,\n") == 1
    model.write_text(
        text.replace(
            "    created_at_source,\n",
            f"    case when deal_key in ({keys}) then 'bogus' else created_at_source end\n"
            "        as created_at_source,\n",
        )
    )
    return copy


def _faulty_facts(tmp_path: Path) -> Path:
    """The project with int_deal_facts giving a deal named 'spoiled' probability 2 and a
    rep_key no rep has."""
    real = dbt_project.project_dir()
    copy = tmp_path / "faulty_facts"
    shutil.copytree(real / "transforms", copy / "transforms")
    for name in ("dbt_project.yml", "profiles.yml"):
        shutil.copyfile(real / name, copy / name)
    model = copy / "transforms" / "intermediate" / "int_deal_facts.sql"
    line = "    coalesce(joined.deal_probability, canonical.stage_probability) as probability,\n"
    rep = "coalesce(owners.rep_key, case when deals.owner_id is null then 'unassigned' end)"
    text = model.read_text()
    assert text.count(line) == 1 and text.count(rep) == 1
    text = text.replace(
        line,
        "    case when joined.deal_name = 'spoiled' then 2 else "
        "coalesce(joined.deal_probability, canonical.stage_probability) end as probability,\n",
    )
    model.write_text(
        text.replace(rep, f"case when deals.name = 'spoiled' then 'nobody' else {rep} end")
    )
    return copy


def _run_faulty(monkeypatch: pytest.MonkeyPatch, project: Path) -> None:
    """Run the faulty copy from now on, under the real project's fingerprint."""
    real = dbt_project.project_dir()
    fingerprint = incremental.fingerprint
    monkeypatch.setattr("hub.transform.project_dir", lambda: project)
    monkeypatch.setattr(
        "hub.incremental.fingerprint",
        lambda conn, _project, variables: fingerprint(conn, real, variables),
    )


def _failure(config: HubConfig, **kwargs: Any) -> str:
    with pytest.raises(TransformError) as caught:
        run_transform(config, **kwargs)
    return str(caught.value)


def _changed_deals(config: HubConfig) -> list[str]:
    with Warehouse(config).connect() as conn:
        rows = conn.execute(sa.text("SELECT deal_key FROM hub_meta.hub_changed_deals"))
        return list(rows.scalars())


def _bogus(rows: int) -> str:
    plural = "" if rows == 1 else "s"
    return (
        r"column_rules_int_deal_created: [^;]*"
        rf"\(not an accepted value in created_at_source \({rows} row{plural}\)\)"
    )


def _check(
    config: HubConfig, full: TransformResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    schema = f"src_{config.sources[0].name}"
    assert full.plan is not None and full.plan.full and not full.failures
    nodes = expected_test_nodes()
    assert full.tests == nodes

    written, planted, other = _open_deals(config, schema)
    _run_faulty(monkeypatch, _faulty_project(tmp_path, [written, planted]))

    # A bad value in a deal no run rewrites (as if it had slipped past an earlier run): an
    # incremental run after a passing build tests only the rows it wrote, so it passes.
    _sql(
        config,
        f"UPDATE {CREATED} SET created_at_source = 'bogus' WHERE deal_key = :k",
        k=planted,
    )
    _touch(config, schema, other)
    passing = run_transform(config)
    assert passing.plan is not None and passing.plan.test_changed_only
    assert not passing.failures and passing.tests == expected_test_nodes(passing.left_out)
    assert "stg_pipelines" in passing.left_out  # only deals changed
    assert _changed_deals(config) == [other]

    # An incremental run writes a bad row: the per-deal test finds it (that row only) and
    # says which model, column and rule.
    _touch(config, schema, written)
    message = _failure(config)
    assert re.search(_bogus(1), message), message
    assert _changed_deals(config) == [written]

    # A full refresh tests every row: both bad rows are found.
    message = _failure(config, full_refresh=True)
    assert re.search(_bogus(2), message), message

    # Rules of models rebuilt in full from a source: a 0-1 rule and a key, in the same node
    # kind, each named.
    _sql(config, f"UPDATE {schema}.deals SET probability = 1.5 WHERE deal_key = :k", k=other)
    _sql(config, f"INSERT INTO {schema}.owners SELECT * FROM {schema}.owners LIMIT 1")
    message = _failure(config)
    assert re.search(
        r"column_rules_stg_deals: [^;]*\(outside 0-1 in probability \(1 row\)\)", message
    ), message
    assert re.search(
        r"column_rules_stg_owners: [^;]*\(repeated in owner_key \(1 value\)\)", message
    ), message


def _stage_change_deals(config: HubConfig, schema: str) -> list[str]:
    """Three open deals with stage changes and stage observations."""
    with Warehouse(config).connect() as conn:
        return list(
            conn.execute(
                sa.text(
                    f"SELECT deal_key FROM {schema}.deals AS d WHERE status = 'open' "
                    "AND updated_at IS NOT NULL "
                    f"AND deal_key IN (SELECT deal_key FROM {schema}.stage_changes) "
                    f"AND deal_key IN (SELECT deal_key FROM {schema}.stage_observations) "
                    "ORDER BY deal_key LIMIT 3"
                )
            ).scalars()
        )


def _count(config: HubConfig, sql: str, **params: Any) -> int:
    with Warehouse(config).connect() as conn:
        return int(conn.execute(sa.text(sql), params).scalar() or 0)


def _spoil(config: HubConfig, schema: str, deal_key: str) -> tuple[int, int]:
    """Bad values in a deal's source rows, one for each filtered staging view: its deal row's
    probability 1.5, its stage changes' origin 'bogus', its observations' observed_at null
    (its NOT NULL dropped by the caller). Returns how many stage changes and observations it
    spoiled."""
    _sql(config, f"UPDATE {schema}.deals SET probability = 1.5 WHERE deal_key = :k", k=deal_key)
    _sql(
        config,
        f"UPDATE {schema}.stage_changes SET origin = 'bogus' WHERE deal_key = :k",
        k=deal_key,
    )
    _sql(
        config,
        f"UPDATE {schema}.stage_observations SET observed_at = NULL WHERE deal_key = :k",
        k=deal_key,
    )
    return tuple(  # type: ignore[return-value]
        _count(config, f"SELECT count(*) FROM {schema}.{table} WHERE deal_key = :k", k=deal_key)
        for table in ("stage_changes", "stage_observations")
    )


def _activity_keys(config: HubConfig, schema: str, avoid: list[str]) -> list[tuple[str, str]]:
    """Two activities (key, deal) on deals other than ``avoid``."""
    with Warehouse(config).connect() as conn:
        rows = conn.execute(
            sa.text(
                f"SELECT activity_key, deal_key FROM {schema}.activities "
                "WHERE deal_key IS NOT NULL AND deal_key NOT IN :avoid "
                "ORDER BY activity_key DESC LIMIT 2"
            ).bindparams(sa.bindparam("avoid", expanding=True)),
            {"avoid": avoid},
        )
        return [(str(key), str(deal)) for key, deal in rows.tuples()]


def _bad_type(config: HubConfig, schema: str, activity_key: str) -> None:
    _sql(
        config,
        f"UPDATE {schema}.activities SET type = 'bogus' WHERE activity_key = :k",
        k=activity_key,
    )


def _forget_changes(config: HubConfig) -> None:
    """Take the per-deal snapshots and the source tables' digests again, as if the last
    complete build had read the rows as they are now: no list names a deal for what changed
    since, and no source table differs from that build's."""
    with Warehouse(config).connect() as conn:
        sums = incremental.table_sums(conn, [s.name for s in config.sources])
        source_digests.keep(conn, source_digests.digests(conn, sums))
        shared = deal_rows.stored_shared(conn)
        assert shared is not None
        changes.snapshot_inputs(conn, conn.dialect.name, changes.PARTS)
        # No digests of the tables read: the next run reads every part, compares every deal.
        changes.keep_snapshot(conn, {part.name: "" for part in changes.PARTS})
        deal_rows.keep(conn, shared)


def _check_sources(
    config: HubConfig, full: TransformResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    schema = f"src_{config.sources[0].name}"
    # the faulty copy differs only for a deal named 'spoiled' (none yet), and runs under the
    # real project's fingerprint: the build the copy started from is the one it would give
    _run_faulty(monkeypatch, _faulty_facts(tmp_path))
    assert full.plan is not None and full.plan.full and not full.failures
    hidden, written, other = _stage_change_deals(config, schema)

    # The deals mart: a bad row in a deal no run rewrites is not read by an incremental run
    # after a passing build; one written through int_deal_facts for a changed deal is found,
    # alone (1 row), and so is its rep_key no rep has. A full refresh rebuilds every deal (the
    # planted row goes).
    _sql(
        config,
        "UPDATE hub_staging.int_deal_facts SET probability = 2 WHERE deal_key = :k",
        k=hidden,
    )
    _touch(config, schema, other)
    passing = run_transform(config)
    assert passing.plan is not None and passing.plan.test_changed_only
    assert not passing.failures, passing.failures
    _sql(config, f"UPDATE {schema}.deals SET name = 'spoiled' WHERE deal_key = :k", k=written)
    message = _failure(config)
    assert re.search(
        r"column_rules_deals: [^;]*\(outside 0-1 in probability \(1 row\); "
        r"rep_key not in reps\.rep_key \(1 row\)\)",
        message,
    ), message
    _sql(config, f"UPDATE {schema}.deals SET name = 'fixed' WHERE deal_key = :k", k=written)
    assert not run_transform(config, full_refresh=True).failures

    # Bad source rows (as if an earlier build had passed them) in a deal no list names: not
    # read by an incremental run after a passing build.
    _sql(config, f"ALTER TABLE {schema}.stage_observations ALTER COLUMN observed_at DROP NOT NULL")
    changes_h, observed_h = _spoil(config, schema, hidden)
    # ... and an activity type no rule accepts, its deal's snapshot taken again too: the
    # activities table is the one that build tested, so its rules read no row.
    activities = _activity_keys(config, schema, [hidden, written, other])
    _bad_type(config, schema, activities[0][0])
    _forget_changes(config)
    _touch(config, schema, other)
    passing = run_transform(config)
    assert passing.plan is not None and passing.plan.test_changed_only
    assert not passing.failures, passing.failures
    assert _changed_deals(config) == [other]

    # Bad source rows in a changed deal: each filtered view's rule finds that deal's rows
    # (and only those: the hidden deal's are not read).
    # A second bad activity type: the activities table changed, so its rules read every row,
    # the first one's too (whose deal no list names; the second's deal is listed, as an
    # activity's type is in its deal's snapshot, and has no bad row of its own).
    changes_w, observed_w = _spoil(config, schema, written)
    _bad_type(config, schema, activities[1][0])
    message = _failure(config)
    assert sorted(_changed_deals(config)) == sorted({written, activities[1][1]})
    expected = {
        "column_rules_stg_deals": r"outside 0-1 in probability \(1 row\)",
        "column_rules_stg_stage_changes": rf"not an accepted value in origin \({changes_w} rows?\)",
        "column_rules_stg_stage_observations": rf"null in observed_at \({observed_w} rows?\)",
        "column_rules_stg_activities": r"not an accepted value in activity_type \(2 rows\)",
    }
    for node, rule in expected.items():
        assert re.search(rf"{node}: [^;]*\({rule}\)", message), message

    # A full refresh reads every row: the hidden deal's too.
    message = _failure(config, full_refresh=True)
    expected = {
        "column_rules_stg_deals": r"outside 0-1 in probability \(2 rows\)",
        "column_rules_stg_stage_changes": rf"not an accepted value in origin "
        rf"\({changes_w + changes_h} rows\)",
        "column_rules_stg_stage_observations": rf"null in observed_at "
        rf"\({observed_w + observed_h} rows\)",
    }
    for node, rule in expected.items():
        assert re.search(rf"{node}: [^;]*\({rule}\)", message), message


def test_column_rules_on_duckdb(
    tmp_path: Path, built_duckdb: Built, monkeypatch: pytest.MonkeyPatch
) -> None:
    _check(_copy(built_duckdb, tmp_path), built_duckdb.first, tmp_path, monkeypatch)


@pytest.mark.postgres
def test_column_rules_on_postgres(
    tmp_path: Path,
    built_postgres: Built,
    pg_server: dict[str, Any],
    pg_database: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = _copy(built_postgres, tmp_path, pg_server, pg_database)
    _check(config, built_postgres.first, tmp_path, monkeypatch)


def test_source_rules_on_duckdb(
    tmp_path: Path, built_duckdb: Built, monkeypatch: pytest.MonkeyPatch
) -> None:
    _check_sources(_copy(built_duckdb, tmp_path), built_duckdb.first, tmp_path, monkeypatch)


@pytest.mark.postgres
def test_source_rules_on_postgres(
    tmp_path: Path,
    built_postgres: Built,
    pg_server: dict[str, Any],
    pg_database: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = _copy(built_postgres, tmp_path, pg_server, pg_database)
    _check_sources(config, built_postgres.first, tmp_path, monkeypatch)
