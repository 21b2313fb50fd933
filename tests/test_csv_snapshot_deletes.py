"""``deals.full_snapshot``: a deal missing from a newly read full export is marked deleted."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
import sqlalchemy as sa

from connectors.csv.options import DealsFile
from models.config import HubConfig, parse_config
from tests.conftest import write_config
from tests.csv_helpers import csv_config, pull, query
from tests.pg import pg_engine, pg_warehouse

HEADER = "id,name,status,amount"
ROWS = {
    "1": "1,Acme renewal,open,100",
    "2": "2,Globex expansion,open,200",
    "3": "3,Initech pilot,won,300",
}
COLUMNS = {"source_deal_id": "id", "name": "name", "status": "status", "amount": "amount"}


def export(folder: Path, *lines: str) -> None:
    (folder / "deals.csv").write_text("\n".join([HEADER, *lines]) + "\n", encoding="utf-8")


def deals_spec(**options: Any) -> dict[str, Any]:
    return {"path": "deals.csv", "columns": COLUMNS, **options}


def snapshot_config(folder: Path, **options: Any) -> HubConfig:
    return csv_config(folder, deals_spec(full_snapshot=True), **options)


def deals(config: HubConfig) -> dict[str, tuple]:
    rows = query(
        config,
        "SELECT source_deal_id, name, status, amount, is_deleted FROM src_exp.deals ORDER BY 1",
    )
    return {r[0]: r[1:] for r in rows}


def live(config: HubConfig) -> dict[str, bool]:
    return {deal_id: row[-1] for deal_id, row in deals(config).items()}


@pytest.mark.parametrize("fast_path", [True, False], ids=["fast_path", "row_path"])
def test_a_deal_missing_from_a_full_export_is_marked_deleted(
    tmp_path: Path, fast_path: bool
) -> None:
    config = snapshot_config(tmp_path, fast_path=fast_path)
    export(tmp_path, *ROWS.values())
    first = pull(config)
    assert first.status == "ok", first.error
    assert first.stats.warnings == []
    before = deals(config)

    export(tmp_path, ROWS["1"], ROWS["3"])
    second = pull(config)
    assert second.status == "ok", second.error
    assert live(config) == {"1": False, "2": True, "3": False}
    # Only the flag changes: the deleted deal keeps everything else it had.
    assert deals(config)["2"] == (*before["2"][:-1], True)
    assert deals(config)["2"] == ("Globex expansion", "open", Decimal("200"), True)
    assert second.stats.warnings == [
        "deals.csv: full_snapshot: 1 of 3 live deal(s) are missing from this export and were "
        "marked deleted"
    ]
    # The run log keeps it too ('hub status').
    assert query(config, "SELECT warnings FROM hub_meta.hub_runs ORDER BY started_at")[-1] == (
        second.stats.warnings[0],
    )


def test_a_deal_back_in_a_later_export_is_live_again(tmp_path: Path) -> None:
    config = snapshot_config(tmp_path)
    export(tmp_path, *ROWS.values())
    pull(config)
    export(tmp_path, ROWS["1"], ROWS["3"])
    pull(config)
    assert live(config)["2"] is True

    export(tmp_path, ROWS["1"], "2,Globex expansion,won,250", ROWS["3"])
    back = pull(config)
    assert back.status == "ok", back.error
    assert live(config) == {"1": False, "2": False, "3": False}
    assert deals(config)["2"] == ("Globex expansion", "won", Decimal("250"), False)
    assert back.stats.warnings == []


def test_without_the_option_a_missing_deal_stays_live(tmp_path: Path) -> None:
    assert DealsFile.model_validate(deals_spec()).full_snapshot is False  # the default
    config = csv_config(tmp_path, deals_spec())
    export(tmp_path, *ROWS.values())
    pull(config)
    export(tmp_path, ROWS["1"], ROWS["3"])
    run = pull(config)
    assert run.status == "ok", run.error
    assert live(config) == {"1": False, "2": False, "3": False}
    assert run.stats.warnings == []


def test_an_unchanged_file_marks_nothing(tmp_path: Path) -> None:
    config = snapshot_config(tmp_path)
    export(tmp_path, *ROWS.values())
    pull(config)
    # A deal the warehouse holds and the file never had: only a file read this run may
    # delete it, and an unchanged file is skipped.
    path = config.resolve_path(config.warehouse.path)
    with duckdb.connect(str(path)) as con:
        con.execute(
            "INSERT INTO src_exp.deals (deal_key, source_name, crm, source_deal_id, status, "
            "is_deleted) VALUES ('exp:9', 'exp', 'csv', '9', 'open', false)"
        )
    unchanged = pull(config)
    assert unchanged.status == "ok", unchanged.error
    assert unchanged.rows == {}
    assert unchanged.stats.warnings == []
    assert live(config) == {"1": False, "2": False, "3": False, "9": False}

    export(tmp_path, *ROWS.values(), "")  # same deals, new bytes: read again
    reread = pull(config)
    assert live(config) == {"1": False, "2": False, "3": False, "9": True}
    assert "1 of 4 live deal(s)" in reread.stats.warnings[0]


def test_an_export_without_rows_marks_nothing_and_says_why(tmp_path: Path) -> None:
    config = snapshot_config(tmp_path)
    export(tmp_path, *ROWS.values())
    pull(config)

    export(tmp_path)  # the header only
    empty = pull(config)
    assert empty.status == "ok", empty.error
    assert live(config) == {"1": False, "2": False, "3": False}
    (warning,) = empty.stats.warnings
    assert warning.startswith("deals.csv: full_snapshot: no deal was marked deleted")
    assert "header only" in warning


def test_an_export_whose_every_row_is_skipped_marks_nothing(tmp_path: Path) -> None:
    config = snapshot_config(tmp_path)
    export(tmp_path, *ROWS.values())
    pull(config)

    export(tmp_path, ",no id,open,1", "4,Bad status,maybe,1")
    broken = pull(config)
    assert broken.status == "ok", broken.error
    assert broken.quarantined == 2
    assert live(config) == {"1": False, "2": False, "3": False}
    assert any("no deal was marked deleted" in w for w in broken.stats.warnings)


def test_a_skipped_row_still_shows_its_deal_exists(tmp_path: Path) -> None:
    """A row quarantined whole (here: an unknown status) still names a deal the CRM has:
    that deal keeps its last good row instead of being marked deleted."""
    config = snapshot_config(tmp_path)
    export(tmp_path, *ROWS.values())
    pull(config)

    export(tmp_path, ROWS["1"], "2,Globex expansion,on hold,200")
    run = pull(config)
    assert run.status == "ok", run.error
    assert run.quarantined == 1
    assert live(config) == {"1": False, "2": False, "3": True}
    assert deals(config)["2"] == ("Globex expansion", "open", Decimal("200"), False)


def test_hub_pull_prints_how_many_deals_were_marked_deleted(cli, tmp_path: Path) -> None:
    config_path = write_config(
        tmp_path,
        {
            "sources": [
                {"name": "exp", "kind": "csv", "options": {"deals": deals_spec(full_snapshot=True)}}
            ]
        },
    )
    export(tmp_path, *ROWS.values())
    assert cli("pull", "--config", config_path).exit_code == 0
    export(tmp_path, ROWS["1"], ROWS["3"])
    result = cli("pull", "--config", config_path)
    assert result.exit_code == 0, result.output
    assert "1 of 3 live deal(s) are missing from this export and were marked" in " ".join(
        result.output.split()
    )


def test_full_snapshot_on_postgres(tmp_path: Path, pg_database: dict[str, Any]) -> None:
    raw = {
        "warehouse": pg_warehouse(pg_database),
        "sources": [
            {"name": "exp", "kind": "csv", "options": {"deals": deals_spec(full_snapshot=True)}}
        ],
    }
    config = parse_config(raw, tmp_path / "hub.yml")
    engine = pg_engine(pg_database)

    def flags() -> dict[str, bool]:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT source_deal_id, is_deleted FROM src_exp.deals"))
            return dict(rows.tuples().all())

    try:
        export(tmp_path, *ROWS.values())
        assert pull(config).status == "ok"
        export(tmp_path, ROWS["1"], ROWS["3"])
        gone = pull(config)
        assert gone.status == "ok", gone.error
        assert flags() == {"1": False, "2": True, "3": False}
        assert "1 of 3 live deal(s)" in gone.stats.warnings[0]
        export(tmp_path, *ROWS.values())
        assert pull(config).status == "ok"
        assert flags() == {"1": False, "2": False, "3": False}
    finally:
        engine.dispose()
