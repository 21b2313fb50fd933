"""Finds connector kinds: the built-in ones below, plus the ``hub.connectors`` entry points.

Built-ins are imported lazily by dotted path, so one kind's missing optional dependency
never breaks the others. Adding a CRM is one line here and one folder beside this file.
"""

from __future__ import annotations

import importlib
from functools import cache
from importlib.metadata import entry_points

from connectors.base import Connector
from models.errors import ConfigError

BUILTIN_KINDS: dict[str, str] = {
    "csv": "connectors.csv:CONNECTOR",
    "hubspot": "connectors.hubspot:CONNECTOR",
    "pipedrive": "connectors.pipedrive:CONNECTOR",
    "salesforce": "connectors.salesforce:CONNECTOR",
}
ENTRY_POINT_GROUP = "hub.connectors"


def _load(target: str) -> Connector:
    module_name, _, attr = target.partition(":")
    connector = getattr(importlib.import_module(module_name), attr)
    if not isinstance(connector, Connector):
        raise TypeError(f"{target} is not a connectors.base.Connector")
    return connector


@cache
def available_kinds() -> dict[str, str]:
    """kind -> import target; entry points may add kinds but not shadow built-ins."""
    kinds = dict(BUILTIN_KINDS)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        kinds.setdefault(ep.name, ep.value)
    return {k: v for k, v in kinds.items() if _importable(v)}


def _importable(target: str) -> bool:
    module_name = target.partition(":")[0]
    try:
        return importlib.util.find_spec(module_name) is not None
    except ModuleNotFoundError:
        return False


def get_connector(kind: str) -> Connector:
    kinds = available_kinds()
    if kind not in kinds:
        raise ConfigError(
            f"'{kind}' is not a known connector kind; valid: {', '.join(sorted(kinds))}"
        )
    return _load(kinds[kind])


def all_connectors() -> list[Connector]:
    return [_load(target) for target in available_kinds().values()]
