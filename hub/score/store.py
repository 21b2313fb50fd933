"""Scores at ``as_of``: fit (or reuse) the model, score the open deals, write the tables.

``hub.transform`` calls :func:`write_scores` once after dbt has built the per-deal tables.

Training cut: the model learns from monthly snapshots taken before the UTC day start of
``as_of`` of deals closed by then, so every sync of one day trains on the same rows; only
the open deals are read at ``as_of`` itself.

Two keys avoid refitting. The fingerprint hashes the training rows themselves (every
feature value and label): a model is refitted exactly when they change (a deal closed before
the cut, a closed deal's history was edited, a new month added its snapshots), never merely
because time passed. Building those rows is the expensive part, so a cheaper training key
(hub/score/prekey.py: feature version, dimensions, training cut and a content hash of the
deals closed by the cut, with their spells, activities and dimensions) is recorded beside
the model: when it matches, the cached model is reused and the training table is not built.
The training rows read nothing else (features.py compares a deal at T only with deals
closed by T), so changes to deals open, new, closed or deleted today never move the key.
Both keys are functions of the data and the training cut alone, so the same data at the
same ``as_of`` always give the same scores, whatever was cached before.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa
import sqlalchemy as sa

from hub.score import bases
from hub.score.ahead import beside
from hub.score.columns import copy_rows
from hub.score.features import FeatureTable, naive_utc, read_features, read_open_features
from hub.score.model import NotEnoughHistory, ScoreModel, fit, reasons, snapshot_instants
from hub.score.model import training_rows as select_training
from hub.score.prekey import TRAINING_DEALS, key_prefix, training_key
from hub.score.tables import (
    OUTBOUND_SCHEMA,
    SCORES_SCHEMA,
    deal_scores,
    drop_relation,
    ensure_score_tables,
    hub_score_input_keys,
    hub_score_models,
)
from hub.warehouse import Warehouse
from models.config import HubConfig

FEATURE_VERSION = "3"  # bump when features.py changes meaning: cached models are then refitted
REASON_MAX = 250  # characters the CRMs' reason fields hold


@dataclass
class ScoreRun:
    scored: int
    fingerprint: str | None
    refitted: bool
    note: str | None = None
    training_rows: int | None = None  # None: the training key reused a model, no table built
    base_reused: bool = False  # the open deals' comparisons came from a kept base (bases.py)

    @property
    def warnings(self) -> list[str]:
        return [self.note] if self.note else []


def fingerprint(table: FeatureTable) -> str:
    """A hash of every training value and label, column by column (no Python per row).

    Each column is hashed as one buffer under its name: strings as their UTF-8 lengths plus
    the joined bytes (so no separator can be confused with text), instants as int64
    microseconds, labels as int8 (-1 open), numeric values as float64 rounded to 9 decimals
    with every missing value one NaN. The key changes exactly when one of them changes."""
    digest = hashlib.sha256(f"fv{FEATURE_VERSION}|n{len(table)}".encode())
    _hash_texts(digest, "deal_key", table.deal_key)
    instants = pa.array(table.at, pa.timestamp("us")).cast(pa.int64())
    _hash_buffer(digest, "at", instants.to_numpy(zero_copy_only=False))
    won = pa.array(table.won, pa.bool_()).cast(pa.int8()).fill_null(-1)
    _hash_buffer(digest, "won", won.to_numpy(zero_copy_only=False))
    for name, values in table.numeric.items():
        _hash_buffer(digest, f"num:{name}", _rounded(values))
    for name in sorted(table.categorical):
        _hash_texts(digest, f"cat:{name}", table.categorical[name])
    return digest.hexdigest()[:32]


def _rounded(values: Any) -> np.ndarray:
    if isinstance(values, np.ndarray):
        floats = values.astype(np.float64)
    else:
        floats = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    floats = np.round(floats, 9) + 0.0  # + 0.0: -0.0 hashes as 0.0
    floats[np.isnan(floats)] = np.nan  # one NaN bit pattern
    return floats


def _hash_buffer(digest: Any, name: str, values: np.ndarray) -> None:
    digest.update(f"|{name}:{values.dtype.str}:{len(values)}|".encode())
    digest.update(np.ascontiguousarray(values).tobytes())


def _hash_texts(digest: Any, name: str, values: Sequence[str]) -> None:
    """The UTF-8 length of every value, then all their bytes: read off one Arrow array
    (its offsets and data buffers), not encoded one string at a time."""
    texts = pa.array(values, pa.large_string())
    if not len(texts):
        _hash_buffer(digest, name, np.zeros(0, np.int64))
        return
    offsets = np.frombuffer(texts.buffers()[1], np.int64, len(texts) + 1)
    _hash_buffer(digest, name, np.diff(offsets))
    data = texts.buffers()[2]
    if data is not None:
        digest.update(memoryview(data)[offsets[0] : offsets[-1]])


def first_created(conn: sa.Connection) -> datetime | None:
    return conn.execute(
        sa.text(
            "select min(created_at) from hub_staging.int_deals_enriched "
            "where is_counted and created_at is not null"
        )
    ).scalar()


def features_for(
    conn: sa.Connection, config: HubConfig, fit_time: datetime, extra: list[datetime]
) -> FeatureTable | None:
    """Monthly snapshots up to ``fit_time`` plus the ``extra`` instants (the backtest's), of
    the deals closed by ``fit_time`` (the backtest learns from and tests on no others)."""
    first = first_created(conn)
    if first is None:
        return None
    instants = snapshot_instants(first, naive_utc(fit_time)) + [naive_utc(t) for t in extra]
    return read_features(conn, instants, list(config.dimensions), labelled_by=naive_utc(fit_time))


def training_cut(as_of: datetime) -> datetime:
    """The UTC day start of ``as_of`` (naive): what the model may learn from ends there."""
    return naive_utc(as_of).replace(hour=0, minute=0, second=0)


def first_training_created(conn: sa.Connection, cut: datetime) -> datetime | None:
    """The first creation among the deals closed by ``cut``: no training row is older."""
    query = sa.text(
        f"select min(created_at) from hub_staging.int_deals_enriched where {TRAINING_DEALS}"
    )
    return conn.execute(
        query.bindparams(sa.bindparam("cut", type_=sa.DateTime())), {"cut": cut}
    ).scalar()


def training_table(conn: sa.Connection, config: HubConfig, cut: datetime) -> FeatureTable:
    """Monthly snapshots before ``cut`` of the deals closed by then (what the training key
    hashes, and nothing else)."""
    first = first_training_created(conn, cut)
    if first is None:
        raise NotEnoughHistory(f"no deal won or lost by {cut:%Y-%m-%d} to learn from")
    instants = snapshot_instants(first, cut)
    if not instants:
        raise NotEnoughHistory(
            f"no month start between the first closed deal's creation and {cut:%Y-%m-%d}"
        )
    table = read_features(conn, instants, list(config.dimensions), labelled_by=cut)
    return select_training(table, fit_time=cut)


def cached_by_input_key(conn: sa.Connection, key: str | None) -> tuple[ScoreModel, str] | None:
    if key is None:
        return None
    ensure_score_tables(conn)
    found = conn.execute(
        sa.select(hub_score_models.c.model_json, hub_score_models.c.fingerprint)
        .join(
            hub_score_input_keys,
            hub_score_input_keys.c.fingerprint == hub_score_models.c.fingerprint,
        )
        .where(hub_score_input_keys.c.input_key == key)
    ).first()
    if found is None:
        return None
    try:
        return ScoreModel.from_json(found[0]), found[1]
    except (ValueError, TypeError, KeyError):  # written by another version: rebuild
        return None


def keys_recorded_for(conn: sa.Connection, cut: datetime) -> bool:
    """Whether any training key of ``cut`` was recorded (else none can match this run's)."""
    ensure_score_tables(conn)
    prefix = key_prefix(cut)
    found = conn.execute(
        sa.select(hub_score_input_keys.c.input_key)
        .where(hub_score_input_keys.c.input_key.startswith(prefix, autoescape=True))
        .limit(1)
    ).first()
    return found is not None


def record_input_key(conn: sa.Connection, key: str, fingerprint_: str) -> None:
    conn.execute(hub_score_input_keys.delete().where(hub_score_input_keys.c.input_key == key))
    conn.execute(
        hub_score_input_keys.insert().values(
            input_key=key, fingerprint=fingerprint_, recorded_at=datetime.now(UTC)
        )
    )


def cached_or_fit(
    conn: sa.Connection, training: FeatureTable, fit_time: datetime
) -> tuple[ScoreModel, str, bool]:
    key = fingerprint(training)
    ensure_score_tables(conn)
    cached = conn.execute(
        sa.select(hub_score_models.c.model_json).where(hub_score_models.c.fingerprint == key)
    ).scalar()
    if cached is not None:
        try:
            return ScoreModel.from_json(cached), key, False
        except (ValueError, TypeError, KeyError):  # written by another version: refit
            conn.execute(hub_score_models.delete().where(hub_score_models.c.fingerprint == key))
    model = fit(training)
    conn.execute(
        hub_score_models.insert().values(
            fingerprint=key,
            fitted_at=datetime.now(UTC),
            fit_time=fit_time,
            n_train=model.n_train,
            n_calibration=model.n_calibration,
            model_json=model.to_json(),
        )
    )
    return model, key, True


def write_scores(config: HubConfig, warehouse: Warehouse, as_of: datetime) -> ScoreRun:
    """Score every deal open at ``as_of`` into analytics.deal_scores and outbound.deal_scores."""
    with warehouse.connect() as conn:
        if not sa.inspect(conn).has_table("int_deals_enriched", schema="hub_staging"):
            return ScoreRun(0, None, False, "no per-deal tables yet: nothing scored")
        cut = training_cut(as_of)
        salt = f"{FEATURE_VERSION}|{sorted(config.dimensions)}"
        with_dimensions = bool(config.dimensions)
        dimensions = list(config.dimensions)
        run = ScoreRun(0, None, False)
        rows: pa.Table | None = None

        def key_of(connection: sa.Connection) -> str | None:
            return training_key(connection, cut, salt, with_dimensions)

        def open_deals(connection: sa.Connection) -> FeatureTable:
            return read_features(connection, [as_of], dimensions)

        # The first run of a training cut (the day's first sync) finds no key of that cut
        # recorded: no key can match, so the table is built at once and the key is only
        # recorded after the fit. On PostgreSQL the open deals' features and that key are
        # computed on a second connection meanwhile (hub/score/ahead.py), in this
        # transaction's snapshot; elsewhere in turn on this one. A later run of the cut
        # that finds a base of it (hub/score/bases.py) reads the open deals here with the
        # base's comparisons while the key is computed beside, and keeps them if the key
        # is the base's.
        known = keys_recorded_for(conn, cut)
        with_bases = bases.supported(conn)
        base_key = bases.kept_key(conn, cut) if known and with_bases else None
        with beside(warehouse, conn) as submit:
            if base_key is None:
                scoring = submit(open_deals)
                later = None if known else submit(key_of)
                inputs = key_of(conn) if known else None
            else:
                later = submit(key_of)  # first: the key is this path's longer half
                base = bases.load(conn, base_key)
                with bases.comparisons_at(conn, base, cut, as_of) as history:
                    ahead = read_open_features(conn, as_of, dimensions, history)
                inputs, later = later(), None
                run.base_reused = inputs == base_key
                scoring = (lambda: ahead) if run.base_reused else submit(open_deals)
            # A new base, read beside (after the jobs above) while this connection fits or
            # scores: the run's own key is known only later, but base and key are read in
            # one snapshot, so the base is that key's.
            rebuilt = (
                submit(lambda other: bases.read_base(other, cut))
                if with_bases and not run.base_reused
                else None
            )
            try:
                cached = cached_by_input_key(conn, inputs)
                if cached is not None:
                    model, key = cached
                else:
                    training = training_table(conn, config, cut)
                    run.training_rows = len(training)
                    model, key, run.refitted = cached_or_fit(conn, training, cut)
                    inputs = later() if later is not None else inputs
                    if inputs is not None:
                        record_input_key(conn, inputs, key)
            except NotEnoughHistory as exc:
                run.note = f"deal scores not written: {exc}"
            else:
                run.fingerprint = key
                rows = score_rows(model, scoring(), key, as_of)
                if rebuilt is not None and inputs is not None:
                    bases.keep(conn, inputs, rebuilt())
        _replace_scores(conn, rows)
    run.scored = rows.num_rows if rows is not None else 0
    return run


def score_rows(model: ScoreModel, scoring: FeatureTable, key: str, as_of: datetime) -> pa.Table:
    """The rows of analytics.deal_scores for the scored deals, as one Arrow table."""
    probability, pushes = model.predict(scoring)
    texts = [text[:REASON_MAX] for text in reasons(scoring, pushes)]
    n = len(scoring)
    columns = {
        "deal_key": scoring.deal_key,
        "source_name": scoring.ids["source_name"],
        "crm": scoring.ids["crm"],
        "source_deal_id": scoring.ids["source_deal_id"],
        "canonical_stage": scoring.categorical["canonical_stage"],
        "win_probability": np.asarray(probability, dtype=np.float64),
        "reason": texts,
        "model_fingerprint": [key] * n,
        "as_of": [as_of] * n,
    }
    return pa.table(columns, schema=_SCORES_ARROW)


_SCORES_ARROW = pa.schema(
    [
        (
            column.name,
            {"win_probability": pa.float64(), "as_of": pa.timestamp("us", tz="UTC")}.get(
                column.name, pa.string()
            ),
        )
        for column in deal_scores.columns
    ]
)


def _insert_scores(conn: sa.Connection, rows: pa.Table) -> None:
    """Into analytics.deal_scores: on DuckDB as one Arrow table (its executemany goes row by
    row: 1.9 s for 10,840 scores), on PostgreSQL by COPY of Arrow's CSV (with the batched
    insert both score tables took 4.9 s to write for 32,343 scores, 1.3 s so), elsewhere as
    the dialect's batched insert."""
    if conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg2":
        copy_rows(conn, f"{SCORES_SCHEMA}.deal_scores", rows)
        return
    if conn.dialect.name != "duckdb":
        conn.execute(deal_scores.insert(), rows.to_pylist())
        return
    names = rows.column_names
    raw = conn.connection.driver_connection  # the DuckDB connection, in this transaction
    assert raw is not None
    raw.register("hub_scores_arrow", rows)
    try:
        raw.execute(
            f"insert into {SCORES_SCHEMA}.deal_scores ({', '.join(names)}) "
            f"select {', '.join(names)} from hub_scores_arrow"
        )
    finally:
        raw.unregister("hub_scores_arrow")


def _replace_scores(conn: sa.Connection, rows: pa.Table | None) -> None:
    for schema in (SCORES_SCHEMA, OUTBOUND_SCHEMA):
        conn.execute(sa.text(f"CREATE SCHEMA IF NOT EXISTS {schema}"))
    drop_relation(conn, OUTBOUND_SCHEMA, "deal_scores")
    drop_relation(conn, SCORES_SCHEMA, "deal_scores")
    deal_scores.create(conn)
    if rows is not None and rows.num_rows:
        _insert_scores(conn, rows)
    # What `hub push` writes: score (two decimals, so a move under 0.005 writes nothing) and
    # reason for every open deal; current_value null (the CRMs do not send these back).
    conn.execute(
        sa.text(
            f"""
create table {OUTBOUND_SCHEMA}.deal_scores as
with scored as (
    select s.source_name, s.crm, s.deal_key, s.source_deal_id, d.pipeline_id,
        d.updated_at as crm_updated_at,
        cast(cast(s.win_probability as decimal(5, 2)) as varchar) as score_text,
        substr(s.reason, 1, {REASON_MAX}) as reason_text
    from {SCORES_SCHEMA}.deal_scores s
    inner join {SCORES_SCHEMA}.deals d on d.deal_key = s.deal_key
    where d.is_open and not d.is_deleted
),
fields as (
    select source_name, crm, deal_key, source_deal_id, pipeline_id, crm_updated_at,
        'hub_score' as field, score_text as value
    from scored
    union all
    select source_name, crm, deal_key, source_deal_id, pipeline_id, crm_updated_at,
        'hub_score_reason' as field, reason_text as value
    from scored
)
select deal_key || '|' || field as outbound_key, source_name, crm, deal_key, source_deal_id,
    pipeline_id, field, value, cast(null as varchar) as current_value, crm_updated_at,
    cast('deal_scores' as varchar) as reason
from fields
"""
        )
    )


__all__ = ["ScoreRun", "fingerprint", "training_cut", "write_scores"]
