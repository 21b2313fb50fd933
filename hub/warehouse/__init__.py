"""The warehouse, the same to the hub on DuckDB, PostgreSQL or any dlt destination.

:class:`Warehouse` opens short-lived connections: DuckDB allows one writer per file, so a
connection is opened per operation and released before dlt or dbt take over. The rest:

- ``backends``: one class per kind, where it is and how sqlalchemy, dlt and dbt reach it
- ``meta``: the hub's own schema ``hub_meta`` and its tables
- ``config_tables``: hub.yml's stages, stage map, rates, sources and quotas as tables
- ``observations``: the stage-observation rule (the hub keeps stage history itself)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from hub.warehouse.backends import BACKENDS, Backend
from hub.warehouse.config_tables import stage_map_rows
from hub.warehouse.meta import HUB_SCHEMA, dataset_name, ensure_hub_tables, hub_runs
from models.config import HubConfig
from models.errors import WarehouseError

__all__ = ["HUB_SCHEMA", "Warehouse", "dataset_name", "hub_runs", "stage_map_rows"]


class Warehouse:
    """The configured warehouse: its kind's backend plus what is the same for every kind."""

    def __init__(self, config: HubConfig) -> None:
        self.config = config
        self.backend: Backend = BACKENDS[config.warehouse.kind](config)

    @property
    def kind(self) -> str:
        return self.config.warehouse.kind

    @property
    def dbt_profiles_dir(self) -> Path | None:
        """A user's own profiles.yml folder (kind dlt); None means the committed one."""
        value = self.config.warehouse.dbt_profiles_dir
        return self.config.resolve_path(value) if value else None

    def describe(self) -> str:
        return self.backend.describe()

    def exists(self) -> bool:
        return self.backend.exists()

    def dlt_destination(self) -> Any:
        return self.backend.dlt_destination()

    def dbt_env(self) -> dict[str, str]:
        return self.backend.dbt_env()

    @contextmanager
    def connect(self) -> Iterator[sa.Connection]:
        """A transaction on a short-lived engine: DuckDB's file lock is released on exit."""
        engine = sa.create_engine(self.backend.url(), poolclass=sa.pool.NullPool)
        try:
            with engine.begin() as conn:
                yield conn
        except sa.exc.OperationalError as exc:
            raise WarehouseError(self.backend.explain(exc)) from None
        except sa.exc.ProgrammingError as exc:
            if "permission denied" in str(exc.orig).lower():
                raise WarehouseError(self.backend.explain(exc)) from None
            raise
        finally:
            engine.dispose()

    def check(self) -> None:
        """Fail early, in one line, when the warehouse cannot be reached or written."""
        with self.connect() as conn:
            ensure_hub_tables(conn)
