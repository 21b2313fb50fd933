"""The safety cap: one run may not change more than ``push.max_share`` of a source's deals."""

from __future__ import annotations

from hub.push.plan import PushPlan
from models.errors import HubError


class PushAborted(HubError):
    exit_code = 1


def check_cap(plan: PushPlan, *, force: bool) -> None:
    """Raise before anything is written when a source is over the cap and not forced."""
    over = plan.over_cap()
    if not over or force:
        return
    parts = [
        f"{s.source_name} would change {s.deals_to_change:,} of {s.deals_total:,} deals "
        f"({s.share:.0%})"
        for s in over
    ]
    raise PushAborted(
        f"push aborted, nothing written: {'; '.join(parts)}, more than push.max_share "
        f"({plan.max_share:.0%}). Check the plan ('hub push'), then rerun with --force "
        "or raise push.max_share in hub.yml"
    )
