"""The training key (hub/score/prekey.py) moves with every value the training table reads of
the deals closed by the cut, and with nothing of the deals still open.

The book (tests/score/world.py) is synced for real; each case edits one value in the
warehouse's own tables inside a transaction, reads the key there and rolls back. On DuckDB
and PostgreSQL: PostgreSQL hashes each row with its column types' hash functions
(``hash_record_extended``), so a NULL must still differ from an empty string or a zero.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from hub.pull import run_pull
from hub.score.prekey import training_key
from hub.score.store import training_cut
from hub.transform import run_transform
from hub.warehouse import Warehouse
from models.config import HubConfig, load_config
from tests.pg import pg_warehouse
from tests.score.world import AS_OF, write_book

CUT = training_cut(AS_OF)
SALT = "test"


class _Rollback(Exception):
    pass


def _synced(folder: Path, warehouse: dict[str, Any] | None) -> HubConfig:
    path, _ = write_book(folder, n=240)
    if warehouse is not None:
        hub_yml = yaml.safe_load(path.read_text())
        hub_yml["warehouse"] = warehouse
        path.write_text(yaml.safe_dump(hub_yml, sort_keys=False))
    config = load_config(path)
    assert [run.status for run in run_pull(config)] == ["ok"]
    run_transform(config)
    return config


def _key_after(config: HubConfig, *statements: str) -> str:
    """The key with ``statements`` applied, in a transaction rolled back after."""
    found: list[str | None] = []
    try:
        with Warehouse(config).connect() as conn:
            for statement in statements:
                changed = conn.execute(sa.text(statement)).rowcount
                assert changed != 0, statement  # (DuckDB may not count: -1)
            found.append(training_key(conn, CUT, SALT, True))
            raise _Rollback
    except _Rollback:
        pass
    (key,) = found
    assert key is not None
    return key


def _one(config: HubConfig, query: str) -> Any:
    with Warehouse(config).connect() as conn:
        return conn.execute(sa.text(query)).scalar_one()


@pytest.mark.parametrize(
    "warehouse", ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_the_key_moves_with_each_closed_deals_input_and_not_with_open_deals(
    tmp_path: Path, warehouse: str, request: pytest.FixtureRequest
) -> None:
    target = (
        pg_warehouse(request.getfixturevalue("pg_database")) if warehouse == "postgres" else None
    )
    config = _synced(tmp_path, target)
    stamp = f"cast('{CUT:%Y-%m-%d %H:%M:%S}' as timestamp)"
    closed = _one(
        config,
        "select min(deal_key) from hub_staging.int_deals_enriched "
        f"where status in ('won', 'lost') and closed_at <= {stamp} and rep_key is not null",
    )
    still_open = _one(
        config,
        "select min(deal_key) from hub_staging.int_deals_enriched "
        f"where closed_at is null or closed_at > {stamp}",
    )
    activities = _one(
        config,
        "select table_schema || '.' || table_name from information_schema.tables "
        "where table_name = 'activities' and table_schema = 'src_book'",
    )
    spell = "update hub_staging.int_deal_spells set {} where deal_key = '{}' and spell_index = 1"
    activity = f"update {activities} set occurred_at = occurred_at - interval '1 second' "
    dimension = (
        "insert into hub_staging.int_deal_dimensions (deal_key, dimension, dimension_value) "
        "values ('{}', 'segment', {})"
    )
    base = _key_after(config)
    assert base == _key_after(config)  # the same data, the same key
    if warehouse == "postgres":  # the key's larger work_mem ends with its statement
        with Warehouse(config).connect() as conn:
            before = conn.execute(sa.text("show work_mem")).scalar_one()
            assert training_key(conn, CUT, SALT, True) == base
            assert conn.execute(sa.text("show work_mem")).scalar_one() == before

    moved = {
        "spell exited a second later": _key_after(
            config, spell.format("exited_at = exited_at + interval '1 second'", closed)
        ),
        "spell entered a second earlier": _key_after(
            config, spell.format("entered_at = entered_at - interval '1 second'", closed)
        ),
        "spell marked backward": _key_after(
            config, spell.format("is_backward = not coalesce(is_backward, false)", closed)
        ),
        "rep gone (null)": _key_after(
            config,
            f"update hub_staging.int_deal_facts set rep_key = null where deal_key = '{closed}'",
        ),
        "rep empty": _key_after(
            config,
            f"update hub_staging.int_deal_facts set rep_key = '' where deal_key = '{closed}'",
        ),
        "activity a second earlier": _key_after(config, activity + f"where deal_key = '{closed}'"),
        "dimension null": _key_after(config, dimension.format(closed, "null")),
        "dimension empty": _key_after(config, dimension.format(closed, "''")),
        "dimension zero": _key_after(config, dimension.format(closed, "'0'")),
    }
    # every edit of a closed deal moves the key, and no two edits give the same one
    assert base not in moved.values(), moved
    assert len(set(moved.values())) == len(moved), moved

    # what only open deals hold is not the training table's
    kept = [
        _key_after(config, spell.format("exited_at = exited_at + interval '1 second'", still_open)),
        _key_after(
            config,
            f"update hub_staging.int_deal_facts set rep_key = null where deal_key = '{still_open}'",
        ),
        _key_after(config, activity + f"where deal_key = '{still_open}'"),
        _key_after(config, dimension.format(still_open, "'0'")),
    ]
    assert kept == [base] * len(kept)
