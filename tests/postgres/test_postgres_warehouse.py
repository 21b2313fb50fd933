"""The same hub on PostgreSQL: loads, every mart equal to DuckDB's, clear errors."""

from __future__ import annotations

import math
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from hub.generate import Generated
from hub.pull import run_pull
from hub.transform import run_transform, temporary_environ
from hub.warehouse import Warehouse
from models.config import HubConfig, load_config
from tests.normal_rows import normal_rows, rows_apart
from tests.pg import pg_engine, pg_warehouse


def _project(
    root: Path,
    export: Generated,
    warehouse: dict[str, Any] | None,
    dimensions: list[str] | None = None,
) -> HubConfig:
    shutil.copytree(export.export.out_dir, root, dirs_exist_ok=True)
    raw = yaml.safe_load((root / "hub.yml").read_text())
    if warehouse:
        raw["warehouse"] = warehouse
    if dimensions:
        raw["dimensions"] = dimensions
    (root / "hub.yml").write_text(yaml.safe_dump(raw))
    return load_config(root / "hub.yml")


def _tables(config: HubConfig, schema: str) -> dict[str, list[tuple]]:
    warehouse = Warehouse(config)
    with warehouse.connect() as conn:
        inspector = sa.inspect(conn)  # views too: some marts are views (deal_stage_history)
        names = sorted(inspector.get_table_names(schema=schema) + inspector.get_view_names(schema))
        out = {}
        for name in names:
            rows = conn.execute(sa.text(f"SELECT * FROM {schema}.{name}")).all()
            columns = list(conn.execute(sa.text(f"SELECT * FROM {schema}.{name} LIMIT 0")).keys())
            normal = normal_rows(rows)
            out[name] = (columns, sorted(normal, key=repr))
        return out


@pytest.mark.postgres
def test_every_mart_is_equal_on_duckdb_and_postgres(
    tmp_path: Path, small_export: Generated, pg_database: dict[str, Any]
) -> None:
    # hub.yml dimensions reach dbt (a deal column, and an account column no source has: the
    # export has no accounts, so every deal reads NULL there)
    dimensions = ["currency", "industry"]
    duck = _project(tmp_path / "duck", small_export, None, dimensions)
    pg = _project(tmp_path / "pg", small_export, pg_warehouse(pg_database), dimensions)
    for config in (duck, pg):
        (run,) = run_pull(config)
        assert run.status == "ok", run.error
        run_transform(config)
    duck_marts, pg_marts = _tables(duck, "analytics"), _tables(pg, "analytics")
    assert sorted(pg_marts) == sorted(duck_marts)
    assert len(duck_marts) >= 10
    assert {f"{m}_by_dimension" for m in ("win_rate", "forecast")} <= set(duck_marts)
    breakdown_columns, breakdown = duck_marts["win_rate_by_dimension"]
    assert {row[breakdown_columns.index("dimension")] for row in breakdown} == set(dimensions)
    for name, (columns, rows) in duck_marts.items():
        pg_columns, pg_rows = pg_marts[name]
        assert pg_columns == columns, name
        assert len(pg_rows) == len(rows), name
        apart = rows_apart(pg_rows, rows)
        assert not apart, f"mart {name} differs between DuckDB and PostgreSQL: {apart[:5]}"


@pytest.mark.postgres
def test_the_timezone_of_timestamps_does_not_shift_between_warehouses(
    tmp_path: Path, small_export: Generated, pg_database: dict[str, Any]
) -> None:
    pg = _project(tmp_path / "pg", small_export, pg_warehouse(pg_database))
    (run,) = run_pull(pg)
    assert run.status == "ok", run.error
    with Warehouse(pg).connect() as conn:
        first = conn.execute(
            sa.text("SELECT created_at FROM src_crm_export.deals WHERE source_deal_id = 'D0000001'")
        ).scalar()
    expected = next(
        line
        for line in (small_export.export.out_dir / "deals.csv").read_text().splitlines()
        if line.startswith("D0000001,")
    )
    assert first is not None and first.strftime("%Y-%m-%dT%H:%M") in expected


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("change", "expected"),
    [
        pytest.param({"port": 1}, "cannot reach PostgreSQL at 127.0.0.1:1", id="unreachable-host"),
        pytest.param(
            {"password": "env:HUB_TEST_WRONG_PASSWORD"}, "refused user", id="wrong-password"
        ),
        pytest.param(
            {"database": "no_such_db"},
            "database 'no_such_db' does not exist",
            id="missing-database",
        ),
    ],
)
def test_bad_warehouse_config_is_one_clear_line_without_the_password(
    cli,
    tmp_path: Path,
    small_export: Generated,
    pg_server: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    change: dict[str, Any],
    expected: str,
) -> None:
    monkeypatch.setenv("HUB_TEST_WRONG_PASSWORD", "definitely-not-it-123")
    warehouse = {**pg_warehouse(pg_server), **change}
    config = _project(tmp_path, small_export, warehouse)
    result = cli("pull", "--config", config.config_path)
    assert result.exit_code == 1, result.output
    assert expected in result.output
    assert "Traceback" not in result.output
    assert pg_server["password"] not in result.output
    assert "definitely-not-it-123" not in result.output
    assert len([line for line in result.output.splitlines() if line.startswith("error:")]) == 1


@pytest.mark.postgres
def test_no_permission_to_create_a_schema_says_what_to_grant(
    cli, tmp_path: Path, small_export: Generated, pg_database: dict[str, Any]
) -> None:
    admin = pg_engine(pg_database, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text("DROP ROLE IF EXISTS hub_reader"))
        conn.execute(sa.text("CREATE ROLE hub_reader LOGIN PASSWORD 'reader-pass-42'"))
        conn.execute(sa.text(f'REVOKE CREATE ON DATABASE "{pg_database["database"]}" FROM PUBLIC'))
    admin.dispose()
    warehouse = {
        **pg_warehouse(pg_database),
        "user": "hub_reader",
        "password": "env:HUB_TEST_READER_PW",
    }

    os.environ["HUB_TEST_READER_PW"] = "reader-pass-42"
    config = _project(tmp_path, small_export, warehouse)
    result = cli("pull", "--config", config.config_path)
    assert result.exit_code == 1, result.output
    assert "may not create schemas" in result.output and "GRANT CREATE ON DATABASE" in result.output
    assert "reader-pass-42" not in result.output


# DuckDB column type -> PostgreSQL, for copying the transforms fixture across. custom_fields is
# jsonb, as dlt creates json columns on PostgreSQL.
_PG_TYPES = {
    "VARCHAR": "text",
    "JSON": "jsonb",
    "BOOLEAN": "boolean",
    "BIGINT": "bigint",
    "INTEGER": "bigint",
    "DOUBLE": "double precision",
    "DATE": "date",
    "TIMESTAMP": "timestamp",
    "TIMESTAMP WITH TIME ZONE": "timestamptz",
}


def _copy_to_postgres(duck_path: Path, db: dict[str, Any]) -> int:
    """Every table of the fixture's DuckDB file, same schema, names, types and rows."""
    import duckdb

    src = duckdb.connect(str(duck_path), read_only=True)
    tables = src.execute(
        "select table_schema, table_name from information_schema.tables "
        "where table_catalog = ? and table_type = 'BASE TABLE'",
        [duck_path.stem],
    ).fetchall()
    engine = pg_engine(db)
    n_rows = 0
    with engine.begin() as conn:
        for schema, table in tables:
            columns = src.execute(
                "select column_name, data_type from information_schema.columns "
                "where table_catalog = ? and table_schema = ? and table_name = ? "
                "order by ordinal_position",
                [duck_path.stem, schema, table],
            ).fetchall()
            types = [_PG_TYPES.get(t, t.replace("DECIMAL", "numeric")) for _, t in columns]
            conn.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            conn.exec_driver_sql(
                f'CREATE TABLE "{schema}"."{table}" ('
                + ", ".join(f'"{c}" {t}' for (c, _), t in zip(columns, types, strict=True))
                + ")"
            )
            rows = src.execute(f'select * from "{duck_path.stem}"."{schema}"."{table}"').fetchall()
            if rows:
                marks = ", ".join(["%s"] * len(columns))
                conn.exec_driver_sql(f'INSERT INTO "{schema}"."{table}" VALUES ({marks})', rows)
                n_rows += len(rows)
    engine.dispose()
    src.close()
    return n_rows


def _dbt_on(target_env: dict[str, str], tmp: Path, variables: dict[str, Any]) -> None:
    from tests.transforms.conftest import run_dbt

    with temporary_environ(target_env):
        res = run_dbt(tmp / "hub.duckdb", tmp / "target", ["build"], variables)
    failed = [
        (r.node.name, r.message) for r in res.result or [] if str(r.status) in ("error", "fail")
    ]
    assert res.success and not failed, failed


def _analytics_duckdb(path: Path) -> dict[str, tuple[list[str], list[tuple]]]:
    import duckdb

    con = duckdb.connect(str(path), read_only=True)
    out = {}
    for (name,) in con.execute(
        "select table_name from information_schema.tables where table_schema = 'analytics'"
    ).fetchall():
        cur = con.execute(f"select * from analytics.{name}")
        columns = [d[0] for d in cur.description]
        rows = normal_rows(cur.fetchall())
        out[name] = (columns, sorted(rows, key=repr))
    con.close()
    return out


def _analytics_postgres(db: dict[str, Any]) -> dict[str, tuple[list[str], list[tuple]]]:
    engine = pg_engine(db)
    out = {}
    with engine.connect() as conn:
        inspector = sa.inspect(conn)  # views too, as information_schema.tables lists them
        names = inspector.get_table_names("analytics") + inspector.get_view_names("analytics")
        for name in names:
            result = conn.execute(sa.text(f"SELECT * FROM analytics.{name}"))
            columns = list(result.keys())
            rows = normal_rows(result.all())
            out[name] = (columns, sorted(rows, key=repr))
    engine.dispose()
    return out


@pytest.mark.postgres
def test_accounts_fields_duplicates_and_breakdowns_are_equal_on_duckdb_and_postgres(
    tmp_path: Path, pg_database: dict[str, Any]
) -> None:
    """The transforms fixture (accounts, custom fields of every type, duplicates, resolution,
    dimensions of every kind, deals without a creation date, closes from an engage/close
    export) built on both warehouses: every mart equal, row for row."""
    from tests.transforms.fixtures import build_warehouse, dbt_vars

    duck_dir, pg_dir = tmp_path / "duck", tmp_path / "pg"
    duck_dir.mkdir()
    pg_dir.mkdir()
    build_warehouse(duck_dir / "hub.duckdb", n_deals=400)
    assert _copy_to_postgres(duck_dir / "hub.duckdb", pg_database) > 1000
    variables = {
        **dbt_vars(),
        "dimensions": ["lead_source", "currency", "industry", "segment", "score"],
    }
    _dbt_on({"HUB_DBT_TARGET": "duckdb"}, duck_dir, variables)
    _dbt_on(
        {
            "HUB_DBT_TARGET": "postgres",
            "HUB_PG_HOST": pg_database["host"],
            "HUB_PG_PORT": str(pg_database["port"]),
            "HUB_PG_USER": pg_database["user"],
            "HUB_PG_PASSWORD": pg_database["password"],
            "HUB_PG_DATABASE": pg_database["database"],
        },
        pg_dir,
        variables,
    )
    duck, pg = _analytics_duckdb(duck_dir / "hub.duckdb"), _analytics_postgres(pg_database)
    assert sorted(pg) == sorted(duck)
    for name in (
        "accounts",
        "duplicate_deals",
        "deal_fields",
        "account_fields",
        "sales_cycle_by_period",
        "stage_conversion_by_rep",
        "time_in_stage_by_rep",
    ):
        assert duck[name][1], f"{name} is empty: the comparison would prove nothing"
    # every way of dating a deal (issue #14) and the all-time rows are part of the comparison
    columns, rows = duck["deals"]
    sources = {row[columns.index("created_at_source")] for row in rows}
    assert sources == {"crm", "first_stage_event", "first_activity", "closed_at", "first_seen"}
    columns, rows = duck["win_rate"]
    assert "all" in {row[columns.index("period_type")] for row in rows}
    for name, (columns, rows) in duck.items():
        pg_columns, pg_rows = pg[name]
        assert pg_columns == columns, name
        assert len(pg_rows) == len(rows), name
        for pg_row, row in zip(pg_rows, rows, strict=True):
            assert _same_row(pg_row, row), f"mart {name} differs: {pg_row} != {row}"


def _same_row(a: tuple, b: tuple) -> bool:
    """Equal, figures to 1e-9 relative (6-decimal rounding can fall either side of a 5)."""
    return all(
        math.isclose(x, y, rel_tol=1e-9, abs_tol=2e-6)
        if isinstance(x, float) and isinstance(y, float)
        else x == y
        for x, y in zip(a, b, strict=True)
    )
