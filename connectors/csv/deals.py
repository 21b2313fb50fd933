"""What a deals file implies beyond its deals.

Stage events from its ``stage_dates`` columns (origin ``derived``), the pipelines and
stages it names (CSV exports rarely ship stage metadata; the stages the data names are the
catalogue), the deals' links to their accounts (:mod:`connectors.csv.deal_accounts`), and
for a ``full_snapshot`` file the marking of deals it no longer holds (see
:mod:`connectors.csv.snapshot`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, cast

import pyarrow as pa
import pyarrow.compute as pc

from connectors.account_links import prune_stale_links
from connectors.csv import fast
from connectors.csv.deal_accounts import DealLinks
from connectors.csv.driver import Extras, FileRead, assemble, variant
from connectors.csv.options import DealsFile
from connectors.csv.parsing import timestamp_parser, zone
from connectors.csv.rows import ArrowBatch
from connectors.csv.snapshot import after_full_snapshot
from models.canonical import DealAccount, Pipeline, Stage, StageChange, make_key
from models.errors import InputError


class DealExtras(Extras):
    """The deals file's extras: stage events, the stage catalogue, account links."""

    def __init__(self, read: FileRead) -> None:
        self.read = read
        self.file = file = cast(DealsFile, read.file)
        self.header = header = read.reader.header
        self.date_columns: dict[str, int] = {}
        for stage, column in file.stage_dates.items():
            if column not in header:
                raise InputError(
                    f"{read.facts.path}: stage_dates.{stage}: no column {column!r}; "
                    f"the file has: {', '.join(header)}"
                )
            self.date_columns[stage] = header.index(column)
        self.indexes = tuple(self.date_columns.values())
        self.parse_ts = timestamp_parser(
            file.date_format, day_first=file.day_first, tz=zone(file.timezone)
        )
        self.source = {"source_name": read.ctx.name, "crm": "csv"}
        self.events = ArrowBatch(StageChange)
        self.links = DealLinks(self.source)
        self.links_named = "account_id" in file.columns or "account_id" in file.defaults
        self.stages: set[tuple[str, str]] = set()  # (pipeline, stage) the file names

    def _event(
        self, deal_key: Any, changed_at: Any, stage: str, pipeline_id: Any
    ) -> dict[str, Any]:
        return {
            **self.source,
            "deal_key": deal_key,
            "changed_at": changed_at,
            "stage_id": stage,
            "pipeline_id": pipeline_id,
            "origin": "derived",
        }

    def row(self, line: int, cells: list[str], values: dict[str, Any]) -> None:
        self.links.row(values)
        pipeline_id = values["pipeline_id"]
        if values.get("stage_id"):
            self.stages.add((pipeline_id, values["stage_id"]))
        for stage, index in self.date_columns.items():
            raw = cells[index].strip() if index < len(cells) else ""
            if not raw:
                continue
            try:
                changed_at = self.parse_ts(raw)
            except ValueError as exc:
                reason = f"{exc}; no stage event derived from it"
                deal_id = values["source_deal_id"]
                self.read.quarantine.add(line, deal_id, self.header[index], raw, reason)
                continue
            self.events.append(self._event(values["deal_key"], changed_at, stage, pipeline_id))
            self.stages.add((pipeline_id, stage))

    def block(self, table: pa.Table, values: dict[str, Any]) -> list[Any]:
        pipeline, deal_keys = values["pipeline_id"], values["deal_key"]
        out = []
        if (links := self.links.block(values)) is not None:
            out.append(variant(DealAccount, links, deduplicated=True))
        pairs = []
        if values.get("stage_id") is not None:
            pairs.append(pa.table({"p": pipeline, "s": values["stage_id"]}))
        for stage, index in self.date_columns.items():
            text = fast.trim(table.column(f"c{index}").combine_chunks())
            present = pc.not_equal(text, "")
            if not pc.any(present).as_py():
                continue
            text = pc.if_else(present, text, pa.scalar(None, pa.string()))
            changed_at = self.read.converter.timestamps(text).filter(present)
            picked = pipeline.filter(present)
            event = self._event(deal_keys.filter(present), changed_at, stage, picked)
            out.append(variant(StageChange, assemble(StageChange, len(changed_at), event)))
            pairs.append(pa.table({"p": picked, "s": pa.array([stage] * len(picked), pa.string())}))
        for pair in pairs:  # every check passed: the stages count as seen
            named = pair.filter(pc.is_valid(pair.column("s"))).group_by(["p", "s"]).aggregate([])
            self.stages.update((row["p"], row["s"]) for row in named.to_pylist())
        return out

    def flush(self) -> Iterator[Any]:
        if (table := self.events.flush()) is not None:
            yield variant(StageChange, table)
        if (table := self.links.flush()) is not None:
            yield variant(DealAccount, table, deduplicated=True)

    def finish(self) -> Iterator[Any]:
        if self.stages:
            yield from self._catalogue()
        if self.links_named:
            prune_stale_links(self.read.ctx)
        if self.file.full_snapshot:
            read = self.read
            after_full_snapshot(read.ctx, read.facts.path.name, read.seen, read.skipped)

    def _catalogue(self) -> Iterator[Any]:
        name = self.read.ctx.name
        pipelines, stages = ArrowBatch(Pipeline), ArrowBatch(Stage)
        for pipeline_id in sorted({p for p, _ in self.stages}):
            pipelines.append(
                {
                    **self.source,
                    "pipeline_key": make_key(name, pipeline_id),
                    "pipeline_id": pipeline_id,
                    "label": pipeline_id,
                    "is_deleted": False,
                }
            )
        for pipeline_id, stage_id in sorted(self.stages):
            status = self.file.status_from_stage.get(stage_id)
            stages.append(
                {
                    **self.source,
                    "stage_key": make_key(name, f"{pipeline_id}:{stage_id}"),
                    "pipeline_id": pipeline_id,
                    "stage_id": stage_id,
                    "label": stage_id,
                    "is_closed": status in ("won", "lost"),
                    "is_won": status == "won",
                    "is_deleted": False,
                }
            )
        yield variant(Pipeline, pipelines.flush())
        yield variant(Stage, stages.flush())
