"""Validate OpenLineage events against the official JSON Schemas, read from a local copy.

The spec folder (``OpenLineage.json`` and ``facets/*.json``) lives in ``shared/openlineage-spec``
beside the repository root; the schema URLs cannot be fetched, so every ``$id`` is mapped to its
local file in a :class:`referencing.Registry`.

The RunEvent schema only checks facets against the base facet (``_producer`` and
``_schemaURL``), so :class:`OpenLineageValidator` also validates every facet against the
definition its ``_schemaURL`` points to, checks that the facet's key is the one the facet's file
declares for that definition, and that the definition's base fits where the facet sits (a run
facet under ``run.facets``, an output facet under ``outputFacets``...). Formats (``uuid``,
``date-time``, ``uri``) are checked too; jsonschema skips ``date-time`` and ``uri`` unless optional
packages are installed, so strict checkers are registered here.

Use the fixtures ``openlineage_spec`` and ``openlineage_validator`` by importing their functions
into a test module (they skip the test when the spec folder is absent)::

    from openlineage_schema import openlineage_spec_fixture, openlineage_validator_fixture

    def test_events(openlineage_validator):
        openlineage_validator(event)  # raises AssertionError listing every problem

or directly: ``OpenLineageValidator(load_spec(default_spec_dir())).errors(event)``.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource

SPEC_DIR_ENV = "OPENLINEAGE_SPEC_DIR"
"""Environment variable that overrides the spec folder's location."""

CONTAINER_BASES: Mapping[str, str] = {
    "run": "RunFacet",
    "job": "JobFacet",
    "facets": "DatasetFacet",
    "inputFacets": "InputDatasetFacet",
    "outputFacets": "OutputDatasetFacet",
}
"""Base definition (in OpenLineage.json) that a facet must extend, by where it sits."""

KNOWN_SPEC_SLIPS: frozenset[tuple[str, str]] = frozenset(
    {
        # DataQualityAssertionsDatasetFacet extends InputDatasetFacet although it describes any
        # dataset (OpenLineage issue #1876; the proposed fix makes it a DatasetFacet). Both bases
        # are the BaseFacet shape, so it is accepted in a dataset's ``facets`` too.
        ("facets", "DataQualityAssertionsDatasetFacet"),
    }
)
"""(container, definition) pairs accepted although the definition's base does not match."""


def default_spec_dir() -> Path:
    """The spec folder: ``$OPENLINEAGE_SPEC_DIR``, else ``<repo>/../shared/openlineage-spec``."""
    override = os.environ.get(SPEC_DIR_ENV)
    if override:
        return Path(override)
    repo_root = Path(__file__).resolve().parents[2]  # tests/sim/this.py -> repository root
    return (repo_root / ".." / "shared" / "openlineage-spec").resolve()


@dataclass(frozen=True)
class OpenLineageSpec:
    """The loaded spec.

    Attributes:
        directory: the folder it was read from.
        documents: each schema file's contents by its ``$id``.
        registry: a registry resolving every ``$id`` to its local file.
        event_schema_id: the ``$id`` of ``OpenLineage.json``.
    """

    directory: Path
    documents: Mapping[str, Mapping[str, Any]]
    registry: Registry[Any]
    event_schema_id: str

    def resolve(self, url: str) -> Mapping[str, Any]:
        """The schema a URL (``$id`` plus an optional ``#/json/pointer``) points to.

        Raises:
            KeyError: if the document is not in the spec or the pointer does not resolve.
        """
        base, _, pointer = url.partition("#")
        node: Any = self.documents[base]
        for part in filter(None, pointer.split("/")):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return node


def load_spec(directory: Path) -> OpenLineageSpec:
    """Read ``OpenLineage.json`` and ``facets/*.json`` and register them under their ``$id``.

    Raises:
        FileNotFoundError: if ``OpenLineage.json`` is missing.
        ValueError: if a file has no ``$id`` or two files share one.
    """
    main = directory / "OpenLineage.json"
    if not main.is_file():
        raise FileNotFoundError(f"{main}: OpenLineage spec not found")
    documents: dict[str, Mapping[str, Any]] = {}
    for path in [main, *sorted((directory / "facets").glob("*.json"))]:
        contents = json.loads(path.read_text(encoding="utf-8"))
        schema_id = contents.get("$id")
        if not schema_id:
            raise ValueError(f"{path}: no $id")
        if schema_id in documents:
            raise ValueError(f"{path}: duplicate $id {schema_id}")
        documents[schema_id] = contents
    registry: Registry[Any] = Registry().with_resources(
        (schema_id, Resource.from_contents(contents)) for schema_id, contents in documents.items()
    )
    event_id = json.loads(main.read_text(encoding="utf-8"))["$id"]
    return OpenLineageSpec(directory, documents, registry, event_id)


def _format_checker() -> FormatChecker:
    """Strict checkers for the formats the OpenLineage schemas use."""
    checker = FormatChecker(formats=())

    @checker.checks("uuid")
    def _uuid(value: object) -> bool:
        if not isinstance(value, str):
            return True
        try:
            return str(uuid.UUID(value)) == value.lower() and len(value) == 36
        except ValueError:
            return False

    @checker.checks("date-time")
    def _date_time(value: object) -> bool:
        # RFC 3339: a full date, "T", a time and an offset ("Z" or +hh:mm).
        if not isinstance(value, str):
            return True
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return False
        return len(value) >= 20 and value[10] in "Tt" and parsed.tzinfo is not None

    @checker.checks("uri")
    def _uri(value: object) -> bool:
        if not isinstance(value, str):
            return True
        parts = urlsplit(value)
        return bool(parts.scheme) and bool(parts.netloc or parts.path) and " " not in value

    return checker


def _refs(node: Any) -> Iterator[str]:
    """Every ``$ref`` string inside a schema fragment."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


class OpenLineageValidator:
    """Checks events and all their facets against the spec; call it to assert validity.

    Args:
        spec: the loaded spec.
        slips: (container, definition) pairs tolerated despite a base mismatch.
    """

    def __init__(self, spec: OpenLineageSpec, slips: frozenset[tuple[str, str]] = KNOWN_SPEC_SLIPS):
        self.spec = spec
        self.slips = slips
        self.format_checker = _format_checker()
        self._validators: dict[str, Draft202012Validator] = {}

    def validator(self, url: str) -> Draft202012Validator:
        """A (cached) validator for the schema at ``url`` (``$id#/pointer``)."""
        v = self._validators.get(url)
        if v is None:
            v = Draft202012Validator(
                {"$ref": url}, registry=self.spec.registry, format_checker=self.format_checker
            )
            self._validators[url] = v
        return v

    def __call__(self, event: Mapping[str, Any]) -> None:
        """Assert that an event and its facets are valid.

        Raises:
            AssertionError: listing every problem found.
        """
        problems = self.errors(event)
        if problems:
            raise AssertionError(
                f"invalid OpenLineage event ({len(problems)} problems):\n  " + "\n  ".join(problems)
            )

    def errors(self, event: Mapping[str, Any]) -> list[str]:
        """Every problem of an event and its facets, as readable strings (empty if valid)."""
        out = [
            f"event: {_where(e.absolute_path)}: {e.message}"
            for e in self.validator(self.spec.event_schema_id).iter_errors(event)
        ]
        schema_url = event.get("schemaURL")
        if isinstance(schema_url, str):
            try:
                self.spec.resolve(schema_url)
            except (KeyError, TypeError):
                out.append(f"schemaURL: {schema_url!r} does not resolve in the spec")
            else:
                out += [
                    f"event ({schema_url}): {_where(e.absolute_path)}: {e.message}"
                    for e in self.validator(schema_url).iter_errors(event)
                ]
        for path, container, key, facet in _facets(event):
            out += self.facet_errors(path, container, key, facet)
        return out

    def facet_errors(self, path: str, container: str, key: str, facet: Any) -> list[str]:
        """Problems of one facet: its own schema, its key, and its base vs. its container."""
        where = f"{path}.{key}"
        if not isinstance(facet, Mapping):
            return [f"{where}: not an object"]
        url = facet.get("_schemaURL")
        if not isinstance(url, str):
            return [f"{where}: no _schemaURL"]
        base, _, pointer = url.partition("#")
        try:
            definition = self.spec.resolve(url)
        except (KeyError, TypeError):
            return [f"{where}: _schemaURL {url!r} does not resolve in the local spec"]
        out = [
            f"{where} ({url}): {_where(e.absolute_path)}: {e.message}"
            for e in self.validator(url).iter_errors(facet)
        ]
        declared = self.spec.documents[base].get("properties", {})
        if key not in declared or f"#{pointer}" not in set(_refs(declared[key])):
            keys = [k for k, v in declared.items() if f"#{pointer}" in set(_refs(v))]
            out.append(
                f"{where}: {pointer.rsplit('/', 1)[-1]} facets are keyed {keys}, not {key!r}"
            )
        name = pointer.rsplit("/", 1)[-1]
        expected = CONTAINER_BASES[container]
        bases = [
            part["$ref"].rsplit("/", 1)[-1]
            for part in definition.get("allOf", [])
            if isinstance(part, Mapping) and isinstance(part.get("$ref"), str)
        ]
        if expected not in bases and (container, name) not in self.slips:
            out.append(
                f"{where}: {name} extends {bases}; a facet under {container!r} must extend "
                f"{expected}"
            )
        return out


def _where(path: Any) -> str:
    return "/".join(str(p) for p in path) or "<root>"


def _facets(event: Mapping[str, Any]) -> Iterator[tuple[str, str, str, Any]]:
    """(path, container kind, key, facet) of every facet in a run event."""
    for section, container in (("run", "run"), ("job", "job")):
        node = event.get(section)
        facets = node.get("facets") if isinstance(node, Mapping) else None
        if isinstance(facets, Mapping):
            for key, facet in facets.items():
                yield f"{section}.facets", container, key, facet
    for side, special in (("inputs", "inputFacets"), ("outputs", "outputFacets")):
        datasets = event.get(side)
        if not isinstance(datasets, list):
            continue
        for i, ds in enumerate(datasets):
            if not isinstance(ds, Mapping):
                continue
            for field in ("facets", special):
                facets = ds.get(field)
                if isinstance(facets, Mapping):
                    for key, facet in facets.items():
                        yield f"{side}[{i}].{field}", field, key, facet


@pytest.fixture(scope="session", name="openlineage_spec")
def openlineage_spec_fixture() -> OpenLineageSpec:
    """The OpenLineage JSON Schemas from ``shared/openlineage-spec`` (skips if absent)."""
    directory = default_spec_dir()
    if not (directory / "OpenLineage.json").is_file():
        pytest.skip(
            f"OpenLineage spec not found at {directory} (expected the shared/openlineage-spec "
            f"folder beside the repository root, or ${SPEC_DIR_ENV})"
        )
    return load_spec(directory)


@pytest.fixture(scope="session", name="openlineage_validator")
def openlineage_validator_fixture(openlineage_spec: OpenLineageSpec) -> OpenLineageValidator:
    """``validate(event)``: asserts that an event and every facet in it match the spec."""
    return OpenLineageValidator(openlineage_spec)
