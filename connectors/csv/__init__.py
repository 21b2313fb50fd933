"""``kind: csv``: any CRM export, mapped onto the canonical schema by configuration."""

from connectors.base import Connector
from connectors.csv.options import CsvOptions
from connectors.registry import deferred

CONNECTOR = Connector(
    kind="csv",
    description="CSV exports from any CRM, mapped column by column in hub.yml",
    options_model=CsvOptions,
    build_source=deferred("connectors.csv.source:build_source"),
)
