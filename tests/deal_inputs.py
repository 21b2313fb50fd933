"""The per-deal snapshot's inputs in miniature, for the tests that narrow it
(``test_deal_versions`` on PostgreSQL, ``test_deal_appends`` on DuckDB): one source ``s``,
its four per-deal source tables with the parts' columns, the staging views the snapshot
reads, and eight deals each with a stage change, an observation and two activities, plus
one activity on no deal (in no deal's snapshot, so a part's total is not its table's)."""

from __future__ import annotations

import sqlalchemy as sa

DEALS = [f"d{i}" for i in range(1, 9)]


def create_tables(conn: sa.Connection, *, text: str, number: str) -> None:
    """The tables and views, typed with the warehouse's own ``text`` and ``number`` names."""
    statements = f"""
CREATE SCHEMA src_s;
CREATE TABLE src_s.deals (deal_key {text}, source_name {text}, pipeline_id {text},
  stage_id {text}, status {text}, created_at timestamp, closed_at timestamp,
  updated_at timestamp, stage_changed_at timestamp, account_key {text}, amount {number});
CREATE TABLE src_s.stage_changes (deal_key {text}, changed_at timestamp, stage_id {text},
  from_stage_id {text}, pipeline_id {text}, origin {text});
CREATE TABLE src_s.stage_observations (deal_key {text}, observed_at timestamp,
  pipeline_id {text}, stage_id {text});
CREATE TABLE src_s.activities (activity_key {text}, deal_key {text}, occurred_at timestamp,
  is_deleted boolean, owner_id {text}, type {text});
CREATE SCHEMA hub_staging;
CREATE SCHEMA hub_meta;
CREATE VIEW hub_staging.stg_deals AS SELECT * FROM src_s.deals;
CREATE VIEW hub_staging.stg_stage_changes AS SELECT * FROM src_s.stage_changes;
CREATE VIEW hub_staging.stg_stage_observations AS SELECT * FROM src_s.stage_observations;
CREATE VIEW hub_staging.stg_activities AS SELECT activity_key, deal_key, occurred_at,
  coalesce(is_deleted, false) AS is_deleted, owner_id, lower(type) AS activity_type
  FROM src_s.activities;
CREATE VIEW hub_staging.stg_deal_loads AS SELECT deal_key, source_name,
  CAST(NULL AS timestamp) AS loaded_at FROM src_s.deals WHERE 1 = 0
"""
    for statement in statements.split(";"):
        if statement.strip():
            conn.execute(sa.text(statement))


def fill(conn: sa.Connection) -> None:
    for i, key in enumerate(DEALS, start=1):
        conn.execute(
            sa.text(
                "INSERT INTO src_s.deals VALUES (:k, 's', 'p', 'open_1', 'open', "
                "'2026-01-01', NULL, '2026-01-02', '2026-01-03', :a, :i)"
            ),
            {"k": key, "a": f"a{i % 3}", "i": i},
        )
        conn.execute(
            sa.text(
                "INSERT INTO src_s.stage_changes VALUES "
                "(:k, '2026-01-03', 'open_1', NULL, 'p', NULL)"
            ),
            {"k": key},
        )
        conn.execute(
            sa.text(
                "INSERT INTO src_s.stage_observations VALUES (:k, '2026-01-04', 'p', 'open_1')"
            ),
            {"k": key},
        )
        for j in range(2):
            conn.execute(
                sa.text("INSERT INTO src_s.activities VALUES (:a, :k, :t, false, 'o1', 'Call')"),
                {"a": f"{key}-{j}", "k": key, "t": f"2026-02-0{j + 1}"},
            )
    conn.execute(
        sa.text(
            "INSERT INTO src_s.activities VALUES ('x', NULL, '2026-02-01', false, 'o1', 'Call')"
        )
    )
