"""The stage-observation rule: the hub keeps each deal's stage history itself, so history
survives vendor retention limits and CRMs that keep none."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from hub.warehouse.meta import dataset_name, has_table


def record_observations(conn: sa.Connection, source_name: str, seen_at: datetime) -> int:
    """Append the stage each deal is in now where it differs from the last observation.

    ``observed_at`` is the best estimate of when the deal entered that stage: the CRM's
    stage-change or modification time when it falls after the previous observation,
    else the time of this sync (``seen_at``).
    """
    schema = dataset_name(source_name)
    if not has_table(conn, schema, "deals"):
        return 0
    conn.execute(
        sa.text(
            f"CREATE TABLE IF NOT EXISTS {schema}.stage_observations ("
            "source_name varchar NOT NULL, crm varchar NOT NULL, deal_key varchar NOT NULL, "
            "pipeline_id varchar, stage_id varchar NOT NULL, observed_at timestamptz NOT NULL, "
            "seen_at timestamptz NOT NULL)"
        )
    )
    result = conn.execute(
        sa.text(f"""
        INSERT INTO {schema}.stage_observations
            (source_name, crm, deal_key, pipeline_id, stage_id, observed_at, seen_at)
        SELECT d.source_name, d.crm, d.deal_key, d.pipeline_id, d.stage_id,
               CASE
                 WHEN coalesce(d.stage_changed_at, d.updated_at) IS NOT NULL
                  AND coalesce(d.stage_changed_at, d.updated_at) <= :seen_at
                  AND (last_obs.observed_at IS NULL
                       OR coalesce(d.stage_changed_at, d.updated_at) > last_obs.observed_at)
                 THEN coalesce(d.stage_changed_at, d.updated_at)
                 ELSE :seen_at
               END,
               :seen_at
        FROM {schema}.deals d
        LEFT JOIN (
            SELECT deal_key, pipeline_id, stage_id, observed_at,
                   row_number() OVER (PARTITION BY deal_key ORDER BY observed_at DESC,
                                      seen_at DESC) AS recency
            FROM {schema}.stage_observations
        ) last_obs ON last_obs.deal_key = d.deal_key AND last_obs.recency = 1
        WHERE d.stage_id IS NOT NULL
          AND NOT coalesce(d.is_deleted, false)
          AND (last_obs.deal_key IS NULL
               OR last_obs.stage_id <> d.stage_id
               OR coalesce(last_obs.pipeline_id, '') <> coalesce(d.pipeline_id, ''))
        """),
        {"seen_at": seen_at},
    )
    return int(result.rowcount or 0)
