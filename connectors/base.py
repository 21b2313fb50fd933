"""The connector contract: what a CRM kind provides to the hub.

A kind is one :class:`Connector` value exported as ``CONNECTOR`` from its package
(``connectors/<kind>/__init__.py``) or from a third-party package through the
``hub.connectors`` entry-point group. It says how to pull (a dlt source yielding the
canonical tables), how its options look, its default stage map, and optionally how to
write back (a :class:`Writer`) and how to fake the CRM offline (a sandbox).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar

from pydantic import BaseModel, ValidationError

from connectors.http import RequestStats
from models.config import HubConfig, SourceConfig
from models.errors import ConfigError, QuotaExhausted, config_error_from_validation

if TYPE_CHECKING:
    import sqlalchemy as sa
    from dlt.sources import DltSource


class SecretResolver:
    """Resolves credential references: ``env:NAME``, ``dlt:NAME`` or a literal value.

    Literal tokens in hub.yml work but are discouraged (the file gets committed).
    Every resolved value is remembered so logs and errors can be scrubbed of it.
    """

    def __init__(self, source_name: str, *, key_path: str | None = None) -> None:
        self.source_name = source_name
        self.key_path = key_path or f"sources[{source_name}].credentials"
        self.revealed: list[str] = []

    def resolve(
        self, credentials: Mapping[str, str], key: str, *, required: bool = True
    ) -> str | None:
        ref = credentials.get(key)
        where = f"{self.key_path}.{key}"
        if ref is None:
            if required:
                raise ConfigError(
                    f"{where}: missing; set it to env:VARIABLE_NAME holding the value"
                )
            return None
        value: str | None
        if ref.startswith("env:"):
            value = os.environ.get(ref[4:])
            if not value:
                raise ConfigError(f"{where}: environment variable {ref[4:]} is not set or empty")
        elif ref.startswith("dlt:"):
            import dlt

            try:
                value = dlt.secrets[ref[4:]]
            except KeyError:
                value = None
            if not value:
                raise ConfigError(f"{where}: dlt secret '{ref[4:]}' not found in .dlt/secrets.toml")
        else:
            value = ref
        self.revealed.append(str(value))
        return str(value)


PostLoadStep = Callable[["sa.Connection", str], None]
"""``(connection, dataset)``: SQL on a source's own tables once its data is loaded."""


@dataclass
class SourceContext:
    """Everything a connector needs for one run of one source."""

    config: HubConfig
    source: SourceConfig
    options: BaseModel
    secrets: SecretResolver
    stats: RequestStats = field(default_factory=RequestStats)
    run_started_at: datetime | None = None
    full_refresh: bool = False
    stop_reason: str | None = None
    post_load: list[PostLoadStep] = field(default_factory=list)
    # What the run did that the user should know and is not a problem (a file read again
    # because its mapping changed); shown in the run's progress line.
    notes: list[str] = field(default_factory=list)
    # Rows a connector wrote into the warehouse itself, not through dlt (a clean CSV file
    # merged by DuckDB), by table; the run counts them with dlt's.
    rows_written: dict[str, int] = field(default_factory=dict)
    # A short-lived transaction on the warehouse (set by ``hub pull``), for what a
    # connector must read there before its load: whether an appended CSV part repeats a
    # loaded key, the row hashes of a full-snapshot file. None outside a pull.
    warehouse_connect: Callable[[], AbstractContextManager[sa.Connection]] | None = None

    def after_load(self, step: PostLoadStep) -> None:
        """Run ``step`` once this run's load has succeeded, with a connection (the same
        transaction as the hub's observations, which come after it) and the source's
        dataset (``src_<source>``). For what only the loaded tables can answer, such as
        which deals a full export no longer holds. Not run when the load fails."""
        self.post_load.append(step)

    def stop(self, reason: str) -> None:
        """End this run early but cleanly: the resources return what they have, the load
        commits it with its state, and the run is logged as ``stopped`` with ``reason``.
        Use it when the API budget runs out mid-run, so a sync larger than one day's
        budget still completes over several runs."""
        self.stop_reason = reason

    @property
    def name(self) -> str:
        return self.source.name

    @property
    def kind(self) -> str:
        return self.source.kind

    def credential(self, key: str, *, required: bool = True) -> str | None:
        return self.secrets.resolve(self.source.credentials, key, required=required)


T = TypeVar("T")


def until_stopped(ctx: SourceContext, items: Iterator[T]) -> Iterator[T]:
    """``items`` (a generator that sends requests as it is advanced) until it ends, the API
    budget runs out (then :meth:`SourceContext.stop`) or another resource already stopped
    the run. No request goes out after the budget is gone, and dlt loads (and commits the
    state of) everything yielded before."""
    while ctx.stop_reason is None:
        try:
            item = next(items)
        except StopIteration:
            return
        except QuotaExhausted as exc:
            ctx.stop(str(exc))
            return
        yield item


# ----- reverse sync -----------------------------------------------------------------------

WriteStatus = Literal["written", "conflict", "retryable", "failed", "skipped"]


@dataclass(frozen=True)
class DealUpdate:
    """One deal's intended change. ``fields`` use hub field names (``stage_id``,
    ``hub_score``, ``hub_score_reason``); ``base`` holds what the hub last read for those
    fields and ``base_modified_at`` the CRM's modification time at that read, so a
    writer can refuse to overwrite a rep's newer edit."""

    deal_id: str
    fields: Mapping[str, Any]
    base: Mapping[str, Any] = field(default_factory=dict)
    base_modified_at: datetime | None = None
    pipeline_id: str | None = None


@dataclass(frozen=True)
class WriteResult:
    deal_id: str
    status: WriteStatus
    error: str | None = None
    modified_at: datetime | None = None


@dataclass(frozen=True)
class LiveDeal:
    """What the CRM holds for one deal right now: raw values by hub field name, and when
    the deal was last modified. The push plan compares these with the warehouse so a rep's
    edit made after the last pull becomes a conflict instead of being overwritten."""

    values: dict[str, Any] = field(default_factory=dict)
    modified_at: datetime | None = None


class Writer(Protocol):
    """Writes deal updates back to one CRM source.

    The class attributes declare what the writer does on its own; the push engine adds
    the rest of the safety rules (docs/reverse-sync.md) from them, so a plug-in kind gets
    the same protection as a built-in one.
    """

    max_batch: int
    """The most updates one :meth:`write` call takes: the API's largest batch."""
    live_read: bool
    """:meth:`read_current` answers, so the plan compares every row with the CRM now: a
    field changed since the hub last knew it is a conflict, a deal the CRM lacks is
    missing. False: rows are pushed without that check, and the plan says so."""
    rechecks_before_write: bool
    """:meth:`write` re-reads the deals itself and refuses a field that no longer holds
    ``DealUpdate.base``. False (with ``live_read``): the engine re-reads through
    :meth:`read_current` right before each batch and keeps changed rows out of it."""
    guard_fields: frozenset[str] | None
    """Only updates touching one of these fields carry ``base_modified_at``; None: every
    update does. For an API whose conditional writes cost more than plain ones, so the
    pre-write re-read alone protects the other fields."""

    def read_current(self, deal_ids: Sequence[str], fields: Sequence[str]) -> dict[str, LiveDeal]:
        """What the CRM holds now for these deals and hub fields, in the API's cheapest
        batch read; deals it no longer has are left out. Called only when ``live_read``."""
        ...

    def write(self, updates: Sequence[DealUpdate]) -> list[WriteResult]:
        """Write one batch; one result per update, in order; never raises for one bad row."""
        ...

    def setup_fields(self) -> list[str]:
        """Create the hub's custom fields where the API allows; return what was done or
        what an admin must do."""
        ...


# ----- the connector value -----------------------------------------------------------------


@dataclass(frozen=True)
class Connector:
    kind: str
    description: str
    options_model: type[BaseModel]
    build_source: Callable[[SourceContext], DltSource]
    default_stage_map: Mapping[str, str] = field(default_factory=dict)
    build_writer: Callable[[SourceContext], Writer] | None = None
    sandbox: str | None = None
    """Dotted path of the sandbox class (``"connectors.hubspot.sandbox:FakeHubspot"``), a
    ``connectors.sandbox.SandboxServer`` taking a ``SandboxSpec``. A path, not the class,
    so pulling never imports it: ``connectors.registry.sandbox_class`` loads it on demand."""

    def parse_options(self, source: SourceConfig, config: HubConfig) -> BaseModel:
        try:
            return self.options_model.model_validate(source.options)
        except ValidationError as exc:
            raise config_error_from_validation(
                exc,
                file=config.config_path,
                raw=source.options,
                prefix=f"sources[{source.name}].options",
            ) from None

    def context(self, config: HubConfig, source: SourceConfig, **kwargs: Any) -> SourceContext:
        return SourceContext(
            config=config,
            source=source,
            options=self.parse_options(source, config),
            secrets=SecretResolver(source.name),
            **kwargs,
        )
