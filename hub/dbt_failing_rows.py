"""What the failing rows of a combined data test say, for the hub's failure message.

The project tests each model's per-column rules (not null, accepted values, 0-1, not negative,
unique keys, relationships) in one dbt test node (``column_rules``,
transforms/macros/column_rules.sql): dbt spends tens of milliseconds on every test node, and one node per column and rule made these
rules most of them. dbt's own message for a failing test says only how many rows it returned;
each row of this test names a rule, a column (and, for a conditional not-null, its condition)
and how many rows (for a key: values) break it, so the hub runs the test's compiled query again
once it failed and names them: ``null in rep_key (3 rows)``.
"""

from __future__ import annotations

from typing import Any

COMBINED_TESTS = ("column_rules",)


def is_combined_test(node: Any) -> bool:
    metadata = getattr(node, "test_metadata", None)
    return getattr(metadata, "name", None) in COMBINED_TESTS


def describe_row(rule: str, column: str, condition: str | None, count: int) -> str:
    """``null in period_start where period_type <> 'all' (2 rows)``, ``repeated in deal_key
    (1 value)``, ``deal_key not in stg_deals.deal_key (3 rows)`` (a relationship)."""
    if rule.startswith("not in "):
        return f"{column} {rule} ({count:,} row{'' if count == 1 else 's'})"
    where = f" where {condition}" if condition else ""
    unit = "value" if rule == "repeated" else "row"
    return f"{rule} in {column}{where} ({count:,} {unit}{'' if count == 1 else 's'})"


def describe(warehouse: Any, compiled_sql: str) -> str:
    """'null in column (n rows); negative in other (m rows)' from the failing rows; '' when
    they cannot be read (the failure is reported all the same, from dbt's message)."""
    try:
        with warehouse.connect() as conn:
            # exec_driver_sql: the compiled SQL may hold '::' casts, not bind parameters
            rows = conn.exec_driver_sql(compiled_sql).all()
    except Exception:  # noqa: BLE001 - a detail of a failure already reported
        return ""
    return "; ".join(
        describe_row(rule, column, condition, int(n)) for rule, column, condition, n in rows
    )
