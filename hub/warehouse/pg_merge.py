"""PostgreSQL merges that leave a row alone when its new copy is the same.

dlt merges a table on its primary key by deleting every row whose key is staged and
inserting the staged rows again. A CSV export re-read whole (a full-snapshot deals file, a
history file that only grew) stages every row each time, so an hourly sync where 1 % of the
deals changed deleted and re-inserted all of them: at 300,000 deals 11 of the load's 14
seconds, and as many dead rows for dbt to step over until autovacuum ran.

Here the merge first lists the staged keys whose rows differ from (or are missing in) the
table, and deletes and inserts only those, with dlt's own insert (and its de-duplication).
The result is the table dlt's merge leaves: a key is skipped only when each of its staged
rows equals each of its rows in the table, column by column and as stored (numbers and
JSON compared by their exact text, floats by their bits, so 1.0 and 1.00 or 0 and -0
differ). Tables the rule cannot judge keep dlt's SQL: nested tables, merge keys, hard-delete
or dedup-sort columns, source filters or destination scopes, and tables carrying dlt's
per-load columns (``_dlt_load_id``, ``_dlt_id``), whose rows always differ.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dlt.common.destination import PreparedTableSchema
from dlt.common.schema.utils import get_columns_names_with_prop, get_dedup_sort_tuple
from dlt.destinations.sql_client import SqlClientBase
from dlt.destinations.sql_jobs import SqlMergeFollowupJob

# dlt's per-load row columns: a table that has them never has an unchanged row.
LOAD_COLUMNS = ("_dlt_load_id", "_dlt_id")
# Types whose PostgreSQL equality is not identity of the stored value, and how to compare.
EXACT_FORM = {
    "double": "float8send({})",  # 0 = -0 as numbers; the bits differ
    "decimal": "({})::text",  # 1.0 = 1.00 as numbers; the scale is stored
    "wei": "({})::text",
    "json": "({})::text",  # jsonb numbers keep their scale too
}


def skips_unchanged(table_chain: Sequence[PreparedTableSchema]) -> bool:
    """Whether the merge below gives dlt's result for this table chain."""
    root: Any = table_chain[0]  # dlt's helpers take its plain table schema type
    columns = root.get("columns", {})
    return (
        len(table_chain) == 1
        and bool(get_columns_names_with_prop(root, "primary_key"))
        and not get_columns_names_with_prop(root, "merge_key")
        and not get_columns_names_with_prop(root, "hard_delete")
        and get_dedup_sort_tuple(root) is None
        and not root.get("x-merge-source-filter")
        and not root.get("x-merge-destination-scope")
        and not any(name in columns for name in LOAD_COLUMNS)
    )


def _same(column: str, data_type: str | None, escape: Any) -> tuple[str, str]:
    name = escape(column)
    form = EXACT_FORM.get(data_type or "", "{}")
    return form.format(f"d.{name}"), form.format(f"s.{name}")


class SkipUnchangedMergeJob(SqlMergeFollowupJob):
    """dlt's delete-insert merge, restricted to the keys whose staged rows changed."""

    @classmethod
    def gen_merge_sql(
        cls, table_chain: Sequence[PreparedTableSchema], sql_client: SqlClientBase[Any]
    ) -> list[str]:
        if not skips_unchanged(table_chain):
            return super().gen_merge_sql(table_chain, sql_client)
        root: Any = table_chain[0]
        name: str = root["name"]
        escape = sql_client.escape_column_name
        table, staging = sql_client.get_qualified_table_names(name)
        keys = [escape(k) for k in get_columns_names_with_prop(root, "primary_key")]
        names = get_columns_names_with_prop(root, "name")
        others = [n for n in names if escape(n) not in keys]
        changed = cls._new_temp_table_name(name, "changed", sql_client)
        key_list = ", ".join(keys)
        on = " AND ".join(f"d.{k} = s.{k}" for k in keys)
        differs = f"d.{keys[0]} IS NULL"
        if others:
            pairs = [_same(n, root["columns"][n].get("data_type"), escape) for n in others]
            differs += (
                f" OR ({', '.join(d for d, _ in pairs)}, NULL)"
                f" IS DISTINCT FROM ({', '.join(s for _, s in pairs)}, NULL)"
            )
        select_changed = (
            f"SELECT DISTINCT {', '.join(f's.{k}' for k in keys)} FROM {staging} AS s"
            f" LEFT JOIN {table} AS d ON {on} WHERE {differs}"
        )
        columns = [escape(n) for n in names]
        in_changed = f"({key_list}) IN (SELECT {key_list} FROM {changed})"
        insert_select = cls.gen_select_from_dedup_sql(
            staging,
            keys,
            columns,
            condition=in_changed,
            skip_dedup=bool(root.get("x-stage-data-deduplicated", False)),
        )
        return [
            cls._to_temp_table(select_changed, changed, keys[0], sql_client),
            f"DELETE FROM {table} WHERE {in_changed}",
            f"INSERT INTO {table}({', '.join(columns)}) {insert_select}",
        ]
