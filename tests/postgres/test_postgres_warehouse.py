"""The same hub on PostgreSQL: loads, every mart equal to DuckDB's, clear errors."""

from __future__ import annotations

import math
import shutil
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from hub.generate import Generated
from hub.pull import run_pull
from hub.transform import run_transform
from hub.warehouse import Warehouse
from models.config import HubConfig, load_config
from tests.pg import pg_engine, pg_warehouse


def _project(root: Path, export: Generated, warehouse: dict[str, Any] | None) -> HubConfig:
    shutil.copytree(export.export.out_dir, root, dirs_exist_ok=True)
    raw = yaml.safe_load((root / "hub.yml").read_text())
    if warehouse:
        raw["warehouse"] = warehouse
    (root / "hub.yml").write_text(yaml.safe_dump(raw))
    return load_config(root / "hub.yml")


def _normal(value: Any) -> Any:
    """One representation per value, whichever database produced it."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, Decimal | float | int):
        number = float(value)
        return None if math.isnan(number) else round(number, 6)
    if isinstance(value, datetime):
        return (
            value.replace(tzinfo=None).isoformat()
            if value.tzinfo is None
            else value.astimezone(tz=None).replace(tzinfo=None).isoformat()
        )
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _tables(config: HubConfig, schema: str) -> dict[str, list[tuple]]:
    warehouse = Warehouse(config)
    with warehouse.connect() as conn:
        names = sorted(sa.inspect(conn).get_table_names(schema=schema))
        out = {}
        for name in names:
            rows = conn.execute(sa.text(f"SELECT * FROM {schema}.{name}")).all()
            columns = list(conn.execute(sa.text(f"SELECT * FROM {schema}.{name} LIMIT 0")).keys())
            normal = [tuple(_normal(v) for v in row) for row in rows]
            out[name] = (columns, sorted(normal, key=repr))
        return out


@pytest.mark.postgres
def test_every_mart_is_equal_on_duckdb_and_postgres(
    tmp_path: Path, small_export: Generated, pg_database: dict[str, Any]
) -> None:
    duck = _project(tmp_path / "duck", small_export, None)
    pg = _project(tmp_path / "pg", small_export, pg_warehouse(pg_database))
    for config in (duck, pg):
        (run,) = run_pull(config)
        assert run.status == "ok", run.error
        run_transform(config)
    duck_marts, pg_marts = _tables(duck, "analytics"), _tables(pg, "analytics")
    assert sorted(pg_marts) == sorted(duck_marts)
    assert len(duck_marts) >= 10
    for name, (columns, rows) in duck_marts.items():
        pg_columns, pg_rows = pg_marts[name]
        assert pg_columns == columns, name
        assert len(pg_rows) == len(rows), name
        assert pg_rows == rows, f"mart {name} differs between DuckDB and PostgreSQL"


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
    import os

    os.environ["HUB_TEST_READER_PW"] = "reader-pass-42"
    config = _project(tmp_path, small_export, warehouse)
    result = cli("pull", "--config", config.config_path)
    assert result.exit_code == 1, result.output
    assert "may not create schemas" in result.output and "GRANT CREATE ON DATABASE" in result.output
    assert "reader-pass-42" not in result.output
