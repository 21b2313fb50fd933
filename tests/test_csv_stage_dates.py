"""``stage_dates`` gives a deal a stage event only for a stage it reached (issue #14 item 3).

The rule (connectors/csv/deals.py ``StageDates``): an empty cell gives none; a won or lost
stage applies only to deals with that outcome; a column named for several stages applies to
each deal only for the stage it is in now; an open stage with a column of its own takes any
date. Both readers (fast path and row path) give the same events.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.csv_helpers import MAVEN_HEADER, csv_config, pull, query

ROWS = [
    "W1,Moses,GTX,Cancity,Won,2016-10-20,2017-03-01,1054",
    "L1,Darcel,GTX,Isdom,Lost,2016-10-25,2017-03-11,0",
    "E1,Darcel,MG,Cancity,Engaging,2016-10-25,,",
    "P1,James,MG,,Prospecting,,,",
]
COLUMNS = {
    "source_deal_id": "opportunity_id",
    "stage_id": "deal_stage",
    "created_at": "engage_date",
    "closed_at": "close_date",
}


def _events(tmp_path: Path, deals: dict[str, Any], rows: list[str], **options: Any) -> set:
    (tmp_path / "p.csv").write_text(MAVEN_HEADER + "\n" + "\n".join(rows) + "\n")
    config = csv_config(tmp_path, {"path": "p.csv", "columns": COLUMNS, **deals}, **options)
    run = pull(config)
    assert run.status == "ok", run.error
    got = query(
        config,
        "SELECT d.source_deal_id, c.stage_id, strftime(c.changed_at, '%Y-%m-%d') "
        "FROM src_exp.stage_changes c JOIN src_exp.deals d USING (deal_key)",
    )
    return set(got)


@pytest.mark.parametrize("fast_path", [True, False])
def test_a_close_date_for_won_and_lost_gives_each_deal_its_own_outcome_only(
    tmp_path: Path, fast_path: bool
) -> None:
    events = _events(
        tmp_path,
        {
            "status_from_stage": {"Won": "won", "Lost": "lost"},
            "stage_dates": {"Engaging": "engage_date", "Won": "close_date", "Lost": "close_date"},
        },
        ROWS,
        fast_path=fast_path,
    )
    assert events == {
        ("W1", "Engaging", "2016-10-20"),
        ("W1", "Won", "2017-03-01"),
        ("L1", "Engaging", "2016-10-25"),
        ("L1", "Lost", "2017-03-11"),
        ("E1", "Engaging", "2016-10-25"),
    }


@pytest.mark.parametrize("fast_path", [True, False])
def test_a_terminal_stage_with_its_own_column_skips_deals_of_the_other_outcome(
    tmp_path: Path, fast_path: bool
) -> None:
    # Salesforce's Close Date is filled on every opportunity (the expected date when open).
    rows = [
        "W1,a,p,x,Won,,2017-03-01,1",
        "L1,a,p,x,Lost,,2017-03-11,0",
        "O1,a,p,x,Engaging,,2017-05-01,",
    ]
    events = _events(
        tmp_path,
        {"status_from_stage": {"Won": "won", "Lost": "lost"}, "stage_dates": {"Won": "close_date"}},
        rows,
        fast_path=fast_path,
    )
    assert events == {("W1", "Won", "2017-03-01")}


@pytest.mark.parametrize("fast_path", [True, False])
def test_a_column_shared_by_open_stages_goes_to_the_stage_the_deal_is_in(
    tmp_path: Path, fast_path: bool
) -> None:
    rows = [
        "Q1,a,p,x,Qualify,2016-01-05,,",
        "D1,a,p,x,Demo,2016-01-06,,",
        "W1,a,p,x,Won,2016-01-07,2016-02-01,5",
    ]
    events = _events(
        tmp_path,
        {
            "status_from_stage": {"Won": "won"},
            "stage_dates": {"Qualify": "engage_date", "Demo": "engage_date"},
        },
        rows,
        fast_path=fast_path,
    )
    # W1 is in neither stage now: the column cannot say which one it reached.
    assert events == {("Q1", "Qualify", "2016-01-05"), ("D1", "Demo", "2016-01-06")}


def test_an_open_stage_with_its_own_column_takes_every_date(tmp_path: Path) -> None:
    events = _events(
        tmp_path,
        {
            "status_from_stage": {"Won": "won", "Lost": "lost"},
            "stage_dates": {"Engaging": "engage_date"},
        },
        ROWS,
    )
    assert events == {
        ("W1", "Engaging", "2016-10-20"),
        ("L1", "Engaging", "2016-10-25"),
        ("E1", "Engaging", "2016-10-25"),
    }


def test_a_closed_stage_not_named_in_status_from_stage_is_warned_about(tmp_path: Path) -> None:
    """A file with a status column: the hub cannot tell that 'Won' is a won stage, so its
    date goes to every deal that has one; the run says how to fix it."""
    header = "id,stage,status,closed"
    (tmp_path / "d.csv").write_text(
        f"{header}\nA,Won,won,2024-01-02\nB,Lost,lost,2024-01-03\nC,Lost,lost,2024-01-04\n"
    )
    config = csv_config(
        tmp_path,
        {
            "path": "d.csv",
            "columns": {"source_deal_id": "id", "stage_id": "stage", "status": "status"},
            "stage_dates": {"Won": "closed"},
        },
    )
    run = pull(config)
    assert any(
        "stage_dates.Won: every deal in this stage is won" in w
        and "status_from_stage: {Won: won}" in w
        for w in run.stats.warnings
    ), run.stats.warnings


def test_fixing_the_mapping_removes_the_events_the_old_one_derived(tmp_path: Path) -> None:
    """An export pulled with a wrong stage_dates, then with the right one: the wrong events
    do not stay behind in the warehouse (they are merged by key, so only a prune removes
    them)."""
    (tmp_path / "p.csv").write_text(MAVEN_HEADER + "\n" + "\n".join(ROWS) + "\n")
    deals = {
        "path": "p.csv",
        "columns": COLUMNS,
        "stage_dates": {"Engaging": "engage_date", "Won": "close_date"},
    }
    config = csv_config(tmp_path, deals)  # no status_from_stage: Won reads as an open stage
    assert pull(config).status == "ok"
    wrong = query(config, "SELECT count(*) FROM src_exp.stage_changes WHERE stage_id = 'Won'")
    assert wrong == [(2,)]  # L1 was given a Won event too

    deals["status_from_stage"] = {"Won": "won", "Lost": "lost"}
    run = pull(csv_config(tmp_path, deals))
    assert run.status == "ok", run.error
    assert any("status_from_stage" in n for n in run.notes), run.notes
    assert any("1 derived stage event(s)" in n for n in run.notes), run.notes
    assert query(
        config,
        "SELECT d.source_deal_id, c.stage_id FROM src_exp.stage_changes c "
        "JOIN src_exp.deals d USING (deal_key) WHERE c.stage_id IN ('Won', 'Lost') ORDER BY 1",
    ) == [("W1", "Won")]

    del deals["stage_dates"]["Engaging"]  # a stage taken out of stage_dates loses its events
    pull(csv_config(tmp_path, deals))
    assert query(
        config, "SELECT count(*) FROM src_exp.stage_changes WHERE stage_id = 'Engaging'"
    ) == [(0,)]


def test_the_rule_is_documented(tmp_path: Path) -> None:
    readme = (Path(__file__).parents[1] / "connectors" / "csv" / "README.md").read_text()
    section = " ".join(readme.split("## Stage dates", 1)[1].split("\n## ", 1)[0].split())
    for words in ("only to deals with that outcome", "the stage the deal is in now", "empty cell"):
        assert words in section, words
