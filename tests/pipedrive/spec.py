"""Validates sandbox responses against Pipedrive's official OpenAPI files.

The files are OpenAPI 3.0 with every schema inline (no $ref), so each operation's 200
schema converts to JSON Schema directly. One deliberate relaxation: a property that the
schema does not list as ``required`` may be ``null``. Pipedrive's spec omits ``nullable``
on many fields the live API returns as null (``won_time`` of an open deal, and
``next_cursor`` at the end of a list, whose own description says it is null there).
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft7Validator

SPEC_DIR = Path(__file__).resolve().parents[3] / "shared" / "api-specs" / "pipedrive"
PREFIXES = {"/api/v1": "v1.yaml", "/api/v2": "v2.yaml"}


def _convert(schema: Any) -> Any:
    if isinstance(schema, list):
        return [_convert(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {
        k: _convert(v)
        for k, v in schema.items()
        if k not in ("example", "nullable", "properties") and not k.startswith("x-")
    }
    if "properties" in schema:
        required = set(schema.get("required") or [])
        out["properties"] = {
            name: (
                _convert(prop)
                if name in required
                else {"anyOf": [_convert(prop), {"type": "null"}]}
            )
            for name, prop in schema["properties"].items()
        }
    if schema.get("nullable"):
        return {"anyOf": [out, {"type": "null"}]}
    return out


@cache
def _spec(filename: str) -> dict[str, Any]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with (SPEC_DIR / filename).open(encoding="utf-8") as fh:
        return yaml.load(fh, Loader=loader)  # noqa: S506 - a safe loader


def available() -> bool:
    return all((SPEC_DIR / f).exists() for f in PREFIXES.values())


@cache
def _validator(filename: str, template: str, method: str, status: str) -> Draft7Validator | None:
    op = _spec(filename)["paths"][template][method]
    response = op.get("responses", {}).get(status)
    if response is None:
        return None
    schema = response.get("content", {}).get("application/json", {}).get("schema")
    return Draft7Validator(_convert(schema)) if schema else None


def operation(path: str) -> tuple[str, str] | None:
    """(spec file, path template) for a sandbox path such as /api/v1/deals/7/flow."""
    for prefix, filename in PREFIXES.items():
        if path.startswith(prefix):
            rest = path[len(prefix) :]
            for template in sorted(_spec(filename)["paths"], key=lambda t: t.count("{")):
                regex = "^" + re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(template)) + "$"
                if re.match(regex, rest):
                    return filename, template
    return None


def validate(method: str, path: str, status: int, body: Any) -> list[str]:
    """Error messages (empty when valid); raises if the operation is not in the spec."""
    found = operation(path)
    if found is None:
        raise AssertionError(f"{method} {path} is not an operation of Pipedrive's spec")
    validator = _validator(found[0], found[1], method.lower(), str(status))
    if validator is None:
        return []
    return [
        f"{method} {path}: {'/'.join(map(str, e.path))}: {e.message}"
        for e in validator.iter_errors(body)
    ]
