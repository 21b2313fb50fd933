"""Errors shared by every layer.

    HubError                    anything the CLI turns into one line and an exit code
    ├── ConfigError             hub.yml or a connector option is wrong (exit 2)
    ├── InputError              a file or payload cannot be read at all (exit 1)
    ├── SourceError             a source failed; others may still succeed (exit 3 overall)
    │   ├── AuthError           credentials rejected; fix them, retrying will not help
    │   ├── RetriesExhausted    a retryable failure outlasted its retries; rerun later
    │   └── QuotaExhausted      the API budget is spent; state is saved, resume later
    └── WarehouseError          the warehouse is unreachable or refused an operation

Messages say what, where and how to fix it, and never contain a token.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError


class HubError(Exception):
    exit_code = 1


class ConfigError(HubError):
    exit_code = 2


class InputError(HubError):
    exit_code = 1


class SourceError(HubError):
    exit_code = 3


class AuthError(SourceError):
    pass


class RetriesExhausted(SourceError):
    """A request kept failing in a retryable way (429, 5xx, dropped) past its retry budget."""


class QuotaExhausted(SourceError):
    """The vendor's (or our configured share of the) request budget is used up."""

    def __init__(self, message: str, *, resume_after: str | None = None) -> None:
        super().__init__(message)
        self.resume_after = resume_after


class WarehouseError(HubError):
    exit_code = 1


def _key_path(loc: tuple[Any, ...], raw: Any) -> str:
    """Render a pydantic location as ``sources[0].kind`` (named where the data allows)."""
    parts: list[str] = []
    node = raw
    for item in loc:
        if isinstance(item, int):
            label = str(item)
            if isinstance(node, list) and 0 <= item < len(node):
                entry = node[item]
                if isinstance(entry, dict) and isinstance(entry.get("name"), str):
                    label = f"{item}:{entry['name']}"
                node = entry
            parts.append(f"[{label}]")
        else:
            node = node.get(item) if isinstance(node, dict) else None
            parts.append(f".{item}" if parts else str(item))
    return "".join(parts) or "(top level)"


def config_error_from_validation(
    exc: ValidationError, *, file: Path | str | None, raw: Any, prefix: str = ""
) -> ConfigError:
    """One readable line per problem: file, key path, bad value, what is valid."""
    lines = []
    for err in exc.errors():
        path = _key_path(tuple(err["loc"]), raw)
        if prefix:
            path = f"{prefix}.{path}" if path != "(top level)" else prefix
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key; check the spelling against 'hub init'"
        elif err["type"] == "literal_error":
            expected = err.get("ctx", {}).get("expected", "")
            msg = f"not a valid choice; valid: {expected}"
        value = err.get("input")
        shown = "" if isinstance(value, dict | list) or value is None else f" (got {value!r})"
        lines.append(f"{path}: {msg}{shown}")
    where = f"{file}: " if file else ""
    return ConfigError(
        where + ("; ".join(lines) if len(lines) <= 1 else "\n  " + "\n  ".join(lines))
    )
