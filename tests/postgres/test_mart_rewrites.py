"""The stage conversion and win rate marts were rewritten so PostgreSQL plans them well at 1M
deals (deals reduced before dimensions, stages and grouping sets meet them), and the
*_by_dimension marts copy their all-values rows from the plain marts, and lead_response_time
finds the sources with activities without reading them all. The SQL they
replaced is kept in oracle_marts.sql; here both run on the same generated world (the
transforms fixture: three generated sources, hand-written edge deals, every kind of
dimension) and must give the same rows, on DuckDB and on PostgreSQL.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from hub.transform import temporary_environ
from tests.normal_rows import normal_rows
from tests.pg import fresh_database, pg_engine
from tests.postgres.test_postgres_warehouse import _copy_to_postgres

ORACLE = Path(__file__).with_name("oracle_marts.sql")
MARTS = {  # mart -> (old macro, its by_dimension argument)
    "stage_conversion": ("oracle_stage_conversion_mart", "false"),
    "stage_conversion_by_dimension": ("oracle_stage_conversion_mart", "true"),
    "stage_conversion_by_rep": ("oracle_stage_conversion_mart", "'rep'"),
    "win_rate": ("oracle_win_rate_mart", "false"),
    "win_rate_by_dimension": ("oracle_win_rate_mart", "true"),
    # their all-values rows ('*') copied from the plain marts (macro hub_all_values_rows)
    "deal_size_by_dimension": ("oracle_deal_size_mart", "true"),
    # on PostgreSQL also: percentiles found by bucket from day counts kept as sums
    "sales_cycle_by_dimension": ("oracle_sales_cycle_mart", "true"),
    # on PostgreSQL also: open deals summed per group before the grouping sets
    "forecast_by_dimension": ("oracle_forecast_mart", "true"),
    # the all-time, all-reps rows of int_sales_cycle_periods
    "sales_cycle": ("oracle_sales_cycle_mart", "false"),
    # int_sales_cycle_periods (from int_deal_period_facts, rebuilt by touched period) and a view
    "sales_cycle_by_period": ("oracle_sales_cycle_by_period_mart", "false"),
    # on PostgreSQL, the sources with activities probed for one row each (hub_sources_with_rows)
    "lead_response_time": ("oracle_lead_response_time_mart", "false"),
    # spells from int_closed_spell_facts; on PostgreSQL, percentiles found by bucket
    "time_in_stage_by_rep": ("oracle_time_in_stage_mart", "'rep'"),
}
# figures compared to one unit of their 6th decimal, not equal once rounded: time_in_stage_by_rep's mean
# is now an exact sum over a count, avg() summed floats in scan order; a mean lying on a
# 6-decimal rounding edge rounded either way. sales_cycle_by_period's avg() sums the same
# floats as the old SQL's, in another scan order.
APPROX = {
    "time_in_stage_by_rep": ["mean_days"],
    "sales_cycle_by_period": ["mean_days"],
    # on PostgreSQL an exact sum of whole seconds over the count (macro hub_cycle_percentiles)
    "sales_cycle": ["mean_days"],
    # on PostgreSQL an exact (numeric) sum of days over the count (macro hub_ranked_percentiles)
    "sales_cycle_by_dimension": ["mean_days"],
}
DIMENSIONS = ["lead_source", "currency", "industry", "segment", "score"]


class Target:
    """One warehouse built from the fixture: runs dbt on it and queries it."""

    def __init__(self, kind: str, folder: Path, pg: dict[str, Any] | None) -> None:
        self.kind, self.folder, self.pg = kind, folder, pg
        self.oracles: dict[str, str] = {}  # mart -> the old SQL, compiled (_oracle_sql)

    def env(self) -> dict[str, str]:
        if self.pg is None:
            return {"HUB_DBT_TARGET": "duckdb"}
        return {
            "HUB_DBT_TARGET": "postgres",
            "HUB_PG_HOST": self.pg["host"],
            "HUB_PG_PORT": str(self.pg["port"]),
            "HUB_PG_USER": self.pg["user"],
            "HUB_PG_PASSWORD": self.pg["password"],
            "HUB_PG_DATABASE": self.pg["database"],
        }

    def dbt(self, args: list[str]) -> Any:
        from tests.transforms.conftest import run_dbt
        from tests.transforms.fixtures import dbt_vars

        with temporary_environ(self.env()):
            return run_dbt(
                self.folder / "hub.duckdb",
                self.folder / "target",
                args,
                {**dbt_vars(), "dimensions": DIMENSIONS},
            )

    def query(self, sql: str) -> tuple[list[str], list[tuple]]:
        if self.pg is None:
            import duckdb

            con = duckdb.connect(str(self.folder / "hub.duckdb"), read_only=True)
            try:
                cur = con.execute(sql)
                return [d[0] for d in cur.description], cur.fetchall()
            finally:
                con.close()
        engine = pg_engine(self.pg)
        try:
            with engine.connect() as conn:
                result = conn.execute(sa.text(sql))
                return list(result.keys()), [tuple(r) for r in result.all()]
        finally:
            engine.dispose()

    def column_types(self, sql: str) -> list[str]:
        """The SQL types of a query's columns, as the warehouse names them."""
        if self.pg is None:
            _, rows = self.query(f"describe {sql}")
            return [str(r[1]) for r in rows]
        engine = pg_engine(self.pg)
        try:
            with engine.begin() as conn:
                conn.execute(sa.text(f"create temporary table probe as {sql} limit 0"))
                rows = conn.execute(
                    sa.text(
                        "select format_type(atttypid, atttypmod) from pg_attribute "
                        "where attrelid = 'probe'::regclass and attnum > 0 order by attnum"
                    )
                ).all()
                return [r[0] for r in rows]
        finally:
            engine.dispose()


@pytest.fixture(scope="module", params=["duckdb", "postgres"])
def target(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Target]:
    from tests.transforms.fixtures import build_warehouse

    folder = tmp_path_factory.mktemp(f"rewrites-{request.param}")
    build_warehouse(folder / "hub.duckdb")
    if request.param == "duckdb":
        built = Target("duckdb", folder, None)
    else:
        database = request.getfixturevalue("pg_database_module")
        assert _copy_to_postgres(folder / "hub.duckdb", database) > 1000
        built = Target("postgres", folder, database)
    # the old SQL reads the spells view, which the rewritten marts no longer need
    res = built.dbt(["run", "--select", "+int_deal_stage_spells", *(f"+{mart}" for mart in MARTS)])
    failed = [(r.node.name, r.message) for r in res.result or [] if str(r.status) == "error"]
    assert res.success and not failed, failed
    yield built


@pytest.fixture(scope="module")
def pg_database_module(pg_server: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """A fresh database for this module's PostgreSQL half, dropped afterwards."""
    with fresh_database(pg_server) as database:
        yield database


def _oracle_sql(target: Target, mart: str) -> str:
    """The old SQL for one mart, compiled by dbt against this warehouse (refs, vars,
    dimensions resolved as the project resolves them). dbt takes no macro definitions in
    inline SQL, so each old macro's body is compiled with its argument set in front, in a
    ``with`` block of its own; all the marts' in one ``dbt compile`` (one per mart cost a
    dbt start, ~2 CPU-s, each), split at a comment naming the mart."""
    if not target.oracles:
        parts = []
        for name, (macro, by_dimension) in MARTS.items():
            body = ORACLE.read_text().split(f"{{% macro {macro}(by_dimension=false) -%}}", 1)[1]
            body = body.split("{%- endmacro %}", 1)[0]
            parts.append(
                f"/* oracle of {name} */\n{{% with by_dimension = {by_dimension} %}}\n"
                f"{body}\n{{% endwith %}}\n"
            )
        res = target.dbt(["compile", "--inline", "".join(parts)])
        assert res.success, res.exception
        (node,) = res.result.results
        pieces = re.split(r"/\* oracle of (\w+) \*/", str(node.node.compiled_code))
        target.oracles.update(zip(pieces[1::2], pieces[2::2], strict=True))
        assert sorted(target.oracles) == sorted(MARTS)
    return target.oracles[mart]


def _rows(columns_rows: tuple[list[str], list[tuple]]) -> tuple[list[str], list[tuple]]:
    columns, rows = columns_rows
    return columns, sorted(normal_rows(rows), key=repr)


@pytest.mark.parametrize("mart", sorted(MARTS))
def test_the_rewritten_mart_gives_the_old_sqls_rows(target: Target, mart: str) -> None:
    if target.kind == "postgres":
        pytest.importorskip("psycopg2")
    old_sql = _oracle_sql(target, mart)
    new_columns, new_rows = _rows(target.query(f"select * from analytics.{mart}"))
    old_columns, old_rows = _rows(target.query(old_sql))
    assert new_columns == old_columns
    assert len(new_rows) == len(old_rows) > (10 if mart == "sales_cycle" else 100), mart
    approx = [new_columns.index(c) for c in APPROX.get(mart, [])]
    for new_row, old_row in zip(new_rows, old_rows, strict=True):
        for i in approx:
            assert math.isclose(new_row[i], old_row[i], abs_tol=1.5e-6), (mart, new_row, old_row)
    new_rows = [tuple(None if i in approx else v for i, v in enumerate(r)) for r in new_rows]
    old_rows = [tuple(None if i in approx else v for i, v in enumerate(r)) for r in old_rows]
    assert new_rows == old_rows, f"{mart} differs from the SQL it replaced on {target.kind}"
    if target.kind == "postgres":  # DuckDB's win_rate counts are now bigint, were hugeint
        new_types = target.column_types(f"select * from analytics.{mart}")
        assert new_types == target.column_types(old_sql)


def test_the_comparison_covers_every_dimension_and_both_funnel_modes(target: Target) -> None:
    """Guards the test above against proving nothing: the world reaches every branch."""
    _, rows = target.query(
        "select dimension, mode, count(*), sum(reached_next_count), "
        "sum(case when reached_next_count = 0 then 1 else 0 end) "
        "from analytics.stage_conversion_by_dimension group by dimension, mode"
    )
    got = {(r[0], r[1]): r[2:] for r in rows}
    assert {d for d, _ in got} == set(DIMENSIONS)
    for (dimension, mode), (n, reached_next, zero_rows) in got.items():
        assert n > 0 and reached_next and reached_next > 0, (dimension, mode)
        assert zero_rows > 0, (dimension, mode)
    _, (row,) = target.query(
        "select count(distinct rep_key), sum(case when was_lost_rows > 0 then 1 else 0 end) "
        "from (select rep_key, sum(case when canonical_stage = 'closed_lost' "
        "then reached_count else 0 end) as was_lost_rows "
        "from analytics.stage_conversion_by_rep where mode = 'strict_order' group by rep_key) t"
    )
    assert row[0] > 3 and row[1] > 3
    _, (totals,) = target.query(
        "select sum(won_count), sum(lost_count) from analytics.win_rate "
        "where period_type = 'all' and rep_key = '*' and source_name = '*'"
    )
    assert all(not math.isclose(float(x), 0) for x in totals)


def test_postgresql_tables_have_statistics_as_soon_as_dbt_builds_them(target: Target) -> None:
    """The hub_analyze post-hook: every table dbt built is analyzed before the next model is
    planned. reltuples is -1 until a table is analyzed or vacuumed, and autovacuum never
    analyzes one under 50 rows, so the canonical stages' exact count proves the hook ran."""
    if target.kind != "postgres":
        pytest.skip("PostgreSQL only: DuckDB keeps its statistics as it writes")
    _, rows = target.query(
        "select n.nspname || '.' || c.relname, c.reltuples from pg_class c "
        "join pg_namespace n on n.oid = c.relnamespace "
        "where n.nspname in ('analytics', 'hub_staging') and c.relkind = 'r'"
    )
    estimates = dict(rows)
    assert len(estimates) > 10
    assert [name for name, tuples in estimates.items() if tuples < 0] == []
    _, ((n_stages,),) = target.query("select count(*) from hub_staging.stg_hub_canonical_stages")
    assert 0 < n_stages < 50
    assert estimates["hub_staging.stg_hub_canonical_stages"] == n_stages


# The counting step of each mart that turns sorting off (macro hub_prefer_hashing): a
# node of its plan whose group keys name these columns.
HASHED = {
    "stage_conversion_by_rep": "visited",
    # stage_conversion_by_dimension's counting step, kept as sums on PostgreSQL: its full build
    "int_stage_conversion_dimension_buckets": "visited",
    "win_rate": "closed_at",
    # its counting step is the full build of the months it keeps as sums
    "int_win_rate_dimension_months": "closed_at",
    # its open deals summed per dimension value, rep, stage and expected-close month
    "forecast_by_dimension": "expected_close_date",
}


def _aggregates(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    if plan.get("Node Type") == "Aggregate":
        yield plan
    for child in plan.get("Plans", []):
        yield from _aggregates(child)


def _model_statement(target: Target, mart: str) -> tuple[list[str], str]:
    """What dbt runs for a mart: its pre-hooks rendered, and its compiled SELECT."""
    res = target.dbt(["compile", "--select", mart])
    assert res.success, res.exception
    (node,) = [r.node for r in res.result.results if r.node.unique_id == f"model.hub.{mart}"]
    hooks = []
    for hook in node.config.pre_hook:
        assert hook.transaction, f"{mart}: a planner setting must share the model's transaction"
        rendered = target.dbt(["compile", "--inline", hook.sql])
        assert rendered.success, rendered.exception
        hooks.append(str(rendered.result.results[0].node.compiled_code).strip())
    return [h for h in hooks if h], str(node.compiled_code)


@pytest.mark.parametrize("mart", sorted(HASHED))
def test_postgresql_hashes_the_marts_counting_step(target: Target, mart: str) -> None:
    """At 1M deals PostgreSQL estimated these groups at about one per deal row (a month
    counts as many values as its instant) and sorted every row to count them; the model's
    pre-hook makes it hash. Planned here with work_mem small enough that the fixture's
    estimate looks as large against it as 1M deals' does against the default 4MB."""
    if target.kind != "postgres":
        pytest.skip("PostgreSQL only: DuckDB hashes its groups anyway")
    hooks, sql = _model_statement(target, mart)
    # a model kept as sums also has its delta statements (macro hub_group_sums), which
    # compile to a delete of every row without the hub's var: only the planner settings run
    hooks = [hook for hook in hooks if "set local enable_sort = off" in hook]
    assert len(hooks) == 1
    engine = pg_engine(target.pg or {})
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("set local work_mem = '64kB'"))
            for hook in hooks:
                conn.execute(sa.text(hook))
            (plan,) = conn.execute(sa.text(f"explain (format json) {sql}")).scalar()
    finally:
        engine.dispose()
    counting = [
        node
        for node in _aggregates(plan["Plan"])
        if any(HASHED[mart] in key for key in node.get("Group Key", []))
        and "Grouping Sets" not in node
    ]
    assert counting, f"{mart}: no grouping on {HASHED[mart]} in the plan"
    assert {node["Strategy"] for node in counting} == {"Hashed"}, (mart, counting)
