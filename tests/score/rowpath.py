"""The score's row-by-row path as it was before the columnar one (main at aab8d20), kept as
the oracle the columnar path must match to the bit: rows fetched as mappings, dimension
values read for every deal into a dict, each feature computed with ``math`` one deal at a
time, reasons ranked with one Python sort per deal, one dict per score row.

Its SQL is the feature query's text as it was then (tests/score/oracle_sql.py, with ``order
by`` appended and no dimension columns), not hub.score.features' current one: the dimension
pivot, the de-duplication of spells, the ordering, every feature formula, the ranking of
reasons and the score rows are its own too.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
import sqlalchemy as sa

from hub.score.features import (
    ACTIVITY_TYPES,
    CATEGORICAL,
    FACTS,
    NUMERIC,
    STAGING,
    FeatureTable,
)
from hub.score.model import ScoreModel
from tests.score.oracle_sql import snapshot_sql

REASON_MAX = 250


def _days(later: datetime | None, earlier: datetime | None) -> float | None:
    if later is None or earlier is None:
        return None
    return max((later - earlier).total_seconds() / 86400.0, 0.0)


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _log_ratio(value: float | None, median: float | None) -> float | None:
    if not value or not median or value <= 0 or median <= 0:
        return None
    return math.log(value / median)


def dimension_values(conn: sa.Connection, dimensions: Sequence[str]) -> dict[str, dict[str, str]]:
    if not dimensions:
        return {}
    query = f"select deal_key, dimension, dimension_value from {STAGING}.int_deal_dimensions"
    out: dict[str, dict[str, str]] = {}
    for deal_key, dimension, value in conn.execute(sa.text(query)).tuples():
        if value is not None:
            out.setdefault(deal_key, {})[dimension] = str(value)
    return out


def read_features_rows(
    conn: sa.Connection,
    instants: Sequence[datetime],
    dimensions: Sequence[str] = (),
    labelled_by: datetime | None = None,
) -> FeatureTable:
    sql = snapshot_sql(instants, labelled_by) + "order by sn.snap_at, sn.deal_key, sn.spell_index"
    result = conn.execute(sa.text(sql)).mappings().all()
    dims = dimension_values(conn, dimensions)
    table = FeatureTable(
        ids={"source_name": [], "crm": [], "source_deal_id": []},
        numeric={name: [] for name in NUMERIC},
        categorical={name: [] for name in (*CATEGORICAL, *(f"dim_{d}" for d in dimensions))},
        facts={name: [] for name in FACTS},
    )
    seen: set[tuple[str, datetime]] = set()
    for row in reversed(result):  # the latest spell wins when two share an instant
        key = (row["deal_key"], row["snap_at"])
        if key in seen:
            continue
        seen.add(key)
        _append(table, row, dims.get(row["deal_key"], {}), dimensions)
    order = sorted(range(len(table)), key=lambda i: (table.at[i], table.deal_key[i]))
    return table.take(order)


def _append(table: FeatureTable, row: Any, dims: dict[str, str], dimensions: Sequence[str]) -> None:
    at = row["snap_at"]
    status = row["status"]
    table.deal_key.append(row["deal_key"])
    table.at.append(at)
    table.closed_at.append(row["closed_at"] if status in ("won", "lost") else None)
    table.won.append(status == "won" if status in ("won", "lost") else None)
    for name in ("source_name", "crm", "source_deal_id"):
        table.ids[name].append(row[name])
    days_in_stage = _days(at, row["stage_entered_at"]) or 0.0
    norm = row["norm_days"]
    norm = float(norm) if norm is not None else None
    last_touch = row["last_activity_at"] or row["created_at"]
    since = _days(at, last_touch)
    rep_closed = int(row["rep_closed"] or 0)
    amount = row["amount_base"]
    values: dict[str, float | None] = {
        "stage_dwell_ratio": math.log1p(days_in_stage / norm) if norm and norm > 0 else None,
        "earlier_dwell": _float(row["earlier_dwell"]),
        "deal_age_days": math.log1p(_days(at, row["created_at"]) or 0.0),
        "backward_moves": float(row["backward_moves"] or 0),
        **{f"{k}s_30d": math.log1p(float(row[f"{k}s_30d"] or 0)) for k in ACTIVITY_TYPES},
        "activities_to_date": math.log1p(float(row["activities_to_date"] or 0)),
        "days_since_activity": math.log1p(since) if since is not None else None,
        "rep_win_rate": (int(row["rep_won"] or 0) / rep_closed) if rep_closed else None,
        "rep_closed": math.log1p(rep_closed),
        "amount_vs_rep": _log_ratio(amount, row["rep_median_amount"]),
        "amount_vs_pipeline": _log_ratio(amount, row["pipeline_median_amount"]),
        "account_won": math.log1p(float(row["account_won"] or 0)),
        "account_lost": math.log1p(float(row["account_lost"] or 0)),
    }
    for name in NUMERIC:
        table.numeric[name].append(values[name])
    table.categorical["canonical_stage"].append(row["canonical_stage"] or "")
    table.categorical["source_name"].append(row["source_name"] or "")
    table.categorical["pipeline"].append(row["pipeline_key"] or "")
    for dim in dimensions:
        table.categorical[f"dim_{dim}"].append(dims.get(dim, ""))
    table.facts["days_in_stage"].append(days_in_stage)
    table.facts["norm_days"].append(norm)
    table.facts["idle_days"].append(since)
    table.facts["rep_won"].append(int(row["rep_won"] or 0))


def _plural(n: float, word: str) -> str:
    count = round(n)
    return f"{count} {word}" + ("" if count == 1 else "s")


def describe_row(group: str, table: FeatureTable, i: int) -> str:
    stage = table.categorical["canonical_stage"][i] or "its stage"
    facts = table.facts
    if group == "stage_dwell_ratio":
        days, norm = facts["days_in_stage"][i], facts["norm_days"][i]
        if norm:
            ratio = days / norm
            if ratio >= 1.5:
                return f"{ratio:.1f} times longer in {stage} than usual"
            if ratio <= 0.67:
                return f"{days:.0f} days in {stage}, quicker than the usual {norm:.0f}"
            return f"{days:.0f} days in {stage}, about the usual {norm:.0f}"
        return f"{days:.0f} days in {stage}"
    if group == "canonical_stage":
        return f"in {stage}"
    if group == "days_since_activity":
        since = facts["idle_days"][i]
        return f"no activity in {since:.0f} days" if since >= 7 else "active this week"
    if group.endswith("s_30d"):
        kind = group.removesuffix("s_30d")
        n = math.expm1(table.numeric[group][i] or 0.0)
        return f"{_plural(n, kind) if n >= 0.5 else 'no ' + kind + 's'} in the last 30 days"
    if group == "rep_win_rate":
        rate = table.numeric["rep_win_rate"][i]
        if rate is None:
            return "rep has no closed deals in the last year"
        return f"rep wins {100 * rate:.0f}% of deals"
    if group in ("amount_vs_rep", "amount_vs_pipeline"):
        value = table.numeric[group][i]
        whose = "the rep's" if group == "amount_vs_rep" else "the pipeline's"
        if value is None:
            return "no amount"
        return f"amount {math.exp(value):.1f}x {whose} median"
    if group == "deal_age_days":
        return f"open {math.expm1(table.numeric[group][i] or 0.0):.0f} days"
    if group == "backward_moves":
        n = table.numeric[group][i] or 0.0
        return f"moved back {_plural(n, 'time')}" if n else "never moved back a stage"
    if group == "account_won":
        won = round(math.expm1(table.numeric["account_won"][i] or 0.0))
        lost = round(math.expm1(table.numeric["account_lost"][i] or 0.0))
        if not won and not lost:
            return "first deal with this account"
        return f"account won {won} and lost {lost} earlier deals"
    if group == "source_name":
        return f"from {table.categorical['source_name'][i]}"
    if group == "pipeline":
        return f"pipeline {table.categorical['pipeline'][i].split(':', 1)[-1]}"
    if group.startswith("dim_"):
        return f"{group.removeprefix('dim_')} {table.categorical[group][i] or 'not set'}"
    return group


def reasons_rows(table: FeatureTable, pushes: dict[str, np.ndarray], *, top: int = 3) -> list[str]:
    groups = list(pushes)
    matrix = np.column_stack([pushes[g] for g in groups]) if groups else np.zeros((len(table), 0))
    out = []
    for i in range(len(table)):
        order = sorted(range(len(groups)), key=lambda k: (-abs(matrix[i, k]), groups[k]))
        parts = []
        for k in order[:top]:
            if abs(matrix[i, k]) < 0.05:
                break
            direction = "+" if matrix[i, k] > 0 else "-"
            parts.append(f"{describe_row(groups[k], table, i)} ({direction})")
        out.append("; ".join(parts) or "close to the average deal")
    return out


def score_rows_by_row(
    model: ScoreModel, scoring: FeatureTable, key: str, as_of: datetime
) -> list[dict]:
    probability, pushes = model.predict(scoring)
    texts = reasons_rows(scoring, pushes)
    return [
        {
            "deal_key": scoring.deal_key[i],
            "source_name": scoring.ids["source_name"][i],
            "crm": scoring.ids["crm"][i],
            "source_deal_id": scoring.ids["source_deal_id"][i],
            "canonical_stage": scoring.categorical["canonical_stage"][i],
            "win_probability": float(probability[i]),
            "reason": texts[i][:REASON_MAX],
            "model_fingerprint": key,
            "as_of": as_of,
        }
        for i in range(len(scoring))
    ]


# -- the fingerprint, the one-hot codes and the calibration split, as they were -------------


def fingerprint_by_row(table: FeatureTable, feature_version: str) -> str:
    digest = hashlib.sha256(f"fv{feature_version}|n{len(table)}".encode())
    _hash_texts(digest, "deal_key", table.deal_key)
    _hash_buffer(digest, "at", np.array(table.at, dtype="datetime64[us]").view(np.int64))
    labels = np.fromiter((-1 if w is None else int(w) for w in table.won), np.int8, len(table))
    _hash_buffer(digest, "won", labels)
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
    floats = np.round(floats, 9) + 0.0
    floats[np.isnan(floats)] = np.nan
    return floats


def _hash_buffer(digest: Any, name: str, values: np.ndarray) -> None:
    digest.update(f"|{name}:{values.dtype.str}:{len(values)}|".encode())
    digest.update(np.ascontiguousarray(values).tobytes())


def _hash_texts(digest: Any, name: str, values: Sequence[str]) -> None:
    encoded = [v.encode() for v in values]
    _hash_buffer(digest, name, np.fromiter(map(len, encoded), np.int64, len(encoded)))
    digest.update(b"".join(encoded))


def codes_by_row(values: Sequence[str], levels: Sequence[str]) -> np.ndarray:
    index = {level: k for k, level in enumerate(levels)}
    return np.fromiter((index.get(v, -1) for v in values), dtype=np.int64, count=len(values))


def split_by_close_by_row(table: FeatureTable, share: float) -> tuple[list[int], list[int]]:
    closes = sorted({(table.closed_at[i], table.deal_key[i]) for i in range(len(table))})
    n_late = int(len(closes) * share)
    late = {key for _, key in closes[len(closes) - n_late :]} if n_late else set()
    fit = [i for i in range(len(table)) if table.deal_key[i] not in late]
    calibrate = [i for i in range(len(table)) if table.deal_key[i] in late]
    return fit, calibrate
