"""An inclusive SystemModstamp cursor with a lookback window, kept in dlt state.

Salesforce can commit a row whose SystemModstamp is a few seconds older than the newest one
already read (long transactions), so each run re-reads from ``cursor - lookback`` with
``>=``. Rows re-read unchanged (same id and modstamp as last run's tail) are skipped, so a
no-change run yields nothing and fetches no history; merge on the key dedups the rest.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from connectors.salesforce.mapping import parse_datetime
from connectors.values import lenient

# A row's own stamp: one that does not parse (quarantined by the mapping) must not stop
# the cursor; the row is kept and simply not counted.
_stamp = lenient(parse_datetime)


class ModstampCursor:
    def __init__(self, state: dict[str, Any], lookback_s: int, *, full_refresh: bool) -> None:
        self._state = state
        self._lookback = timedelta(seconds=lookback_s)
        self.previous = None if full_refresh else parse_datetime(state.get("cursor"))
        self._seen: dict[str, str] = {} if full_refresh else dict(state.get("seen") or {})
        self._max = self.previous
        self._tail: dict[str, tuple[datetime, str]] = {}

    @property
    def first_sync(self) -> bool:
        return self.previous is None

    @property
    def since(self) -> datetime | None:
        return None if self.previous is None else self.previous - self._lookback

    def fresh(self, row_id: str, modstamp: Any) -> bool:
        """Record the row; False when last run already yielded this exact version. A row
        whose stamp does not parse is always fresh and never moves the cursor."""
        stamp = _stamp(modstamp)
        if stamp is None:
            return True
        text = stamp.isoformat()
        if self._max is None or stamp > self._max:
            self._max = stamp
        self._tail[row_id] = (stamp, text)
        return self._seen.get(row_id) != text

    def commit(self) -> None:
        """Called only after every page was read, so a stopped run re-reads from the old cursor."""
        if self._max is None:
            return
        floor = self._max - self._lookback
        tail = {i: t for i, (s, t) in self._tail.items() if s >= floor}
        if self.previous is not None:
            tail = {
                **{i: t for i, t in self._seen.items() if (parse_datetime(t) or floor) >= floor},
                **tail,
            }
        self._state["cursor"] = self._max.isoformat()
        self._state["seen"] = tail
