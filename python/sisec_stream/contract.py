"""The event contract (v1) as shipped JSON Schemas.

The schemas live in the package (``sisec_stream/schemas/events/*.schema.json``) so that
producers and tests can check events against exactly the rules the engine enforces. The
human description of the contract is ``docs/events.md``.

Two rules of the engine are parser rules stricter than the schemas and cannot be expressed
in JSON Schema: duplicate keys in an object (``duplicate_field``) and the event size limit
(``too_large``).

Example::

    from sisec_stream.contract import event_validator

    validator = event_validator()
    validator.validate({"type": "call", "event_id": "c-1", "ts": 0,
                        "call_id": "C1", "line": "123", "status": "received"})
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

    from jsonschema.protocols import Validator

__all__ = [
    "SCHEMA_BASE_URI",
    "SCHEMA_NAMES",
    "event_validator",
    "load_schema",
    "schema_path",
]

#: Names of the shipped schemas (file ``<name>.schema.json``). ``event`` is the union of
#: the three event types; ``common`` only holds shared ``$defs``.
SCHEMA_NAMES: Final[tuple[str, ...]] = ("event", "plate_read", "button_press", "call", "common")

#: Base of the schemas' ``$id`` URIs; relative ``$ref`` s resolve against it.
SCHEMA_BASE_URI: Final[str] = "https://sisec-stream.dev/schemas/events/"

_SUFFIX: Final[str] = ".schema.json"


def _normalise_name(name: str) -> str:
    base = name.removesuffix(_SUFFIX)
    if base not in SCHEMA_NAMES:
        raise ValueError(f"unknown schema {name!r}; expected one of {', '.join(SCHEMA_NAMES)}")
    return base


def _resource(base: str) -> Traversable:
    # One joinpath() per segment: namespace-package paths accept a single argument on 3.11.
    return (
        resources.files("sisec_stream")
        .joinpath("schemas")
        .joinpath("events")
        .joinpath(base + _SUFFIX)
    )


def schema_path(name: str) -> Path:
    """Return the filesystem path of the shipped schema ``name``.

    ``name`` is one of :data:`SCHEMA_NAMES` (``"plate_read"``), with or without the
    ``.schema.json`` suffix. The path is resolved with :mod:`importlib.resources`, so it
    works for an installed wheel as well as for a source checkout.

    Raises:
        ValueError: ``name`` is not a shipped schema.
    """
    base = _normalise_name(name)
    return Path(str(_resource(base)))


def load_schema(name: str) -> dict[str, Any]:
    """Load and return the shipped schema ``name`` (see :func:`schema_path`) as a dict."""
    base = _normalise_name(name)
    data = json.loads(_resource(base).read_text(encoding="utf-8"))
    if not isinstance(data, dict):  # pragma: no cover - shipped files are objects
        raise TypeError(f"schema {base!r} is not a JSON object")
    return data


def event_validator(name: str = "event") -> Validator:
    """Return a ready-to-use validator for events (default: the ``event`` union schema).

    The validator is a :class:`jsonschema.Draft202012Validator` with format checking
    enabled (``date-time`` is asserted, which is what rejects e.g. 2024-02-30) and a
    :class:`referencing.Registry` holding every shipped schema, so relative ``$ref`` s
    resolve offline.

    ``jsonschema`` (with ``rfc3339-validator`` for the ``date-time`` format) is a
    development/test dependency, not a runtime dependency of sisec-stream: it is imported
    lazily inside this function. Install the ``dev`` extra to use it.

    Raises:
        ModuleNotFoundError: ``jsonschema`` is not installed.
        RuntimeError: the ``date-time`` format checker is unavailable (install
            ``rfc3339-validator``); without it day-of-month validity would not be checked.
    """
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    format_checker = Draft202012Validator.FORMAT_CHECKER
    if "date-time" not in format_checker.checkers:
        raise RuntimeError(
            "jsonschema has no 'date-time' format checker; install rfc3339-validator"
        )
    resources_ = [
        (schema["$id"], Resource.from_contents(schema, default_specification=DRAFT202012))
        for schema in (load_schema(n) for n in SCHEMA_NAMES)
    ]
    registry: Registry[Any] = Registry().with_resources(resources_)
    validator: Validator = Draft202012Validator(
        load_schema(name), registry=registry, format_checker=format_checker
    )
    return validator
