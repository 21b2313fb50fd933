"""Reverse sync: write the outbound models' rows back to the CRMs, safely.

Library API (the CLI and the demo call these):

* :func:`plan_push` - diff the outbound rows against the journal, the latest pull and the
  CRM now; write nothing.
* :func:`apply_push` - write a plan: journal first, batches as large as each API allows,
  per-row outcomes in ``hub_meta.hub_push_log``; refuses over the safety cap unless forced.
* :func:`setup_fields` - create the hub's score fields where the API allows.
* :func:`dbt_vars` - the vars the outbound dbt models need (the stage rules).
"""

from hub.push.apply import PushResult, SourceResult, apply_push
from hub.push.outbound import dbt_vars
from hub.push.plan import PlannedRow, PushPlan, SourcePlan, plan_push
from hub.push.safety import PushAborted
from hub.push.setup import setup_fields

__all__ = [
    "PlannedRow",
    "PushAborted",
    "PushPlan",
    "PushResult",
    "SourcePlan",
    "SourceResult",
    "apply_push",
    "dbt_vars",
    "plan_push",
    "setup_fields",
]
