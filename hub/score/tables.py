"""The score's tables: the fitted-model cache and every backtest run in ``hub_meta``; the
scores themselves in ``analytics.deal_scores`` and, as `hub push` reads them,
``outbound.deal_scores``."""

from __future__ import annotations

import sqlalchemy as sa

from hub.warehouse import HUB_SCHEMA

metadata = sa.MetaData(schema=HUB_SCHEMA)

# One fitted model per training-data fingerprint (hub/score/store.py).
hub_score_models = sa.Table(
    "hub_score_models",
    metadata,
    sa.Column("fingerprint", sa.String, primary_key=True),
    sa.Column("fitted_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("fit_time", sa.DateTime(timezone=True), nullable=False),
    sa.Column("n_train", sa.Integer, nullable=False),
    sa.Column("n_calibration", sa.Integer, nullable=False),
    sa.Column("model_json", sa.Text, nullable=False),
)
# Which fitted model an input key (hub/score/prekey.py) led to: a run whose inputs and
# training cut are unchanged reuses that model without building the training table.
hub_score_input_keys = sa.Table(
    "hub_score_input_keys",
    metadata,
    sa.Column("input_key", sa.String, primary_key=True),
    sa.Column("fingerprint", sa.String, nullable=False),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
)
# `hub score --backtest`: one row per run x cutoff x model; the report and the push guard
# read the latest run.
hub_score_backtests = sa.Table(
    "hub_score_backtests",
    metadata,
    sa.Column("run_id", sa.String, nullable=False),
    sa.Column("run_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
    sa.Column("cutoff", sa.DateTime(timezone=True), nullable=False),
    sa.Column("model", sa.String, nullable=False),
    sa.Column("n_scored", sa.Integer, nullable=False),
    sa.Column("n_won", sa.Integer, nullable=False),
    sa.Column("brier", sa.Double),
    sa.Column("log_loss", sa.Double),
    sa.Column("auc", sa.Double),
)
hub_score_calibration = sa.Table(
    "hub_score_calibration",
    metadata,
    sa.Column("run_id", sa.String, nullable=False),
    sa.Column("cutoff", sa.DateTime(timezone=True), nullable=False),
    sa.Column("model", sa.String, nullable=False),
    sa.Column("decile", sa.Integer, nullable=False),  # 0: predicted in [0, 0.1) ... 9: [0.9, 1]
    sa.Column("n", sa.Integer, nullable=False),
    sa.Column("mean_predicted", sa.Double, nullable=False),
    sa.Column("observed_rate", sa.Double, nullable=False),
)
# Every prediction of a run, so its figures can be recomputed or charted.
hub_score_predictions = sa.Table(
    "hub_score_predictions",
    metadata,
    sa.Column("run_id", sa.String, nullable=False),
    sa.Column("cutoff", sa.DateTime(timezone=True), nullable=False),
    sa.Column("model", sa.String, nullable=False),
    sa.Column("deal_key", sa.String, nullable=False),
    sa.Column("predicted", sa.Double, nullable=False),
    sa.Column("won", sa.Boolean, nullable=False),
)

SCORES_SCHEMA = "analytics"
OUTBOUND_SCHEMA = "outbound"
scores_metadata = sa.MetaData()
deal_scores = sa.Table(
    "deal_scores",
    scores_metadata,
    sa.Column("deal_key", sa.String, nullable=False),
    sa.Column("source_name", sa.String, nullable=False),
    sa.Column("crm", sa.String, nullable=False),
    sa.Column("source_deal_id", sa.String, nullable=False),
    sa.Column("canonical_stage", sa.String),
    sa.Column("win_probability", sa.Double, nullable=False),
    sa.Column("reason", sa.String, nullable=False),
    sa.Column("model_fingerprint", sa.String, nullable=False),
    sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
    schema=SCORES_SCHEMA,
)


def ensure_score_tables(conn: sa.Connection) -> None:
    conn.execute(sa.text(f"CREATE SCHEMA IF NOT EXISTS {HUB_SCHEMA}"))
    metadata.create_all(conn)


def drop_relation(conn: sa.Connection, schema: str, name: str) -> None:
    """Drop a table or a view (an older hub built these names with dbt)."""
    inspector = sa.inspect(conn)
    if name in inspector.get_view_names(schema=schema):
        conn.execute(sa.text(f"DROP VIEW {schema}.{name}"))
    elif inspector.has_table(name, schema=schema):
        conn.execute(sa.text(f"DROP TABLE {schema}.{name}"))
