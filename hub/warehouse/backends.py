"""The warehouse, the same to the hub on DuckDB, PostgreSQL or any dlt destination: one
class per kind says where it is and how sqlalchemy, dlt and dbt reach it; the rest is the
same for every kind.

``Warehouse(config)`` gives the configured kind's class. It opens short-lived connections:
DuckDB allows one writer per file, so a connection is opened per operation and released
before dlt or dbt take over.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from hub.warehouse.meta import ensure_hub_tables
from models.config import HubConfig
from models.errors import ConfigError, WarehouseError

if TYPE_CHECKING:
    from hub.locks import Lock


def _secret(key: str, value: str) -> str | None:
    from connectors.base import SecretResolver

    return SecretResolver("warehouse", key_path="warehouse").resolve({key: value}, key)


class Warehouse:
    """The configured warehouse. Constructing it picks the class of its kind, which says
    where it is: ``describe``, ``url``, ``dlt_destination``, ``dbt_env``."""

    def __new__(cls, config: HubConfig) -> Warehouse:
        return super().__new__(BACKENDS[config.warehouse.kind] if cls is Warehouse else cls)

    def __init__(self, config: HubConfig) -> None:
        self.config, self.settings = config, config.warehouse

    @property
    def kind(self) -> str:
        return self.settings.kind

    @property
    def dbt_profiles_dir(self) -> Path | None:
        """A user's own profiles.yml folder (kind dlt); None means the committed one."""
        value = self.settings.dbt_profiles_dir
        return self.config.resolve_path(value) if value else None

    def describe(self) -> str:
        raise NotImplementedError

    def url(self) -> sa.URL | str:
        """Where the hub's own reads and writes (sqlalchemy) go."""
        raise NotImplementedError

    def dlt_destination(self) -> Any:
        raise NotImplementedError

    def dbt_env(self) -> dict[str, str]:
        """Environment for the committed profiles.yml, which follows the configured warehouse."""
        raise NotImplementedError

    def exists(self) -> bool:
        return True

    def loading(self) -> AbstractContextManager[None]:
        """Held around a pull's normalize and load steps (what dlt needs set up for them)."""
        return nullcontext()

    def explain(self, exc: sa.exc.DBAPIError) -> str:
        """One line naming the warehouse and what failed; never the password."""
        return f"{self.describe()}: {_first_line(exc)}"

    @contextmanager
    def connect(self) -> Iterator[sa.Connection]:
        """A transaction on a short-lived engine: DuckDB's file lock is released on exit."""
        engine = sa.create_engine(self.url(), poolclass=sa.pool.NullPool)
        try:
            with engine.begin() as conn:
                yield conn
        except sa.exc.OperationalError as exc:
            raise WarehouseError(self.explain(exc)) from None
        except sa.exc.ProgrammingError as exc:
            if "permission denied" in str(exc.orig).lower():
                raise WarehouseError(self.explain(exc)) from None
            raise
        finally:
            engine.dispose()

    def check(self) -> None:
        """Fail early, in one line, when the warehouse cannot be reached or written."""
        with self.connect() as conn:
            ensure_hub_tables(conn)

    def relations_bytes(self, schemas: tuple[str, ...]) -> int | None:
        """About how much disk the tables of ``schemas`` take (None: unknown here)."""
        return None

    def run_lock(self) -> Lock:
        """The lock a run that writes holds (``hub.locks``): here a file in the hub folder,
        which serializes runs of this folder only; DuckDB and PostgreSQL do better."""
        from hub.locks import FileLock

        return FileLock(self.config.hub_dir / "locks" / "warehouse.lock", self.describe())

    def require_complete_build(self, conn: sa.Connection) -> None:
        """Refuse to read marts a transform left half-built (``hub.warehouse.builds``)."""
        from hub.warehouse.builds import require_complete_build

        require_complete_build(conn, self)


MIN_POSTGRES = 140000  # hash_record_extended (the deal score's training key) is 14+


def require_server_version(version_num: int, where: str) -> None:
    """Refuse, in one line, a PostgreSQL older than the hub's SQL needs (``server_version_num``,
    e.g. 150004), rather than fail later on a function the server lacks."""
    if version_num < MIN_POSTGRES:
        major = (  # 10 and later: 150004 is 15; before: 90624 is 9.6
            str(version_num // 10000)
            if version_num >= 100000
            else f"{version_num // 10000}.{version_num // 100 % 100}"
        )
        raise WarehouseError(
            f"{where}: server version {major} is too old; the hub needs PostgreSQL 14 or later"
        )


def _first_line(exc: sa.exc.DBAPIError) -> str:
    text = str(exc.orig).strip()
    return text.splitlines()[0] if text else type(exc.orig).__name__


class DuckDbBackend(Warehouse):
    @property
    def path(self) -> Path:
        return self.config.resolve_path(self.settings.path)

    def describe(self) -> str:
        return f"DuckDB file {self.path}"

    def url(self) -> str:
        self.path.parent.mkdir(parents=True, exist_ok=True)  # DuckDB makes the file, not its folder
        return f"duckdb:///{self.path}"

    def dlt_destination(self) -> Any:
        import dlt
        from dlt.destinations.impl.duckdb.configuration import DuckDbCredentials

        self.path.parent.mkdir(parents=True, exist_ok=True)
        credentials = DuckDbCredentials(
            str(self.path),
            # Bounded memory (DuckDB spills to disk) and no ordering guarantee on bulk
            # inserts keep a million-deal merge well under the machine's memory.
            global_config={
                "memory_limit": self.settings.memory_limit,
                "preserve_insertion_order": False,
            },
        )
        # dlt merges a table by a DELETE then an INSERT from one SQL file, inside a
        # transaction only where the destination says it supports them; its DuckDB factory
        # leaves that unset, so each statement committed alone and an insert that failed
        # (a full disk) left the deleted rows gone (tests/reliability/test_atomic_merge.py).
        return dlt.destinations.duckdb(credentials=credentials, supports_transactions=True)

    def dbt_env(self) -> dict[str, str]:
        return {
            "HUB_DBT_TARGET": "duckdb",
            "HUB_DUCKDB_PATH": str(self.path),
            "HUB_DUCKDB_MEMORY_LIMIT": self.settings.transform_memory_limit,
        }

    def exists(self) -> bool:
        return self.path.exists()

    def relations_bytes(self, schemas: tuple[str, ...]) -> int | None:
        """The storage blocks of the schemas' tables, read-only (works on a full disk)."""
        import duckdb

        if not self.path.exists():
            return None
        try:
            with duckdb.connect(str(self.path), read_only=True) as con:
                block_size = con.execute("SELECT block_size FROM pragma_database_size()").fetchone()
                tables = con.execute(
                    "SELECT schema_name, table_name FROM duckdb_tables() "
                    f"WHERE schema_name IN ({', '.join('?' for _ in schemas)})",
                    list(schemas),
                ).fetchall()
                blocks = 0
                for schema, table in tables:
                    counted = con.execute(
                        "SELECT count(DISTINCT block_id) FROM pragma_storage_info(?) "
                        "WHERE block_id >= 0",
                        [f'"{schema}"."{table}"'],
                    ).fetchone()
                    blocks += counted[0] if counted else 0
        except duckdb.Error:
            return None
        return int(blocks * block_size[0]) if block_size else None

    def run_lock(self) -> Lock:
        """A file beside the database: every hub.yml naming this file shares it."""
        from hub.locks import FileLock

        return FileLock(self.path.with_name(self.path.name + ".lock"), self.describe())


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
        password = _secret("password", settings.password) if settings.password else None
        return cls(str(host), int(port or 5432), str(user), str(database), password)


def _with_option(options: str, option: str) -> str:
    """``options`` (a user's PGOPTIONS) with ``option`` added once."""
    return options if option in options else f"{options} {option}".strip()


class PostgresBackend(Warehouse):
    @cached_property
    def pg(self) -> PostgresParams:
        """Resolved on first use, so creating the warehouse reads no setting or secret yet."""
        return PostgresParams.from_config(self.config)

    def describe(self) -> str:
        pg = self.pg
        return f"PostgreSQL {pg.host}:{pg.port}/{pg.database} (user {pg.user})"

    def session_options(self) -> str:
        """libpq ``options`` for the hub's own sessions (SQL and dbt): JIT off unless
        ``warehouse.jit`` (the transforms' estimates trigger it; compiling cost more than it
        saved: dbt 97.8 -> 79.5 s at 300k deals)."""
        return "" if self.settings.jit else "-c jit=off"

    def url(self) -> sa.URL:
        pg = self.pg
        options = self.session_options()
        return sa.URL.create(
            "postgresql+psycopg2",
            username=pg.user,
            password=pg.password,
            host=pg.host,
            port=pg.port,
            database=pg.database,
            query={"options": options} if options else {},
        )

    def dlt_destination(self) -> Any:
        """dlt's postgres destination, loading every table by COPY of CSV files or by INSERT
        statements (``warehouse.load_format``; ``hub.warehouse.pg_copy``)."""
        from hub.warehouse.pg_copy import postgres_copy, postgres_insert

        pg = self.pg
        factory = postgres_copy if self.settings.load_format == "copy" else postgres_insert
        return factory(
            credentials={
                "drivername": "postgresql",
                "username": pg.user,
                "password": pg.password,
                "host": pg.host,
                "port": pg.port,
                "database": pg.database,
            }
        )

    def loading(self) -> AbstractContextManager[None]:
        """COPY's CSV writers in place while dlt normalizes and loads."""
        from hub.warehouse.pg_copy import copy_writers

        return copy_writers() if self.settings.load_format == "copy" else nullcontext()

    def dbt_env(self) -> dict[str, str]:
        pg = self.pg
        return {
            "HUB_DBT_TARGET": "postgres",
            "HUB_PG_HOST": pg.host,
            "HUB_PG_PORT": str(pg.port),
            "HUB_PG_USER": pg.user,
            "HUB_PG_PASSWORD": pg.password or "",
            "HUB_PG_DATABASE": pg.database,
            # dbt's psycopg2 connection passes no options of its own, so libpq reads these.
            "PGOPTIONS": _with_option(os.environ.get("PGOPTIONS", ""), self.session_options()),
        }

    def relations_bytes(self, schemas: tuple[str, ...]) -> int | None:
        try:
            with self.connect() as conn:
                total = conn.execute(
                    sa.text(
                        "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
                        "JOIN pg_namespace n ON n.oid = c.relnamespace "
                        "WHERE c.relkind IN ('r', 'm') AND n.nspname = ANY(:schemas)"
                    ),
                    {"schemas": list(schemas)},
                ).scalar()
        except (WarehouseError, sa.exc.SQLAlchemyError):
            return None
        return int(total or 0)

    def run_lock(self) -> Lock:
        """An advisory lock in the database: runs from any folder or machine share it."""
        from hub.locks import PgAdvisoryLock

        return PgAdvisoryLock(self)

    def check(self) -> None:
        """Besides reaching and writing: a server old enough for the hub's SQL."""
        with self.connect() as conn:
            ensure_hub_tables(conn)
            version = int(conn.execute(sa.text("SHOW server_version_num")).scalar_one())
        require_server_version(version, self.describe())

    def explain(self, exc: sa.exc.DBAPIError) -> str:
        """What went wrong and the fix, for the failures a new setup meets."""
        pg, first = self.pg, _first_line(exc)
        where = f"PostgreSQL at {pg.host}:{pg.port}"
        lowered = str(exc.orig).lower()
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
        return message.replace(pg.password, "***") if pg.password else message


class DltBackend(Warehouse):
    """Any other warehouse: a dlt destination, the user's dbt profile, a sqlalchemy URL."""

    def describe(self) -> str:
        settings = self.settings
        return f"dlt destination {settings.destination} (dbt target {settings.dbt_target})"

    def url(self) -> str:
        url = _secret("sqlalchemy_url", str(self.settings.sqlalchemy_url))  # required by kind dlt
        assert url is not None
        return url

    def dlt_destination(self) -> Any:
        import dlt

        # Credentials come from dlt's own config: .dlt/secrets.toml or environment
        # variables such as DESTINATION__SNOWFLAKE__CREDENTIALS.
        return dlt.destination(self.settings.destination)

    def dbt_env(self) -> dict[str, str]:
        return {"HUB_DBT_TARGET": str(self.settings.dbt_target)}


BACKENDS: dict[str, type[Warehouse]] = {
    "duckdb": DuckDbBackend,
    "postgres": PostgresBackend,
    "dlt": DltBackend,
}
