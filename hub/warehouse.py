"""Warehouse access that works the same on DuckDB and PostgreSQL.

dlt loads, dbt transforms, and everything the hub reads or writes itself (run log, stage
map, push journal) goes through sqlalchemy here. DuckDB allows one writer per file, so
connections are opened per operation and released before dlt or dbt take over.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from models.config import ANY_PIPELINE, HubConfig
from models.errors import ConfigError, WarehouseError

HUB_SCHEMA = "hub_meta"  # not "hub": DuckDB names the catalog of hub.duckdb "hub"

metadata = sa.MetaData(schema=HUB_SCHEMA)

hub_runs = sa.Table(
    "hub_runs",
    metadata,
    sa.Column("run_id", sa.String, nullable=False),
    sa.Column("command", sa.String, nullable=False),
    sa.Column("source_name", sa.String),
    sa.Column("crm", sa.String),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
    sa.Column("status", sa.String, nullable=False),
    sa.Column("rows_json", sa.Text),
    sa.Column("requests_json", sa.Text),
    sa.Column("requests_total", sa.Integer),
    sa.Column("retries", sa.Integer),
    sa.Column("throttled", sa.Integer),
    sa.Column("quarantined", sa.Integer),
    sa.Column("duration_s", sa.Double),
    sa.Column("warnings", sa.Text),
    sa.Column("error", sa.Text),
)
hub_canonical_stages = sa.Table(
    "hub_canonical_stages",
    metadata,
    sa.Column("stage_name", sa.String, nullable=False),
    sa.Column("display_order", sa.Integer, nullable=False),
    sa.Column("outcome", sa.String),
    sa.Column("probability", sa.Double),
    sa.Column("stall_days", sa.Double),
)
hub_stage_map = sa.Table(
    "hub_stage_map",
    metadata,
    sa.Column("source_name", sa.String, nullable=False),
    sa.Column("pipeline", sa.String, nullable=False),
    sa.Column("native_stage", sa.String, nullable=False),
    sa.Column("canonical_stage", sa.String, nullable=False),
)
hub_fx_rates = sa.Table(
    "hub_fx_rates",
    metadata,
    sa.Column("currency", sa.String, nullable=False),
    sa.Column("rate_to_base", sa.Double, nullable=False),
)
hub_sources = sa.Table(
    "hub_sources",
    metadata,
    sa.Column("source_name", sa.String, nullable=False),
    sa.Column("crm", sa.String, nullable=False),
)
hub_quotas = sa.Table(
    "hub_quotas",
    metadata,
    sa.Column("owner_email", sa.String),
    sa.Column("period_start", sa.Date, nullable=False),
    sa.Column("period_type", sa.String, nullable=False),
    sa.Column("quota_base", sa.Double, nullable=False),
)


@dataclass(frozen=True)
class PostgresParams:
    host: str
    port: int
    user: str
    database: str
    password: str | None

    @classmethod
    def from_config(cls, config: HubConfig) -> PostgresParams:
        settings = config.warehouse
        host, port, user, database = settings.host, settings.port, settings.user, settings.database
        if settings.dsn:
            url = sa.engine.make_url(settings.dsn)
            if url.password:
                raise ConfigError(
                    "warehouse.dsn: holds a password; remove it and set warehouse.password "
                    "to env:NAME instead"
                )
            host, port = host or url.host, port or url.port
            user, database = user or url.username, database or url.database
        missing = [k for k, v in (("host", host), ("user", user), ("database", database)) if not v]
        if missing:
            raise ConfigError(
                f"warehouse: a postgres warehouse needs {', '.join(missing)} "
                "(or a dsn such as postgresql://user@host:5432/db)"
            )
        password = None
        if settings.password:
            from connectors.base import SecretResolver

            password = SecretResolver("warehouse", key_path="warehouse").resolve(
                {"password": settings.password}, "password"
            )
        return cls(str(host), int(port or 5432), str(user), str(database), password)


def dataset_name(source_name: str) -> str:
    return f"src_{source_name}"


class Warehouse:
    def __init__(self, config: HubConfig) -> None:
        self.config = config
        self.settings = config.warehouse
        self._pg: PostgresParams | None = None

    # ----- where ---------------------------------------------------------------------------
    @property
    def kind(self) -> str:
        return self.settings.kind

    @property
    def duckdb_path(self) -> Path:
        return self.config.resolve_path(self.settings.path)

    @property
    def pg(self) -> PostgresParams:
        if self._pg is None:
            self._pg = PostgresParams.from_config(self.config)
        return self._pg

    def describe(self) -> str:
        if self.kind == "duckdb":
            return f"DuckDB file {self.duckdb_path}"
        if self.kind == "dlt":
            return f"dlt destination {self.settings.destination} (dbt target {self.settings.dbt_target})"
        pg = self.pg
        return f"PostgreSQL {pg.host}:{pg.port}/{pg.database} (user {pg.user})"

    def url(self) -> sa.URL | str:
        if self.kind == "duckdb":
            return f"duckdb:///{self.duckdb_path}"
        if self.kind == "dlt":
            return self._resolve("sqlalchemy_url")
        pg = self.pg
        return sa.URL.create(
            "postgresql+psycopg2",
            username=pg.user,
            password=pg.password,
            host=pg.host,
            port=pg.port,
            database=pg.database,
        )

    def dlt_destination(self) -> Any:
        import dlt

        if self.kind == "duckdb":
            from dlt.destinations.impl.duckdb.configuration import DuckDbCredentials

            self.duckdb_path.parent.mkdir(parents=True, exist_ok=True)
            credentials = DuckDbCredentials(
                str(self.duckdb_path),
                # Bounded memory (DuckDB spills to disk) and no ordering guarantee on bulk
                # inserts keep a million-deal merge well under the machine's memory.
                global_config={
                    "memory_limit": self.settings.memory_limit,
                    "preserve_insertion_order": False,
                },
            )
            return dlt.destinations.duckdb(credentials=credentials)
        if self.kind == "dlt":
            # Credentials come from dlt's own config: .dlt/secrets.toml or environment
            # variables such as DESTINATION__SNOWFLAKE__CREDENTIALS.
            return dlt.destination(self.settings.destination)
        pg = self.pg
        return dlt.destinations.postgres(
            credentials={
                "drivername": "postgresql",
                "username": pg.user,
                "password": pg.password,
                "host": pg.host,
                "port": pg.port,
                "database": pg.database,
            }
        )

    def dbt_env(self) -> dict[str, str]:
        """Environment for the committed profiles.yml, which follows the configured warehouse."""
        if self.kind == "duckdb":
            return {
                "HUB_DBT_TARGET": "duckdb",
                "HUB_DUCKDB_PATH": str(self.duckdb_path),
                "HUB_DUCKDB_MEMORY_LIMIT": self.settings.transform_memory_limit,
            }
        if self.kind == "dlt":
            return {"HUB_DBT_TARGET": str(self.settings.dbt_target)}
        pg = self.pg
        return {
            "HUB_DBT_TARGET": "postgres",
            "HUB_PG_HOST": pg.host,
            "HUB_PG_PORT": str(pg.port),
            "HUB_PG_USER": pg.user,
            "HUB_PG_PASSWORD": pg.password or "",
            "HUB_PG_DATABASE": pg.database,
        }

    # ----- access --------------------------------------------------------------------------
    @property
    def dbt_profiles_dir(self) -> Path | None:
        """A user's own profiles.yml folder (kind dlt); None means the committed one."""
        value = self.settings.dbt_profiles_dir
        return self.config.resolve_path(value) if value else None

    def _resolve(self, key: str) -> str:
        from connectors.base import SecretResolver

        value = SecretResolver("warehouse", key_path="warehouse").resolve(
            {key: getattr(self.settings, key)}, key
        )
        assert value is not None
        return value

    @contextmanager
    def connect(self) -> Iterator[sa.Connection]:
        """A transaction on a short-lived engine: DuckDB's file lock is released on exit."""
        if self.kind == "duckdb":
            self.duckdb_path.parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(self.url(), poolclass=sa.pool.NullPool)
        try:
            with engine.begin() as conn:
                yield conn
        except sa.exc.OperationalError as exc:
            raise WarehouseError(self._explain(exc)) from None
        except sa.exc.ProgrammingError as exc:
            if "permission denied" in str(exc.orig).lower():
                raise WarehouseError(self._explain(exc)) from None
            raise
        finally:
            engine.dispose()

    def check(self) -> None:
        """Fail early, in one line, when the warehouse cannot be reached or written."""
        with self.connect() as conn:
            self.ensure_hub_tables(conn)

    def _explain(self, exc: sa.exc.DBAPIError) -> str:
        """One line naming the warehouse and what failed; never the password."""
        text = str(exc.orig).strip()
        first = text.splitlines()[0] if text else type(exc.orig).__name__
        if self.kind == "duckdb":
            return f"{self.describe()}: {first}"
        pg = self.pg
        where = f"PostgreSQL at {pg.host}:{pg.port}"
        lowered = text.lower()
        if "password authentication failed" in lowered or "no password supplied" in lowered:
            message = (
                f"{where} refused user '{pg.user}': wrong or missing password "
                "(check the variable warehouse.password points to)"
            )
        elif "does not exist" in lowered and "database" in lowered:
            message = (
                f"{where}: database '{pg.database}' does not exist; create it "
                "(CREATE DATABASE) or fix warehouse.database"
            )
        elif "permission denied" in lowered:
            message = (
                f"{where}: user '{pg.user}' may not create schemas in database "
                f"'{pg.database}'; grant it: GRANT CREATE ON DATABASE {pg.database} TO {pg.user}"
            )
        elif (
            "could not connect" in lowered
            or "connection refused" in lowered
            or "could not translate host name" in lowered
            or "timeout" in lowered
        ):
            message = f"cannot reach {where} ({first}); check warehouse.host and warehouse.port"
        else:
            message = f"{where}: {first}"
        if pg.password:
            message = message.replace(pg.password, "***")
        return message

    def exists(self) -> bool:
        return self.duckdb_path.exists() if self.kind == "duckdb" else True

    def ensure_hub_tables(self, conn: sa.Connection) -> None:
        conn.execute(sa.text(f"CREATE SCHEMA IF NOT EXISTS {HUB_SCHEMA}"))
        metadata.create_all(conn)

    def has_table(self, conn: sa.Connection, schema: str, table: str) -> bool:
        return sa.inspect(conn).has_table(table, schema=schema)

    # ----- what the hub writes from hub.yml before every transform ------------------------------
    def write_config_tables(
        self, conn: sa.Connection, stage_map_rows: list[dict[str, str]]
    ) -> None:
        config = self.config
        self.ensure_hub_tables(conn)
        # Recreated, not just emptied: they are derived from hub.yml every time, and a table
        # made by an older version keeps its old column types (DuckDB's FLOAT is 4 bytes).
        for table in (hub_canonical_stages, hub_stage_map, hub_fx_rates, hub_sources):
            table.drop(conn, checkfirst=True)
            table.create(conn)
        conn.execute(
            hub_canonical_stages.insert(),
            [
                {
                    "stage_name": s.name,
                    "display_order": i,
                    "outcome": s.outcome,
                    "probability": s.probability,
                    "stall_days": s.stall_days,
                }
                for i, s in enumerate(config.stages, start=1)
            ],
        )
        if stage_map_rows:
            conn.execute(hub_stage_map.insert(), stage_map_rows)
        rates = {config.base_currency: 1.0, **config.fx_rates}
        conn.execute(
            hub_fx_rates.insert(),
            [{"currency": c, "rate_to_base": r} for c, r in sorted(rates.items())],
        )
        if config.sources:
            conn.execute(
                hub_sources.insert(),
                [{"source_name": s.name, "crm": s.kind} for s in config.sources],
            )

    def write_quotas(self, conn: sa.Connection, rows: list[dict[str, Any]]) -> None:
        self.ensure_hub_tables(conn)
        conn.execute(hub_quotas.delete())
        if rows:
            conn.execute(hub_quotas.insert(), rows)

    # ----- observations ------------------------------------------------------------------------
    def record_observations(self, conn: sa.Connection, source_name: str, seen_at: datetime) -> int:
        """Append the stage each deal is in now where it differs from the last observation.

        ``observed_at`` is the best estimate of when the deal entered that stage: the CRM's
        stage-change or modification time when it falls after the previous observation,
        else the time of this sync (``seen_at``). History so survives vendor retention
        limits and CRMs that keep none.
        """
        schema = dataset_name(source_name)
        if not self.has_table(conn, schema, "deals"):
            return 0
        conn.execute(
            sa.text(
                f"CREATE TABLE IF NOT EXISTS {schema}.stage_observations ("
                "source_name varchar NOT NULL, crm varchar NOT NULL, deal_key varchar NOT NULL, "
                "pipeline_id varchar, stage_id varchar NOT NULL, observed_at timestamptz NOT NULL, "
                "seen_at timestamptz NOT NULL)"
            )
        )
        result = conn.execute(
            sa.text(f"""
            INSERT INTO {schema}.stage_observations
                (source_name, crm, deal_key, pipeline_id, stage_id, observed_at, seen_at)
            SELECT d.source_name, d.crm, d.deal_key, d.pipeline_id, d.stage_id,
                   CASE
                     WHEN coalesce(d.stage_changed_at, d.updated_at) IS NOT NULL
                      AND coalesce(d.stage_changed_at, d.updated_at) <= :seen_at
                      AND (last_obs.observed_at IS NULL
                           OR coalesce(d.stage_changed_at, d.updated_at) > last_obs.observed_at)
                     THEN coalesce(d.stage_changed_at, d.updated_at)
                     ELSE :seen_at
                   END,
                   :seen_at
            FROM {schema}.deals d
            LEFT JOIN (
                SELECT deal_key, pipeline_id, stage_id, observed_at,
                       row_number() OVER (PARTITION BY deal_key ORDER BY observed_at DESC,
                                          seen_at DESC) AS recency
                FROM {schema}.stage_observations
            ) last_obs ON last_obs.deal_key = d.deal_key AND last_obs.recency = 1
            WHERE d.stage_id IS NOT NULL
              AND NOT coalesce(d.is_deleted, false)
              AND (last_obs.deal_key IS NULL
                   OR last_obs.stage_id <> d.stage_id
                   OR coalesce(last_obs.pipeline_id, '') <> coalesce(d.pipeline_id, ''))
            """),
            {"seen_at": seen_at},
        )
        return int(result.rowcount or 0)


def stage_map_rows(config: HubConfig) -> list[dict[str, str]]:
    """The stage map as rows: connector defaults first, hub.yml entries override them."""
    from connectors.registry import get_connector

    rows: dict[tuple[str, str, str], str] = {}
    for source in config.sources:
        if source.use_default_stage_map:
            try:
                defaults = get_connector(source.kind).default_stage_map
            except Exception:
                defaults = {}
            for native, canonical in defaults.items():
                if canonical in config.stage_names:
                    rows[(source.name, ANY_PIPELINE, native)] = canonical
        for pipeline, mapping in source.stage_map.items():
            for native, canonical in mapping.items():
                rows[(source.name, pipeline, native)] = canonical
    return [
        {"source_name": s, "pipeline": p, "native_stage": n, "canonical_stage": c}
        for (s, p, n), c in sorted(rows.items())
    ]
