"""Small helpers for CSV tests: write a file, pull it, read the tables back."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dlt
import duckdb

from connectors.registry import get_connector
from hub.pull import SourceRun, pipeline_for, run_pull
from hub.warehouse import Warehouse
from models.config import HubConfig, parse_config

MAVEN_HEADER = (
    "opportunity_id,sales_agent,product,account,deal_stage,engage_date,close_date,close_value"
)


# Every table a CSV pull writes into the source's dataset (the two fast-path tests compare
# them all between two ways of reading).
CSV_TABLES = [
    "deals",
    "stage_changes",
    "activities",
    "owners",
    "stages",
    "pipelines",
    "accounts",
    "deal_accounts",
    "field_definitions",
]


def csv_config(folder: Path, deals: dict[str, Any], **options: Any) -> HubConfig:
    raw = {
        "sources": [{"name": "exp", "kind": "csv", "options": {"deals": deals, **options}}],
    }
    return parse_config(raw, folder / "hub.yml")


def pull(config: HubConfig) -> SourceRun:
    (result,) = run_pull(config)
    return result


def extract_only(config: HubConfig) -> tuple[dlt.Pipeline, str]:
    """Extract the config's one source as a pull does, then stop before normalize and load
    (what a crash leaves): the pipeline and the extracted package's load id."""
    (source,) = config.sources
    connector = get_connector(source.kind)
    ctx = connector.context(config, source, run_started_at=datetime.now(UTC))
    pipeline = pipeline_for(config, Warehouse(config), source.name)
    pipeline.extract(connector.build_source(ctx), loader_file_format="parquet")
    (load_id,) = pipeline.list_extracted_load_packages()
    return pipeline, load_id


def query(config: HubConfig, sql: str) -> list[tuple]:
    path = config.resolve_path(config.warehouse.path)
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(sql).fetchall()


def has_table(config: HubConfig, schema: str, table: str) -> bool:
    return bool(
        query(
            config,
            f"SELECT 1 FROM information_schema.tables WHERE table_schema = '{schema}' AND table_name = '{table}'",
        )
    )
