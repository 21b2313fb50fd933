"""What a deals file implies beyond its deals.

Stage events from its ``stage_dates`` columns (origin ``derived``; which deals take which
date is :class:`StageDates`' rule), the pipelines and
stages it names (CSV exports rarely ship stage metadata; the stages the data names are the
catalogue), the deals' links to their accounts (:mod:`connectors.csv.deal_accounts`), and
for a ``full_snapshot`` file the marking of deals it no longer holds (see
:mod:`connectors.csv.snapshot`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, cast

import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from connectors.account_links import prune_stale_links
from connectors.base import SourceContext
from connectors.csv import fast
from connectors.csv.deal_accounts import DealLinks
from connectors.csv.driver import Extras, FileRead, assemble, variant
from connectors.csv.options import DealsFile
from connectors.csv.parsing import timestamp_parser, zone
from connectors.csv.rows import ArrowBatch
from connectors.csv.snapshot import after_full_snapshot, mark_missing_in_duck
from models.canonical import DealAccount, Pipeline, Stage, StageChange, make_key
from models.errors import InputError


@dataclass(frozen=True)
class StageDates:
    """Which deals a ``stage_dates`` column gives a stage event, so that no deal is given a
    visit to a stage it never reached:

    1. an empty cell gives none (an unreadable one is quarantined and gives none);
    2. a won or lost stage (``status_from_stage``) applies only to deals with that outcome:
       ``{Won: close_date, Lost: close_date}`` gives a won deal its won event alone;
    3. a column named for several stages applies to each deal only for the stage the deal is
       in now (the column cannot say which of them the deal reached);
    4. otherwise (an open stage with a column of its own) a date means the deal entered that
       stage then, whatever stage it is in now: a won deal with an engage date went through
       Engaging.
    """

    stage: str
    index: int  # of the column in the file
    outcome: str | None  # won / lost: only deals with this status take the date
    current_only: bool  # the column serves several stages: only deals now in this stage

    @staticmethod
    def of(file: DealsFile, header: list[str], path: object) -> list[StageDates]:
        shared = Counter(file.stage_dates.values())
        out = []
        for stage, column in file.stage_dates.items():
            if column not in header:
                raise InputError(
                    f"{path}: stage_dates.{stage}: no column {column!r}; "
                    f"the file has: {', '.join(header)}"
                )
            outcome = file.status_from_stage.get(stage)
            out.append(
                StageDates(
                    stage=stage,
                    index=header.index(column),
                    outcome=outcome if outcome in ("won", "lost") else None,
                    current_only=shared[column] > 1,
                )
            )
        return out

    def applies(self, values: dict[str, Any]) -> bool:
        """Whether this deal (its loaded values) takes the date; rules 2 and 3."""
        if self.outcome is not None and values.get("status") != self.outcome:
            return False
        return not self.current_only or values.get("stage_id") == self.stage

    def mask(self, values: dict[str, Any], rows: int) -> pa.Array:
        """:meth:`applies` for a block's columns."""
        mask = fast.constant(True, rows)
        if self.outcome is not None:
            mask = pc.and_(mask, pc.fill_null(pc.equal(values["status"], self.outcome), False))
        if self.current_only:
            stage_ids = values.get("stage_id")
            if stage_ids is None:
                return fast.constant(False, rows)
            mask = pc.and_(mask, pc.fill_null(pc.equal(stage_ids, self.stage), False))
        return mask


class DealExtras(Extras):
    """The deals file's extras: stage events, the stage catalogue, account links."""

    def __init__(self, read: FileRead) -> None:
        self.read = read
        self.file = file = cast(DealsFile, read.file)
        self.header = header = read.reader.header
        self.dates = StageDates.of(file, header, read.facts.path)
        self.indexes = tuple(dates.index for dates in self.dates)
        # deals now in a stage_dates stage, by stage and status (see _closed_stage_warnings)
        self.in_stage: dict[str, Counter[str]] = {d.stage: Counter() for d in self.dates}
        self.parse_ts = timestamp_parser(
            file.date_format, day_first=file.day_first, tz=zone(file.timezone)
        )
        self.source = {"source_name": read.ctx.name, "crm": "csv"}
        self.events = ArrowBatch(StageChange)
        self.links = DealLinks(self.source)
        self.links_named = "account_id" in file.columns or "account_id" in file.defaults
        self.stages: set[tuple[str, str]] = set()  # (pipeline, stage) the file names
        # DuckDB writes the links and the catalogue; stage events stay Python's.
        self.duck_ready = not self.dates
        self.snapshot_marked = False  # by DuckDB, with the merge (after_duck)

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
            if (counts := self.in_stage.get(values["stage_id"])) is not None:
                counts[str(values.get("status"))] += 1
        for dates in self.dates:
            stage, index = dates.stage, dates.index
            raw = cells[index].strip() if index < len(cells) else ""
            if not raw or not dates.applies(values):
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
            out.append(self.read.unique_variant(DealAccount, links))
        pairs = []
        if values.get("stage_id") is not None:
            pairs.append(pa.table({"p": pipeline, "s": values["stage_id"]}))
        for dates in self.dates:
            stage = dates.stage
            text = fast.trim(table.column(f"c{dates.index}").combine_chunks())
            present = pc.and_(pc.not_equal(text, ""), dates.mask(values, len(text)))
            if not pc.any(present).as_py():
                continue
            text = pc.if_else(present, text, pa.scalar(None, pa.string()))
            changed_at = self.read.converter.timestamps(text).filter(present)
            picked = pipeline.filter(present)
            event = self._event(deal_keys.filter(present), changed_at, stage, picked)
            out.append(variant(StageChange, assemble(StageChange, len(changed_at), event)))
            pairs.append(
                pa.table({"p": picked, "s": fast.constant(stage, len(picked), pa.string())})
            )
        for pair in pairs:  # every check passed: the stages count as seen
            named = pair.filter(pc.is_valid(pair.column("s"))).group_by(["p", "s"]).aggregate([])
            self.stages.update((row["p"], row["s"]) for row in named.to_pylist())
        if self.in_stage and values.get("stage_id") is not None:
            current = pa.table({"s": values["stage_id"], "t": values["status"]})
            current = current.filter(pc.is_in(current.column("s"), pa.array(list(self.in_stage))))
            for row in current.group_by(["s", "t"]).aggregate([("s", "count")]).to_pylist():
                self.in_stage[row["s"]][row["t"]] += row["s_count"]
        return out

    def after_duck(self, con: Any, staged: str) -> list[Any]:
        """The links and the stages named, from the deals DuckDB merged (``staged``, the
        file's rows; no stage_dates: see ``duck_ready``); a full snapshot's marks."""
        from connectors.csv import duck

        read = self.read
        links = (
            "SELECT source_name, crm, deal_key, account_key, true AS is_primary, "
            f"CAST(NULL AS VARCHAR) AS label FROM {staged} WHERE account_key IS NOT NULL"
        )
        con.execute(f"CREATE TEMP TABLE stage_links AS {links}")
        (count,) = con.execute("SELECT count(*) FROM stage_links").fetchone()
        out = []
        if count:
            duck.merge(con, read.ctx.name, DealAccount, "stage_links")
            read.ctx.rows_written["deal_accounts"] = (
                read.ctx.rows_written.get("deal_accounts", 0) + count
            )
            out.append(read.unique_variant(DealAccount, assemble(DealAccount, 0, {})))
        named = con.execute(
            f"SELECT DISTINCT pipeline_id, stage_id FROM {staged} WHERE stage_id IS NOT NULL"
        ).fetchall()
        self.stages.update(named)
        if self.file.full_snapshot:
            self.snapshot_marked = True
            mark_missing_in_duck(con, read.ctx, read.facts.path.name, staged)
        return out

    def flush(self) -> Iterator[Any]:
        if (table := self.events.flush()) is not None:
            yield variant(StageChange, table)
        if (table := self.links.flush()) is not None:
            yield self.read.unique_variant(DealAccount, table)

    def finish(self) -> Iterator[Any]:
        self._closed_stage_warnings()
        prune_derived_events(self.read.ctx, self.dates)
        if self.stages:
            yield from self._catalogue()
        if self.links_named:
            prune_stale_links(self.read.ctx)
        if self.file.full_snapshot and not self.snapshot_marked:
            read = self.read
            after_full_snapshot(read.ctx, read.facts.path.name, read.seen, read.skipped)

    def _closed_stage_warnings(self) -> None:
        """A stage_dates stage that every deal in it shows to be won (or lost), but that
        status_from_stage does not name, gives its date to deals of the other outcome too:
        say so, with the fix."""
        for dates in self.dates:
            statuses = self.in_stage[dates.stage]
            (status, *others) = statuses or [None]
            if dates.outcome is None and status in ("won", "lost") and not others:
                self.read.ctx.stats.warnings.append(
                    f"{self.read.facts.path.name}: stage_dates.{dates.stage}: every deal in "
                    f"this stage is {status}, but status_from_stage does not say so, so its "
                    f"date is given to every deal that has one; add status_from_stage: "
                    f"{{{dates.stage}: {status}}} so only {status} deals take it"
                )

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


def prune_derived_events(ctx: SourceContext, dates: list[StageDates]) -> None:
    """Once the deals file is loaded, delete the source's derived stage events that its
    ``stage_dates`` no longer give: a stage taken out of ``stage_dates``, and dates the rule
    of :class:`StageDates` now refuses by the deal's loaded status and stage (an earlier
    read, an older rule or a deal since reopened or lost may have left them). Events are
    merged on (deal, time, stage), so without this a corrected mapping would leave the
    wrong events in place. (A date changed in a re-export leaves the old event too; that is
    not told apart here, see the README.)"""
    params: dict[str, Any] = {"source": ctx.name}
    refused = []
    for n, d in enumerate(dates):
        params[f"s{n}"] = d.stage
        if d.outcome is not None:
            params[f"o{n}"] = d.outcome
            refused.append(f"(stage_changes.stage_id = :s{n} AND d.status <> :o{n})")
        if d.current_only:
            refused.append(
                f"(stage_changes.stage_id = :s{n} AND coalesce(d.stage_id, '') <> :s{n})"
            )
    kept = ", ".join(f":s{n}" for n in range(len(dates)))
    conditions = [f"stage_id NOT IN ({kept})" if dates else "true"]
    if refused:
        conditions.append(
            "EXISTS (SELECT 1 FROM {dataset}.deals d WHERE d.deal_key = stage_changes.deal_key "
            f"AND ({' OR '.join(refused)}))"
        )

    def step(conn: sa.Connection, dataset: str) -> None:
        if not sa.inspect(conn).has_table("stage_changes", schema=dataset):
            return
        where = " OR ".join(conditions).replace("{dataset}", dataset)
        result = conn.execute(
            sa.text(
                f"DELETE FROM {dataset}.stage_changes WHERE source_name = :source "
                f"AND origin = 'derived' AND ({where})"
            ),
            params,
        )
        if result.rowcount and result.rowcount > 0:
            ctx.notes.append(
                f"{result.rowcount:,} derived stage event(s) that stage_dates no longer gives "
                "were removed"
            )

    ctx.after_load(step)
