"""The one incremental cursor of the API connectors, kept in dlt state.

The rule, the same for every CRM:

* read from ``cursor - lookback``, inclusive: a CRM can commit a row stamped a little
  older than the newest one already read (long transactions, replica lag);
* skip a row the last run already yielded at the tail of its window (same id, same
  stamp), so a quiet run yields nothing and triggers no follow-up reads;
* write the state only after the rows were yielded (:meth:`Cursor.commit`), so a run
  stopped half-way re-reads instead of losing rows.

Vendors differ only in what a stamp is (:class:`Stamps`): HubSpot epoch milliseconds,
Salesforce ``SystemModstamp`` datetimes, Pipedrive RFC 3339 ``update_time``. The state
keys are the caller's, so each connector's state from before this module still reads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from connectors.values import lenient

T = TypeVar("T")

_TAIL_PRUNE_AT = 20_000  # ids remembered before the tail is first cut back to the window


@dataclass(frozen=True)
class Stamps(Generic[T]):
    """How one vendor's modification stamp is read, stored and moved back by the lookback."""

    parse: Callable[[Any], T | None]  # may raise on garbage: the cursor reads it leniently
    dump: Callable[[T], Any]  # the JSON value kept in dlt state
    lookback: Any  # subtracted from a stamp: a timedelta, or milliseconds

    def back(self, stamp: T) -> T:
        return stamp - self.lookback  # type: ignore[operator, no-any-return]


class Cursor(Generic[T]):
    """One incremental stream's position: ``since`` to query from, ``fresh`` per row,
    ``commit`` after yielding. A row whose stamp does not parse is always fresh and never
    moves the cursor (the mapping quarantines the bad value, the row still loads)."""

    def __init__(
        self,
        state: dict[str, Any],
        stamps: Stamps[T],
        *,
        full_refresh: bool = False,
        cursor_key: str = "cursor",
        seen_key: str | None = "seen",
        start: T | None = None,
    ) -> None:
        self._state, self._stamps = state, stamps
        self._keys = (cursor_key, seen_key)
        self._parse = lenient(stamps.parse)
        self.previous = None if full_refresh else self._parse(state.get(cursor_key))
        old = state.get(seen_key) if seen_key and self.previous is not None else None
        self._seen: dict[str, Any] = dict(old or {})
        self._max = start if self.previous is None else self.previous
        self._tail: dict[str, T] = {}
        self._prune_at = _TAIL_PRUNE_AT

    @property
    def first_sync(self) -> bool:
        return self.previous is None

    @property
    def since(self) -> T | None:
        """Where this run's query starts (inclusive); ``None`` on a first sync."""
        return None if self.previous is None else self._stamps.back(self.previous)

    def fresh(self, row_id: str, raw_stamp: Any) -> bool:
        """Record the row; False when the last run already yielded this exact version."""
        stamp = self._parse(raw_stamp)
        if stamp is None:
            return True
        if self._max is None or stamp > self._max:  # type: ignore[operator]
            self._max = stamp
        self._tail[row_id] = stamp
        if len(self._tail) > self._prune_at:  # doubling: a window of 1M ids stays linear
            self._tail = self._window(self._tail)
            self._prune_at = max(_TAIL_PRUNE_AT, 2 * len(self._tail))
        return row_id not in self._seen or self._seen[row_id] != self._stamps.dump(stamp)

    def _window(self, tail: dict[str, T]) -> dict[str, T]:
        assert self._max is not None
        floor = self._stamps.back(self._max)
        return {i: s for i, s in tail.items() if s >= floor}  # type: ignore[operator]

    def snapshot(self, *, final: bool = True) -> dict[str, Any]:
        """The state :meth:`commit` writes. Not ``final`` (a page of a longer read): the
        last run's tail rows not re-read yet stay remembered, so a stop costs nothing."""
        if self._max is None:
            return {}
        cursor_key, seen_key = self._keys
        snap: dict[str, Any] = {cursor_key: self._stamps.dump(self._max)}
        if seen_key:
            dump = self._stamps.dump
            tail = {i: dump(s) for i, s in self._window(self._tail).items()}
            if not final:
                floor = self._stamps.back(self._max)
                kept = {
                    i: v
                    for i, v in self._seen.items()
                    if (self._parse(v) or floor) >= floor  # type: ignore[operator]
                }
                tail = {**kept, **tail}
            snap[seen_key] = tail
        return snap

    def commit(self, *, final: bool = True) -> None:
        """Write the position; call it only after the rows read so far were yielded."""
        self._state.update(self.snapshot(final=final))
