"""Hand-built books (tests/score/world.py) synced once per session into DuckDB."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from hub.warehouse import Warehouse
from models.config import HubConfig, load_config
from tests.score.world import BookDeal, write_book

FLIP_AT = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class Book:
    path: Path
    deals: list[BookDeal]

    @property
    def config(self) -> HubConfig:
        return load_config(self.path)

    def sql(self, query: str, **params: Any) -> list[Any]:
        with Warehouse(self.config).connect() as conn:
            return list(conn.execute(sa.text(query), params))


def synced_book(folder: Path, **options: Any) -> Book:
    from hub.cli import app

    path, deals = write_book(folder, **options)
    result = CliRunner().invoke(app, ["sync", "--config", str(path)])
    assert result.exit_code == 0, result.output
    return Book(path, deals)


@pytest.fixture(scope="session")
def driven_book(tmp_path_factory: pytest.TempPathFactory) -> Book:
    """Engaged deals win, whenever they close: a score that reads activity should win."""
    return synced_book(tmp_path_factory.mktemp("driven"))


@pytest.fixture(scope="session")
def flipped_book(tmp_path_factory: pytest.TempPathFactory) -> Book:
    """The driver flips at FLIP_AT: what the score learned before it is wrong after it."""
    return synced_book(tmp_path_factory.mktemp("flipped"), flip_at=FLIP_AT)
