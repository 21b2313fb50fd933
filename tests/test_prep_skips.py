"""What the transform's preparation skips, and that each skip sees the change it depends on.

- PostgreSQL's kept sums of a source table (``hub.warehouse.row_versions``: kept while the
  rows per transaction id and the columns stay) against the sum computed whole and Python's
  equality of the table's rows: no write reuses it, every write computes it again.
- hub.yml's tables are rewritten only when hub.yml or the table differs
  (``hub.warehouse.config_tables``), against the rows read back and PostgreSQL's ``xmin``.
- End to end on PostgreSQL, with real dbt: the full build's snapshot taken beside the deal
  scores equals one taken afterwards; a value changed in place (``UPDATE``, the row count
  unchanged) is not taken for "nothing changed"; the marts show it. Run as a sync runs them
  (a fresh interpreter): the unchanged transform never imports dbt, the changed one begins
  dbt's import while it plans (``hub.dbt_import``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from hub.generate import Generated
from hub.incremental import table_sums
from hub.pull import run_pull
from hub.transform import prepare_warehouse, run_transform
from hub.warehouse import Warehouse, changes
from hub.warehouse.meta import has_table, hub_fx_rates, hub_stage_map
from hub.warehouse.row_hash import column_types, row_hash
from models.config import HubConfig, load_config
from tests.harness import write_hub_yml
from tests.pg import pg_engine, pg_warehouse

pytestmark = pytest.mark.postgres


def _sums(conn: sa.Connection) -> dict[str, tuple[int, str]]:
    return {name: (n, h) for name, n, h in table_sums(conn, ["s"])}


def _rows(conn: sa.Connection) -> list[tuple]:
    return sorted(conn.execute(sa.text("SELECT * FROM src_s.deals")).all(), key=repr)


def _hashed_now(conn: sa.Connection) -> str:
    """The table's sum of row hashes computed whole, as DuckDB's path does (no kept sums)."""
    types = column_types(conn, [("src_s", "deals")])[("src_s", "deals")]
    sql = f"SELECT sum({row_hash('postgresql', 'deals', types, 't')}) FROM src_s.deals AS t"
    return str(conn.execute(sa.text(sql)).scalar())


def test_kept_sums_are_used_only_while_the_row_versions_stay(
    pg_database: dict[str, Any],
) -> None:
    """Before each write the kept sum is spoiled on purpose: a run with no write must return
    it (it was not computed again), and any write must give the table's true sum."""
    engine = pg_engine(pg_database)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE SCHEMA src_s"))
        conn.execute(sa.text("CREATE TABLE src_s.deals (deal_key text, amount numeric)"))
        conn.execute(sa.text("INSERT INTO src_s.deals VALUES ('a', 1), ('b', 2), ('c', 3)"))
        conn.execute(sa.text("CREATE TABLE src_s.quarantine (record_id text)"))
        # an empty table reads as the whole-table sum of no rows (NULL) did before
        assert _sums(conn)["src_s.quarantine"] == (0, "None")
    writes = [
        ("nothing", None),
        ("a value changed in place", "UPDATE src_s.deals SET amount = 5 WHERE deal_key = 'a'"),
        ("a row set to what it was", "UPDATE src_s.deals SET amount = amount WHERE deal_key = 'b'"),
        ("deleted and inserted the same", "DELETE FROM src_s.deals WHERE deal_key = 'c'; "
         "INSERT INTO src_s.deals VALUES ('c', 3)"),
        ("one row swapped for another", "DELETE FROM src_s.deals WHERE deal_key = 'a'; "
         "INSERT INTO src_s.deals VALUES ('d', 5)"),
        ("emptied and filled again", "TRUNCATE src_s.deals; "
         "INSERT INTO src_s.deals VALUES ('b', 2), ('c', 3), ('e', 5)"),
        ("a column added", "ALTER TABLE src_s.deals ADD COLUMN note text"),
        ("a row deleted", "DELETE FROM src_s.deals WHERE deal_key = 'e'"),
        ("nothing again", None),
    ]  # fmt: skip
    for what, sql in writes:
        with engine.begin() as conn:
            if has_table(conn, "hub_meta", "hub_table_sums"):  # computed afresh, then kept
                conn.execute(sa.text("DELETE FROM hub_meta.hub_table_sums"))
            before, rows_before = _sums(conn), _rows(conn)
            assert before["src_s.deals"][1] == _hashed_now(conn), what
            conn.execute(sa.text("UPDATE hub_meta.hub_table_sums SET sum_hash = 'spoiled'"))
        if sql:
            with engine.begin() as conn:
                for statement in sql.split("; "):
                    conn.execute(sa.text(statement))
        with engine.begin() as conn:
            after, rows_after = _sums(conn), _rows(conn)
            true_sum = _hashed_now(conn)
        n, sum_hash = after["src_s.deals"]
        assert n == len(rows_after), what
        if sql is None:  # the kept sum, not computed again
            assert sum_hash == "spoiled", what
            continue
        assert sum_hash == true_sum, what
        # the oracle: Python's equality of the rows (a column added changes every row)
        assert (sum_hash == before["src_s.deals"][1]) == (
            rows_after == rows_before and what != "a column added"
        ), what
    engine.dispose()


def _config(tmp_path: Path, warehouse: dict[str, Any] | None, rate: float) -> HubConfig:
    raw: dict[str, Any] = {"base_currency": "USD", "fx_rates": {"EUR": rate}, "sources": []}
    if warehouse:
        raw["warehouse"] = warehouse
    return load_config(write_hub_yml(tmp_path, raw))


@pytest.mark.parametrize("kind", ["duckdb", "postgres"])
def test_hub_yml_tables_are_rewritten_only_when_they_differ(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    warehouse = pg_warehouse(request.getfixturevalue("pg_database")) if kind == "postgres" else None
    config = _config(tmp_path, warehouse, 1.1)
    prepare_warehouse(config)

    def fx(conn: sa.Connection) -> dict[str, tuple[float, str]]:
        version = "xmin::text" if kind == "postgres" else "''"
        rows = conn.execute(sa.text(f"SELECT currency, rate_to_base, {version} FROM {_fx()}"))
        return {r[0]: (r[1], r[2]) for r in rows}

    with Warehouse(config).connect() as conn:
        first = fx(conn)
    assert {c: r for c, (r, _) in first.items()} == {"USD": 1.0, "EUR": 1.1}

    prepare_warehouse(config)  # the same hub.yml: the rows are the same row versions
    with Warehouse(config).connect() as conn:
        assert fx(conn) == first

    config = _config(tmp_path, warehouse, 1.25)  # hub.yml changed: rewritten
    prepare_warehouse(config)
    with Warehouse(config).connect() as conn:
        assert {c: r for c, (r, _) in fx(conn).items()} == {"USD": 1.0, "EUR": 1.25}
        # changed by hand: a row gone, a stage map row added; both put back as hub.yml says
        conn.execute(sa.text(f"DELETE FROM {_fx()} WHERE currency = 'EUR'"))
        conn.execute(
            hub_stage_map.insert(),
            {"source_name": "x", "pipeline": "*", "native_stage": "a", "canonical_stage": "lost"},
        )
    prepare_warehouse(config)
    with Warehouse(config).connect() as conn:
        assert {c: r for c, (r, _) in fx(conn).items()} == {"USD": 1.0, "EUR": 1.25}
        assert conn.execute(sa.select(sa.func.count()).select_from(hub_stage_map)).scalar() == 0
        # an older version's column type (REAL: 4 bytes), holding the same values
        conn.execute(sa.text(f"DROP TABLE {_fx()}"))
        conn.execute(
            sa.text(f"CREATE TABLE {_fx()} (currency varchar NOT NULL, rate_to_base real NOT NULL)")
        )
        conn.execute(sa.text(f"INSERT INTO {_fx()} VALUES ('USD', 1.0), ('EUR', 1.25)"))
    prepare_warehouse(config)
    with Warehouse(config).connect() as conn:
        data_type = conn.execute(
            sa.text(
                "SELECT lower(data_type) FROM information_schema.columns WHERE table_schema = "
                "'hub_meta' AND table_name = 'hub_fx_rates' AND column_name = 'rate_to_base'"
            )
        ).scalar()
    assert data_type in ("double", "double precision")


def _fx() -> str:
    return f"{hub_fx_rates.schema}.{hub_fx_rates.name}"


_TRANSFORM = """
import json, sys
from hub import dbt_import
from hub.transform import run_transform
from models.config import load_config
result = run_transform(load_config(sys.argv[1]))
print(json.dumps({
    "skip": bool(result.plan and result.plan.skip),
    "failures": result.failures,
    "dbt_imported": "dbt.cli.main" in sys.modules,
    "import_begun": dbt_import._thread is not None,
}))
"""


def _transform_in_new_process(hub_yml: Path) -> dict[str, Any]:
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run(
        [sys.executable, "-c", _TRANSFORM, str(hub_yml)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(root)},
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    assert not result["failures"], result
    return result


@pytest.mark.xdist_group("incremental-postgres")
def test_a_value_changed_in_place_is_not_taken_for_no_change_on_postgres(
    tmp_path: Path, small_export: Generated, pg_database: dict[str, Any]
) -> None:
    root = tmp_path / "project"
    shutil.copytree(small_export.export.out_dir, root)
    raw = yaml.safe_load((root / "hub.yml").read_text(encoding="utf-8"))
    raw.update(warehouse=pg_warehouse(pg_database), as_of="2026-06-30T00:00:00Z")
    (root / "hub.yml").write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    config = load_config(root / "hub.yml")
    (run,) = run_pull(config)
    assert run.status == "ok", run.error
    assert not run_transform(config).failures
    # The full build's snapshot was taken beside the deal scores: the same as one taken now.
    with Warehouse(config).connect() as conn:
        kept = sorted(conn.execute(sa.text(f"SELECT * FROM {changes.INPUTS}")).all())
        changes.snapshot_inputs(conn, "postgresql", changes.PARTS)
        again = sorted(conn.execute(sa.text(f"SELECT * FROM {changes.NEXT_INPUTS}")).all())
        conn.execute(sa.text(f"DROP TABLE {changes.NEXT_INPUTS}"))
    assert len(kept) == len({r[0] for r in kept}) and kept == again and len(kept) >= 400
    # In a fresh interpreter, as a sync runs it: nothing changed, so dbt is never imported.
    unchanged = _transform_in_new_process(root / "hub.yml")
    assert unchanged["skip"] and not unchanged["dbt_imported"], unchanged

    schema = f"src_{config.sources[0].name}"
    with Warehouse(config).connect() as conn:
        n_owners = conn.execute(sa.text(f"SELECT count(*) FROM {schema}.owners")).scalar()
        owner = conn.execute(sa.text(f"SELECT owner_key FROM {schema}.owners LIMIT 1")).scalar()
        conn.execute(
            sa.text(f"UPDATE {schema}.owners SET name = 'Renamed In Place' WHERE owner_key = :k"),
            {"k": owner},
        )
        assert conn.execute(sa.text(f"SELECT count(*) FROM {schema}.owners")).scalar() == n_owners
    # dbt will run: its import was begun (hub.dbt_import) while the plan was being made.
    renamed = _transform_in_new_process(root / "hub.yml")
    assert not renamed["skip"] and renamed["import_begun"], renamed
    with Warehouse(config).connect() as conn:
        names = conn.execute(sa.text("SELECT rep_name FROM analytics.reps")).scalars().all()
    assert "Renamed In Place" in names
