"""Finds connector kinds: the built-in ones below, plus the ``hub.connectors`` entry points.

Built-ins are imported lazily by dotted path, so one kind's missing optional dependency
never breaks the others. Adding a CRM is one line here and one folder beside this file.

A kind's package is cheap to import: it names its source and writer builders by dotted
path (:func:`deferred`), so reading what a kind declares (its default stage map, before
every transform; its options; its sandbox's path) loads none of its pull or push code.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from functools import cache
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

from connectors.base import Connector
from models.errors import ConfigError

if TYPE_CHECKING:
    from connectors.sandbox import SandboxServer

BUILTIN_KINDS: dict[str, str] = {
    "csv": "connectors.csv:CONNECTOR",
    "hubspot": "connectors.hubspot:CONNECTOR",
    "pipedrive": "connectors.pipedrive:CONNECTOR",
    "salesforce": "connectors.salesforce:CONNECTOR",
}
ENTRY_POINT_GROUP = "hub.connectors"


def _import(target: str) -> Any:
    """The object a ``module.path:attribute`` target names, importing its module now."""
    module_name, _, attr = target.partition(":")
    return getattr(importlib.import_module(module_name), attr)


def deferred(target: str) -> Callable[..., Any]:
    """The function a ``module.path:function`` target names, imported at its first call."""

    def call(*args: Any, **kwargs: Any) -> Any:
        return _import(target)(*args, **kwargs)

    call.__name__ = call.__qualname__ = target.partition(":")[2]
    call.__doc__ = f"{target}, imported when first called (connectors.registry.deferred)"
    return call


def _load(target: str) -> Connector:
    connector = _import(target)
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


def sandbox_class(kind: str) -> type[SandboxServer]:
    """The sandbox class of ``kind``, imported only now: pulling never loads a sandbox."""
    from connectors.sandbox import SandboxServer

    target = get_connector(kind).sandbox
    if target is None:
        with_one = [c.kind for c in all_connectors() if c.sandbox]
        raise ConfigError(f"kind '{kind}' has no sandbox; kinds with one: {', '.join(with_one)}")
    cls = _import(target)
    if not (isinstance(cls, type) and issubclass(cls, SandboxServer)):
        raise TypeError(f"{target} is not a connectors.sandbox.SandboxServer")
    return cls
