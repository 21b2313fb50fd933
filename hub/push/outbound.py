"""Reading the outbound models, and the dbt vars that shape them.

Outbound relations live in schema ``outbound`` (dbt_project.yml routes transforms/outbound
there). They are read through sqlalchemy, so DuckDB and PostgreSQL behave alike. A user
model needs only the key columns; ``current_value`` and ``crm_updated_at`` are optional.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from connectors.values import as_utc
from hub.push.normalize import norm
from models.config import HubConfig
from models.errors import ConfigError

OUTBOUND_SCHEMA = "outbound"
REQUIRED = ("source_name", "crm", "deal_key", "source_deal_id", "field", "value")
OPTIONAL = ("pipeline_id", "current_value", "crm_updated_at")
HUB_FIELDS = ("hub_score", "hub_score_reason", "stage_id")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_ -]{0,60}$")


@dataclass(frozen=True)
class OutboundRow:
    model: str
    source_name: str
    crm: str
    deal_key: str
    deal_id: str
    field: str
    value: str | None
    pipeline_id: str | None = None
    current_value: str | None = None
    crm_updated_at: datetime | None = None


def dbt_vars(config: HubConfig) -> dict[str, Any]:
    """Vars the outbound models need: the stage rules when push.stage_rules is on.

    ``hub.transform.run_transform`` passes these to dbt (``extra_vars``)."""
    push = config.push
    if not push.stage_rules:
        return {"push_stage_rules": []}
    names = set(config.stage_names)
    rules = []
    for i, rule in enumerate(push.rules):
        where = f"push.rules[{i}:{rule.name}]"
        if not _NAME.match(rule.name):
            raise ConfigError(
                f"{where}.name: use letters, digits, spaces, '-' or '_' (got {rule.name!r})"
            )
        for stage in [*rule.from_stages, rule.to_stage]:
            if stage not in names:
                raise ConfigError(
                    f"{where}: '{stage}' is not a canonical stage; valid: {', '.join(config.stage_names)}"
                )
        rules.append(rule.model_dump())
    return {"push_stage_rules": rules}


def _utc(value: Any) -> datetime | None:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return as_utc(value) if isinstance(value, datetime) else None


def read_outbound(conn: sa.Connection, models: list[str]) -> tuple[list[OutboundRow], list[str]]:
    """Every row of the listed outbound relations, and notes on relations that are missing
    or malformed. When two models ask for the same deal and field, the first listed wins."""
    inspector = sa.inspect(conn)
    rows: dict[tuple[str, str], OutboundRow] = {}
    notes: list[str] = []
    for model in models:
        if not _NAME.match(model) or " " in model:
            raise ConfigError(f"push.models: '{model}' is not a relation name")
        if not inspector.has_table(model, schema=OUTBOUND_SCHEMA):
            notes.append(f"{OUTBOUND_SCHEMA}.{model} does not exist yet; run 'hub transform'")
            continue
        probe = conn.execute(sa.text(f"SELECT * FROM {OUTBOUND_SCHEMA}.{model} WHERE 1 = 0"))
        names = probe.keys()
        columns = {str(c).lower() for c in names}
        missing = [c for c in REQUIRED if c not in columns]
        if missing:
            raise ConfigError(
                f"{OUTBOUND_SCHEMA}.{model}: missing column(s) {', '.join(missing)}; an outbound "
                f"model needs {', '.join(REQUIRED)} (see docs/reverse-sync.md)"
            )
        present = [*REQUIRED, *(c for c in OPTIONAL if c in columns)]
        table = sa.table(model, *(sa.column(c) for c in present), schema=OUTBOUND_SCHEMA)
        query = sa.select(*(table.c[c] for c in present)).where(table.c.value.is_not(None))
        for record in conn.execute(query).mappings():
            field = str(record["field"])
            if field not in HUB_FIELDS:
                raise ConfigError(
                    f"{OUTBOUND_SCHEMA}.{model}: field '{field}' is not a hub field; "
                    f"valid: {', '.join(HUB_FIELDS)}"
                )
            key = (str(record["deal_key"]), field)
            if key in rows:
                continue
            rows[key] = OutboundRow(
                model=model,
                source_name=str(record["source_name"]),
                crm=str(record["crm"]),
                deal_key=key[0],
                deal_id=str(record["source_deal_id"]),
                field=field,
                value=norm(field, record["value"]),
                pipeline_id=None
                if record.get("pipeline_id") is None
                else str(record["pipeline_id"]),
                current_value=norm(field, record.get("current_value")),
                crm_updated_at=_utc(record.get("crm_updated_at")),
            )
    return list(rows.values()), notes
