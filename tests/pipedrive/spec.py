"""Validates requests and responses against Pipedrive's official OpenAPI files (openapi-core).

Both sides of an exchange are checked: the request's path, query parameters and JSON body
against the operation, and the response body against the operation's schema for its
status. A query parameter the operation does not declare is an error too: the real API
ignores it silently, so a client would believe it filters when it does not.

Three deliberate relaxations, each a place where the files contradict their own text:

* a property the schema does not list as ``required`` may be ``null``. Many fields the live
  API returns as null (``won_time`` of an open deal; ``next_cursor`` at the end of a list,
  whose own description says it is null there) lack ``nullable``.
* a query parameter whose description says it takes a comma separated list (``status`` and
  ``include_fields`` of the deal lists) accepts a list of its enum values, not just one.
* v1 only: a ``date-time`` may be written ``YYYY-MM-DD HH:MM:SS``, as the v1 file's own
  examples (and the live v1 API) write them.
"""

from __future__ import annotations

import copy
import json
import re
import warnings
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from openapi_core import Config, OpenAPI
from openapi_core.testing import MockRequest, MockResponse

# ``../shared/api-specs`` beside the checkout; a git worktree may sit a level deeper
SPEC_DIR = next(
    (
        found
        for root in Path(__file__).resolve().parents[3:]
        if (found := root / "shared" / "api-specs" / "pipedrive").is_dir()
    ),
    Path(__file__).resolve().parents[3] / "shared" / "api-specs" / "pipedrive",
)
PREFIXES = {"/api/v1": "v1.yaml", "/api/v2": "v2.yaml"}
HOST = "http://pipedrive.test"  # any host: the files' servers are replaced by HOST + prefix


@cache
def _spec(filename: str) -> dict[str, Any]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with (SPEC_DIR / filename).open(encoding="utf-8") as fh:
        return yaml.load(fh, Loader=loader)  # noqa: S506 - a safe loader


def available() -> bool:
    return all((SPEC_DIR / f).exists() for f in PREFIXES.values())


def _objects(node: Any) -> Iterator[dict[str, Any]]:
    """Every mapping in a loaded YAML tree, parents first."""
    if isinstance(node, dict):
        yield node
        node = list(node.values())
    if isinstance(node, list):
        for item in node:
            yield from _objects(item)


def _nullable_optionals(schema: dict[str, Any]) -> None:
    """Relaxation 1, in place: every property not listed as required may be null."""
    required = schema.get("required")  # a list on schemas, a bool on parameters
    required = set(required) if isinstance(required, list) else set()
    for name, prop in (schema.get("properties") or {}).items():
        if name not in required and isinstance(prop, dict):
            prop["nullable"] = True


def _v1_times(schema: dict[str, Any]) -> None:
    """Relaxation 3, in place (v1 only): a ``date-time`` may be ``YYYY-MM-DD HH:MM:SS``."""
    if schema.get("format") == "date-time":
        del schema["format"]
        schema["pattern"] = r"^\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d"


def _comma_lists(operation: dict[str, Any]) -> None:
    """Relaxation 2, in place: an enum query parameter described as comma separated."""
    for param in operation.get("parameters") or []:
        enum = param.get("schema", {}).get("enum")
        if (
            param.get("in") == "query"
            and enum
            and "comma separated" in param.get("description", "")
        ):
            one = "|".join(re.escape(v) for v in enum)
            param["schema"] = {"type": "string", "pattern": f"^({one})(,({one}))*$"}


@cache
def _app(prefix: str) -> OpenAPI:
    spec = copy.deepcopy(_spec(PREFIXES[prefix]))
    spec["servers"] = [{"url": HOST + prefix}]
    for item in spec["paths"].values():
        for operation in item.values():
            if isinstance(operation, dict):
                _comma_lists(operation)
    for node in _objects(spec):
        _nullable_optionals(node)
        if prefix == "/api/v1":
            _v1_times(node)
    # the files are large and known to be valid OpenAPI 3.0: skip re-validating them
    return OpenAPI.from_dict(spec, config=Config(spec_validator_cls=None))


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


def _located(method: str, path: str) -> tuple[str, dict[str, Any]]:
    found = operation(path)
    if found is None:
        raise AssertionError(f"{method} {path} is not an operation of Pipedrive's spec")
    op = _spec(found[0])["paths"][found[1]].get(method.lower())
    if op is None:
        raise AssertionError(f"{method} {path}: the spec has no {method} on {found[1]}")
    return next(p for p in PREFIXES if path.startswith(p)), op


def _messages(label: str, exc: Exception) -> list[str]:
    cause = exc.__cause__
    details = [getattr(e, "message", str(e)) for e in getattr(cause, "schema_errors", ())]
    return [f"{label}: {exc}" + (f" ({'; '.join(details)})" if details else "")]


def _mock_request(
    method: str,
    path: str,
    query: Mapping[str, list[str]] | None,
    headers: Mapping[str, str] | None,
    body: bytes,
) -> MockRequest:
    return MockRequest(
        HOST,
        method,
        path,
        args=dict(query or {}),
        headers=dict(headers or {}),
        data=body,
        content_type=(headers or {}).get("content-type", "application/json").split(";")[0],
    )


def request_errors(
    method: str,
    path: str,
    query: Mapping[str, list[str]] | None = None,
    headers: Mapping[str, str] | None = None,
    body: bytes = b"",
) -> list[str]:
    """Error messages for one request (empty when valid): undeclared query parameters and
    missing credentials (openapi-core passes any request on the files' oauth2 scheme), then
    openapi-core's checks of path, query and body."""
    prefix, op = _located(method, path)
    declared = {p["name"] for p in op.get("parameters") or [] if p.get("in") == "query"}
    label = f"{method} {path}"
    errors = [
        f"{label}: query parameter {name!r} is not declared by the spec"
        for name in sorted(set(query or {}) - declared)
    ]
    names = {k.lower() for k in headers or {}}
    if "x-api-token" not in names and not (headers or {}).get("authorization", "").startswith(
        "Bearer "
    ):
        errors.append(f"{label}: neither an x-api-token header nor an OAuth bearer token")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "Unsupported scheme type": oauth2
        try:
            _app(prefix).validate_request(_mock_request(method, path, query, headers, body))
        except Exception as exc:  # openapi-core's validation errors
            errors += _messages(label, exc)
    return errors


def validate(method: str, path: str, status: int, body: Any) -> list[str]:
    """Error messages for one response body (empty when valid); raises if the operation
    is not in the spec. A status the operation does not document is not checked."""
    prefix, op = _located(method, path)
    if str(status) not in op.get("responses", {}):
        return []
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    try:
        _app(prefix).validate_response(
            _mock_request(method, path, None, None, b""), MockResponse(data, status)
        )
    except Exception as exc:  # openapi-core's validation errors
        return _messages(f"{method} {path} -> {status}", exc)
    return []
