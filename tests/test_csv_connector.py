"""The CSV connector loads any export by mapping alone, and loses nothing good."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from hub.generate import Generated
from models.config import load_config
from tests.csv_helpers import MAVEN_HEADER, csv_config, pull, query


def test_generated_export_loads_every_row_once(hub_dir: Path, small_export: Generated) -> None:
    config = load_config(hub_dir / "hub.yml")
    run = pull(config)
    assert run.status == "ok", run.error
    counts = small_export.export.row_counts
    assert query(config, "SELECT count(*), count(DISTINCT deal_key) FROM src_crm_export.deals")[
        0
    ] == (counts["deals"], counts["deals"])
    assert (
        query(config, "SELECT count(*) FROM src_crm_export.activities")[0][0]
        == counts["activities"]
    )
    assert query(config, "SELECT count(*) FROM src_crm_export.owners")[0][0] == counts["owners"]
    assert (
        query(config, "SELECT count(*) FROM src_crm_export.stage_changes")[0][0]
        == counts["stage_history"]
    )
    assert run.quarantined == 0
    truth = small_export.export.truth
    by_status = dict(query(config, "SELECT status, count(*) FROM src_crm_export.deals GROUP BY 1"))
    assert by_status == {k: v for k, v in truth.deals_by_status.items() if v}
    won = dict(
        query(
            config,
            "SELECT currency, sum(amount) FROM src_crm_export.deals WHERE status = 'won' GROUP BY 1",
        )
    )
    assert won == {c: Decimal(str(v)) for c, v in truth.won_amount_by_currency.items() if v}


def test_maven_style_export_loads_by_mapping_only(tmp_path: Path) -> None:
    """The 'CRM Sales Opportunities' layout, with stage events from its date columns."""
    (tmp_path / "sales_pipeline.csv").write_text(
        MAVEN_HEADER + "\n"
        "1C1I7A6R,Moses Frase,GTX Plus Basic,Cancity,Won,2016-10-20,2017-03-01,1054\n"
        "Z063OYW0,Darcel Schlecht,GTXPro,Isdom,Won,2016-10-25,2017-03-11,4514\n"
        "EC4QE1BX,Darcel Schlecht,MG Special,Cancity,Engaging,2016-10-25,,\n"
        "MV1LWRNH,Moses Frase,GTX Basic,Codehow,Lost,2016-10-25,2017-03-02,0\n"
        "HAXMC4IX,James Ascencio,MG Advanced,,Prospecting,,,\n",
        encoding="utf-8",
    )
    config = csv_config(
        tmp_path,
        {
            "path": "sales_pipeline.csv",
            "columns": {
                "source_deal_id": "opportunity_id",
                "owner_id": "sales_agent",
                "name": "product",
                "account_name": "account",
                "stage_id": "deal_stage",
                "created_at": "engage_date",
                "closed_at": "close_date",
                "amount": "close_value",
            },
            "defaults": {"currency": "USD"},
            "status_from_stage": {"Won": "won", "Lost": "lost"},
            "stage_dates": {"Engaging": "engage_date"},
        },
    )
    run = pull(config)
    assert run.status == "ok", run.error
    deals = {
        r[0]: r[1:]
        for r in query(
            config, "SELECT source_deal_id, status, stage_id, amount, closed_at FROM src_exp.deals"
        )
    }
    assert deals["1C1I7A6R"] == ("won", "Won", Decimal("1054"), datetime(2017, 3, 1, tzinfo=UTC))
    assert deals["EC4QE1BX"][:2] == ("open", "Engaging")
    assert deals["HAXMC4IX"][:3] == ("open", "Prospecting", None)
    events = query(
        config,
        "SELECT deal_key, stage_id, changed_at, origin FROM src_exp.stage_changes ORDER BY deal_key",
    )
    assert ("exp:EC4QE1BX", "Engaging", datetime(2016, 10, 25, tzinfo=UTC), "derived") in events
    assert len(events) == 4  # every deal with an engage_date reached Engaging then
    stages = {r[0] for r in query(config, "SELECT stage_id FROM src_exp.stages")}
    assert stages == {"Won", "Lost", "Engaging", "Prospecting"}


def test_utf8_bom_semicolons_and_thousands_separators(tmp_path: Path) -> None:
    text = 'id;name;amount;created\n1;Café Olé;1,234.50;2026-01-02\n2;Müller GmbH;"12,000";02/03/2026\n'
    (tmp_path / "deals.csv").write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    config = csv_config(
        tmp_path,
        {
            "path": "deals.csv",
            "columns": {
                "source_deal_id": "id",
                "name": "name",
                "amount": "amount",
                "created_at": "created",
            },
        },
    )
    assert pull(config).status == "ok"
    rows = dict(query(config, "SELECT name, amount FROM src_exp.deals"))
    assert rows == {"Café Olé": Decimal("1234.50"), "Müller GmbH": Decimal("12000")}
    created = dict(query(config, "SELECT source_deal_id, created_at FROM src_exp.deals"))
    assert created["2"] == datetime(2026, 2, 3, tzinfo=UTC)  # month-first unless day_first


def test_latin1_file_is_read_and_flagged(tmp_path: Path) -> None:
    (tmp_path / "deals.csv").write_bytes("id,name\n1,Société Générale\n".encode("latin-1"))
    config = csv_config(
        tmp_path, {"path": "deals.csv", "columns": {"source_deal_id": "id", "name": "name"}}
    )
    run = pull(config)
    assert query(config, "SELECT name FROM src_exp.deals") == [("Société Générale",)]
    assert any("Latin-1" in w for w in run.stats.warnings)


def test_unchanged_files_are_skipped_and_edits_reload(hub_dir: Path) -> None:
    config = load_config(hub_dir / "hub.yml")
    first = pull(config)
    assert first.rows["deals"] == 400
    second = pull(config)
    assert second.rows == {} and second.observations == 0
    path = hub_dir / "deals.csv"
    rows = list(csv.reader(path.open(encoding="utf-8")))
    rows[1][rows[0].index("deal_name")] = "Renamed deal"
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows(rows)
    third = pull(config)
    assert third.rows["deals"] == 400
    assert query(config, "SELECT count(*), count(DISTINCT deal_key) FROM src_crm_export.deals")[
        0
    ] == (400, 400)
    assert query(
        config, f"SELECT name FROM src_crm_export.deals WHERE source_deal_id = '{rows[1][0]}'"
    ) == [("Renamed deal",)]
