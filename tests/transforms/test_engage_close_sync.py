"""`hub sync` on an engage/close export laid out like the public "CRM Sales Opportunities" file
(issue #14, items 1 and 2), mapped the README way and synced without --as-of, through the real
CSV connector, observations and dbt. Dates sit a fixed number of days before today, so every
figure below is known by hand whatever day the test runs.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
import yaml

from tests.csv_helpers import MAVEN_HEADER

approx = pytest.approx
TODAY = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
BASE = TODAY - timedelta(days=100)


def _day(offset: int) -> str:
    return (BASE + timedelta(days=offset)).date().isoformat()


# id, agent, product, account, stage, engage, close, value. In qualification (Engaging):
# O1 19 days then won, O2 10 days then won, O3 30 days then lost, O4 since day 50.
ROWS = [
    ("O1", "ann@example.com", "GTX", "Acme", "Won", _day(0), _day(19), "1000"),
    ("O2", "ann@example.com", "GTX", "Acme", "Won", _day(4), _day(14), "3000"),
    ("O3", "bob@example.com", "MG", "Beta", "Lost", _day(2), _day(32), "0"),
    ("O4", "bob@example.com", "MG", "Beta", "Engaging", _day(50), "", ""),
    ("O5", "ann@example.com", "GTX", "", "Prospecting", "", "", ""),
    ("O6", "bob@example.com", "MG", "", "Prospecting", "", "", ""),
]


def _project(folder: Path) -> Path:
    lines = [MAVEN_HEADER, *(",".join(row) for row in ROWS)]
    (folder / "sales_pipeline.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    config = {
        "sources": [
            {
                "name": "maven",
                "kind": "csv",
                "options": {
                    "deals": {
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
                    }
                },
                "stage_map": {
                    "*": {
                        "Prospecting": "prospecting",
                        "Engaging": "qualification",
                        "Won": "closed_won",
                        "Lost": "closed_lost",
                    }
                },
            }
        ]
    }
    path = folder / "hub.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def _rows(db: Path, sql: str) -> list[dict]:
    with duckdb.connect(str(db), read_only=True) as con:
        cur = con.execute(sql)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def test_an_engage_close_export_gets_real_stage_dates_and_keeps_undated_deals(
    cli, tmp_path: Path
) -> None:
    config = _project(tmp_path)
    result = cli("sync", "--config", config)
    assert result.exit_code == 0, result.output
    assert "2 deal(s) had no creation date" in result.output
    assert "2 with no dated fact count in the current pipeline" in result.output
    db = tmp_path / ".hub" / "hub.duckdb"

    won = _rows(
        db,
        "SELECT canonical_stage, entered_at FROM analytics.deal_stage_history "
        "WHERE deal_key = 'maven:O1' ORDER BY spell_index",
    )
    assert [(r["canonical_stage"], r["entered_at"]) for r in won] == [
        ("qualification", BASE),
        ("closed_won", BASE + timedelta(days=19)),
    ]
    spells = _rows(
        db,
        "SELECT * FROM analytics.time_in_stage WHERE canonical_stage = 'qualification' "
        "AND final_outcome = 'all' AND source_name = 'maven'",
    )[0]
    assert (spells["spell_count"], spells["median_days"]) == (3, approx(19.0))
    assert spells["p90_days"] == approx(27.8)  # of 10, 19, 30 days

    # Only O4 (50 days in qualification, p90 27.8) is stalled; the Prospecting deals have no
    # threshold (no closed prospecting spell), so they are not.
    stalled = _rows(db, "SELECT deal_key, threshold_days FROM analytics.stalled_deals")
    assert [(r["deal_key"], r["threshold_days"]) for r in stalled] == [("maven:O4", approx(27.8))]
    # Day 5: O1, O2 and O3 were all in qualification.
    day5 = _rows(
        db,
        "SELECT open_count FROM analytics.pipeline_snapshot_daily WHERE source_name = 'maven' "
        f"AND canonical_stage = 'qualification' AND snapshot_date = DATE '{_day(5)}'",
    )
    assert day5 == [{"open_count": 3}]

    deals = {
        r["deal_key"]: r
        for r in _rows(
            db,
            "SELECT deal_key, created_at_source, is_open, is_counted, canonical_stage "
            "FROM analytics.deals",
        )
    }
    assert {k: r["created_at_source"] for k, r in deals.items()} == {
        "maven:O1": "crm",
        "maven:O2": "crm",
        "maven:O3": "crm",
        "maven:O4": "crm",
        "maven:O5": "first_seen",
        "maven:O6": "first_seen",
    }
    assert all(deals[k]["is_open"] and deals[k]["is_counted"] for k in ("maven:O5", "maven:O6"))
    forecast = _rows(
        db,
        "SELECT open_count FROM analytics.forecast WHERE period_type = 'month' "
        "AND period_start IS NULL AND rep_key = '*' AND canonical_stage = '*'",
    )
    assert forecast == [{"open_count": 3}]

    status = cli("status", "--config", config)
    assert status.exit_code == 0, status.output
    assert "2 deal(s) had no creation date" in status.output
