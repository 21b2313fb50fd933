"""What the deal flow already told this source, kept in its dlt state (``flow``).

The flow costs 40 tokens a deal, so it is read only when a deal's stage moved: ``seen``
holds the ``stage_change_time`` each deal's flow was read at. A deal won or lost without a
stage move gets its outcome step from the deal itself (``mapping.terminal_entry``), which
knows no user. A deal read again inside the lookback must not get that step over the one
its flow gave, with ``changed_by`` and ``origin`` (an unchanged re-pull would rewrite
history): ``outcomes`` holds the outcome (status and time) each deal's last flow read
already held, and only an outcome not in it is built from the deal.

Both maps are kept for the lookback window only. ``floor`` is the earliest start of that
window when they were cut back: an outcome stamped before it was known to an earlier run
(the lookback's premise), so a lookback widened later re-reads such deals without
rebuilding their steps from what was forgotten.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from connectors.pipedrive.client import parse_time
from connectors.values import lenient

_time = lenient(parse_time)  # bookkeeping: a garbage stamp is simply not remembered


def outcome_of(deal: Mapping[str, Any]) -> str | None:
    """``"won <won_time>"`` or ``"lost <lost_time>"``; None while the deal is open."""
    status = deal.get("status")
    if status not in ("won", "lost"):
        return None
    return f"{status} {deal.get('won_time' if status == 'won' else 'lost_time')}"


@dataclass
class FlowMemory:
    state: dict[str, Any]  # the source state's ``flow`` entry, changed in place

    @property
    def seen(self) -> dict[str, str]:
        return self.state.setdefault("seen", {})  # type: ignore[no-any-return]

    @property
    def outcomes(self) -> dict[str, str]:
        return self.state.setdefault("outcomes", {})  # type: ignore[no-any-return]

    def needs_flow(self, deal: Mapping[str, Any], since: datetime | None) -> bool:
        """The deal's stage moved inside the window and its flow was not read at this
        ``stage_change_time`` yet."""
        moved = _time(deal.get("stage_change_time"))
        if moved is None or (since is not None and moved < since):
            return False
        return self.seen.get(str(deal["id"])) != deal.get("stage_change_time")

    def flow_read(self, deal: Mapping[str, Any]) -> None:
        """Remember that the deal's flow was read as the deal stands now."""
        deal_id = str(deal["id"])
        self.seen[deal_id] = str(deal.get("stage_change_time"))
        outcome = outcome_of(deal)
        if outcome is None:
            self.outcomes.pop(deal_id, None)
        else:
            self.outcomes[deal_id] = outcome

    def new_outcome(self, deal: Mapping[str, Any], at: datetime, since: datetime) -> bool:
        """Whether the deal's won/lost step at ``at`` is news that only the deal itself
        can give: inside the window, and not what its last flow read held already."""
        floor = _time(self.state.get("floor"))
        start = since if floor is None else max(since, floor)
        return at >= start and self.outcomes.get(str(deal["id"])) != outcome_of(deal)

    def forget_before(self, since: datetime) -> None:
        """Drop what fell out of the window starting at ``since``."""
        for deal_id, stamp in list(self.seen.items()):
            moved = _time(stamp)
            if moved is not None and moved < since:
                del self.seen[deal_id]
        for deal_id, outcome in list(self.outcomes.items()):
            closed = _time(outcome.partition(" ")[2])
            if closed is None or closed < since:  # an unreadable time builds no step anyway
                del self.outcomes[deal_id]
        floor = _time(self.state.get("floor"))
        self.state["floor"] = (since if floor is None else max(floor, since)).isoformat()
