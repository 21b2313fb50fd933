"""Which models an incremental transform leaves out of dbt's selection: nothing of theirs can
have changed since the last complete build.

dbt spends tens of milliseconds on every node whatever its SQL costs (rendering, the
materialization, events; idle, more under load), and an hourly sync used to run every
staging node again: the views over source tables no sync touched (owners, pipelines,
stages, accounts, ...) and the copies of hub_meta's small tables (FX rates, quotas, stage
map, ...), each with its data test, which already read no row (macro ``get_where_subquery``).

A model whose config names the tables it is a function of (``meta.hub_test_source_tables``
in its ``.yml``: each source's table of that name, or ``hub_meta.<table>``; the staging
views, and ``account_fields``, a table over the accounts and the field catalog) is left out,
with its tests, when all of these hold:

* the run is incremental after a complete build whose tests all passed (``BuildPlan.
  test_changed_only``): the project's files, dbt's version and the vars (the sources among
  them) are those of that build (its fingerprint), so the model's SQL template is the same;
* every table it names has the rows and the columns it had at that build
  (:mod:`hub.warehouse.source_digests`): what the model renders from the catalog (a staging
  view's typed select follows the columns it finds) and what it holds are the same, and
  that build's tests passed on those rows;
* its relation is in the warehouse (one of dbt's schemas), as that build left it;
* no test of a model that runs refers to it (a relationship rule's parent): dbt's eager
  indirect selection would leave that test out with it.

Everything downstream still runs and reads the relation as it is. The meta key is read from
the project's ``.yml`` files (where this project puts model configs), not from dbt's parse,
so the hub decides before dbt starts.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml

META_KEY = "hub_test_source_tables"


def models_over_tables(project: Path | list[dict[str, Any]]) -> dict[str, tuple[str, ...]]:
    """Model name -> the tables its config says it is a function of (the ``.yml`` files
    under ``transforms/``, or their models as :func:`read_models` gave them)."""
    out: dict[str, tuple[str, ...]] = {}
    for model in _given(project):
        tables = _meta(model).get(META_KEY)
        if tables:
            out[str(model["name"])] = tuple(str(t) for t in tables)
    return out


def tests_referring(project: Path | list[dict[str, Any]]) -> dict[str, set[str]]:
    """Model name -> the models whose data tests name it in a ``ref()`` (relationships)."""
    out: dict[str, set[str]] = defaultdict(set)
    for model in _given(project):
        tests = [model.get("data_tests") or []]
        tests += [column.get("data_tests") or [] for column in model.get("columns") or []]
        for parent in _REF.findall(repr(tests)):
            out[parent].add(str(model["name"]))
    return out


_REF = re.compile(r"ref\(\s*['\"](\w+)['\"]\s*\)")


def read_models(project: Path) -> list[dict[str, Any]]:
    """Every model entry of the project's ``.yml`` files, read once per run (libyaml's
    loader where installed: the pure-Python one took ~0.25 CPU-s per read of these files)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    models: list[dict[str, Any]] = []
    for path in sorted((project / "transforms").rglob("*.yml")):
        document = yaml.load(path.read_text(encoding="utf-8"), Loader=loader) or {}
        models.extend(document.get("models") or [])
    return models


def _given(project: Path | list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    yield from read_models(project) if isinstance(project, Path) else project


def _meta(model: dict[str, Any]) -> dict[str, Any]:
    config = model.get("config") or {}
    return {**(model.get("meta") or {}), **(config.get("meta") or {})}


def left_out(
    conn: sa.Connection, project: Path, unchanged: Iterable[str], schemas: Iterable[str]
) -> list[str]:
    """The models to leave out of this run: every table they name is in ``unchanged``, and
    their relation exists in one of ``schemas``."""
    same = set(unchanged)
    models = read_models(project)
    candidates = sorted(
        name for name, tables in models_over_tables(models).items() if set(tables) <= same
    )
    if not candidates:
        return []
    present: Sequence[Any] = conn.execute(
        sa.text(
            "SELECT DISTINCT table_name FROM information_schema.tables "
            "WHERE table_schema IN :schemas AND table_name IN :names"
        ).bindparams(
            sa.bindparam("schemas", expanding=True), sa.bindparam("names", expanding=True)
        ),
        {"schemas": sorted(schemas), "names": candidates},
    ).all()
    kept = {str(row[0]) for row in present} & set(candidates)
    referring = tests_referring(models)
    while True:  # a model stays out only while every model testing against it stays out too
        tested = {name for name in kept if not referring.get(name, set()) <= kept}
        if not tested:
            return sorted(kept)
        kept -= tested
