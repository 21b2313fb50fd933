"""Canonical accounts, deals and owners of several sources, written straight from one
generated world, loaded with dlt the way ``hub pull`` loads a source, and the truth to
score resolution against.

Each source writes a company its own way (``companies.account_view``: name and website)
under its own opaque native id, and holds its share of the deals plus migrated copies of
the previous source's (``WorldSpec.duplicate_share``), each copy's ``legacy_id`` custom
field naming the original's native id. The truth: records seeded from one world account
are one company; ``companies.duplicate_truth`` lists the copies.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dlt
import yaml

from connectors.canonical_tables import canonical_hints
from connectors.synthetic import World, WorldSpec
from connectors.synthetic import companies as gen
from connectors.values import web_domain
from hub.warehouse import Warehouse, dataset_name
from models.canonical import Account, Deal, Owner, make_key
from models.config import HubConfig, parse_config

SOURCES = {"hubspot_main": "hubspot", "pipedrive_eu": "pipedrive", "salesforce_us": "salesforce"}


def account_native_id(index: int, source_index: int) -> str:
    """An opaque per-source id, unrelated to the world's account id or order."""
    return f"{(index * 7919 + source_index * 104_729) % 1_000_003:07d}"


@dataclass
class SeededWorld:
    world: World
    sources: list[str]
    company_of: dict[str, int] = field(default_factory=dict)  # account_key -> world account
    duplicate_pairs: set[frozenset[str]] = field(default_factory=set)  # {copy key, original key}
    rows: dict[str, dict[str, Iterable[dict[str, Any]]]] = field(default_factory=dict)

    def account_key(self, source: str, account_index: int) -> str:
        return make_key(source, account_native_id(account_index, self.sources.index(source)))


def seed(spec: WorldSpec, sources: list[str] | None = None, *, stream: bool = False) -> SeededWorld:
    """The world's rows per source and table. With ``stream`` they are generators, for
    loading large worlds without holding them; ``company_of`` fills as they are read."""
    world = World(spec)
    names = sources or list(SOURCES)
    seeded = SeededWorld(world, names)
    for s, source in enumerate(names):
        crm = SOURCES.get(source, "csv")
        tables = {
            "accounts": _accounts(seeded, source, s, crm),
            "deals": _deals(seeded, source, s, crm),
            "owners": _owners(world, source, s, crm),
        }
        seeded.rows[source] = tables if stream else {t: list(rows) for t, rows in tables.items()}
    for pair in gen.duplicate_truth(world, len(names)):
        seeded.duplicate_pairs.add(
            frozenset(
                (
                    make_key(names[pair.copy_source], pair.copy_deal_id),
                    make_key(names[pair.original_source], pair.original_deal_id),
                )
            )
        )
    return seeded


def _accounts(seeded: SeededWorld, source: str, s: int, crm: str) -> Iterator[dict[str, Any]]:
    world = seeded.world
    for account in world.source_accounts(s, len(seeded.sources)):
        view = gen.account_view(account, s, world.spec.seed)
        key = seeded.account_key(source, account.index)
        seeded.company_of[key] = account.index
        yield {
            "source_name": source,
            "crm": crm,
            "account_key": key,
            "source_account_id": account_native_id(account.index, s),
            "name": view.name,
            "website": view.website,
            "domain": web_domain(view.website),
            "industry": account.industry,
            "country": account.country,
            "owner_id": _owner_id(source, account.owner or ""),
            "created_at": account.created_at,
            "updated_at": account.updated_at,
            "is_deleted": False,
            "custom_fields": {"segment": account.segment, "employees": account.employees},
        }


def _deals(seeded: SeededWorld, source: str, s: int, crm: str) -> Iterator[dict[str, Any]]:
    views: dict[int, str] = {}
    for deal in seeded.world.iter_source_deals(s, len(seeded.sources)):
        account = deal.account
        if account.index not in views:
            views[account.index] = gen.account_view(account, s, seeded.world.spec.seed).name
        custom = {"lead_source": deal.lead_source}
        if deal.legacy_id is not None:
            custom["legacy_id"] = deal.legacy_id
        yield {
            "source_name": source,
            "crm": crm,
            "deal_key": make_key(source, deal.deal_id),
            "source_deal_id": deal.deal_id,
            "name": deal.name,
            "pipeline_id": "default",
            "stage_id": deal.stage,
            "status": deal.status,
            "amount": deal.amount,
            "currency": deal.currency,
            "owner_id": _owner_id(source, deal.owner),
            "account_id": account_native_id(deal.account.index, s),
            "account_name": views[account.index],
            "account_key": seeded.account_key(source, deal.account.index),
            "created_at": deal.created_at,
            "expected_close_date": deal.expected_close_date,
            "closed_at": deal.closed_at,
            "updated_at": deal.updated_at,
            "is_deleted": False,
            "custom_fields": custom,
        }


def _owner_id(source: str, rep_id: str) -> str:
    return f"{source[:2]}-{rep_id}"


def _owners(world: World, source: str, s: int, crm: str) -> Iterator[dict[str, Any]]:
    for rep in world.reps:
        native = _owner_id(source, rep.rep_id)
        yield {
            "source_name": source,
            "crm": crm,
            "owner_key": make_key(source, native),
            "source_owner_id": native,
            "name": rep.name,
            # Pipedrive-shaped sources write e-mails upper case: matching must not care.
            "email": rep.email.upper() if s == 1 else rep.email,
            "team": rep.team,
            "is_active": rep.is_active,
        }


def hub_config(folder: Path, sources: list[str], **sections: Any) -> HubConfig:
    """A hub.yml in ``folder`` naming the sources, with extra sections such as
    ``duplicates={...}``; written to disk too, so a person can rerun it."""
    raw = {
        "warehouse": {"kind": "duckdb", "path": ".hub/hub.duckdb"},
        "sources": [
            {"name": name, "kind": SOURCES.get(name, "csv"), "options": {}} for name in sources
        ],
        **sections,
    }
    path = folder / "hub.yml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return parse_config(raw, path)


def load(
    config: HubConfig, tables: dict[str, dict[str, Iterable[dict[str, Any]]]], pipelines_dir: Path
) -> None:
    """Each source's rows into ``src_<source>`` through dlt, as ``hub pull`` loads them
    (merge on the canonical keys; parquet on DuckDB)."""
    warehouse = Warehouse(config)
    models = {"accounts": Account, "deals": Deal, "owners": Owner}
    for source, by_table in tables.items():
        pipeline = dlt.pipeline(
            pipeline_name=f"hub_{source}",
            destination=warehouse.dlt_destination(),
            dataset_name=dataset_name(source),
            pipelines_dir=str(pipelines_dir),
        )
        resources = [
            dlt.resource(rows, **canonical_hints(models[table])) for table, rows in by_table.items()
        ]
        file_format: Any = "parquet" if warehouse.kind == "duckdb" else None
        pipeline.run(resources, loader_file_format=file_format)
