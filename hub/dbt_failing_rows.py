"""What the failing rows of a combined data test say, for the hub's failure message.

The project tests the not-null rule of all of a model's columns in one dbt test node
(``not_null_columns``, transforms/macros/not_null_columns.sql): dbt spends tens of
milliseconds on every test node, and one node per column made not-null rules more than half
of them. dbt's own message for a failing test says only how many rows it returned; each row
of this test names a column and how many of its rows are null, so the hub runs the test's
compiled query again once it failed and names those columns.
"""

from __future__ import annotations

from typing import Any

COMBINED_TESTS = ("not_null_columns",)


def is_combined_test(node: Any) -> bool:
    metadata = getattr(node, "test_metadata", None)
    return getattr(metadata, "name", None) in COMBINED_TESTS


def describe(warehouse: Any, compiled_sql: str) -> str:
    """'null in column (n rows), ...' from the failing rows; '' when they cannot be read (the
    failure is reported all the same, from dbt's message)."""
    try:
        with warehouse.connect() as conn:
            # exec_driver_sql: the compiled SQL may hold '::' casts, not bind parameters
            rows = conn.exec_driver_sql(compiled_sql).all()
    except Exception:  # noqa: BLE001 - a detail of a failure already reported
        return ""
    parts = [f"{name} ({int(n):,} row{'' if int(n) == 1 else 's'})" for name, n in rows]
    return "null in " + ", ".join(parts) if parts else ""
