"""Load scenario and pipeline files into frozen, validated specs.

A scenario reference is a registered name (``sc0001`` → ``scenarios/sc0001.yaml``) or a path to a
YAML file. A scenario's ``pipeline:`` field is a topology name (a file
``scenarios/pipelines/<name>.yaml``), a path relative to the scenario file, or
``generated:<n_assets>:<seed>``.

Every problem with a file becomes one :class:`ScenarioError` whose message is a single line naming
the file, the field path (``faults[0].rate_per_day``) and what was expected. Parsed files are cached
by (resolved path, mtime, size), so loading the same file twice is cheap and an edited file is
re-read.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import json
import re
import types
import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from scenarios.spec import PipelineSpec, Scenario, ScenarioSpec

SCENARIOS_DIR = Path(__file__).resolve().parent
"""Where registered scenario files (``<name>.yaml``) live."""
PIPELINES_DIR = SCENARIOS_DIR / "pipelines"
"""Where registered topology files (``<name>.yaml``) live."""

_GENERATED = "generated:"
_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]*$")
_FIELD_PREFIX_RE = re.compile(r"^([A-Za-z_][\w.\[\]]*): (.*)$", re.DOTALL)


class ScenarioError(ValueError):
    """A scenario or pipeline file (or reference) is invalid.

    The message is one line: ``<file>: <field path>: <problem>; expected <what>``.

    Attributes:
        file: the offending file (or the reference that could not be resolved).
        field: the field path inside the file, e.g. ``assets[3].upstream``; empty if none applies.
        problem: what is wrong and what was expected.
    """

    def __init__(self, file: str | Path, field: str, problem: str) -> None:
        self.file = str(file)
        self.field = field
        self.problem = problem
        where = f"{self.file}: {field}" if field else self.file
        super().__init__(" ".join(f"{where}: {problem}".split()))


def yaml_stems(directory: Path) -> list[str]:
    """Sorted names of the ``*.yaml`` files in ``directory`` (without the suffix)."""
    return sorted(p.stem for p in directory.glob("*.yaml") if p.is_file())


def load_scenario(ref: str | Path) -> Scenario:
    """Load a scenario by registered name or path, with its resolved pipeline.

    Args:
        ref: a registered scenario name (see ``scenarios.registry.scenario_names``) or a path to a
            scenario YAML file.

    Returns:
        The validated scenario; ``name`` is the registered name or the file's stem.

    Raises:
        ScenarioError: the reference, the scenario file or its pipeline is invalid.
    """
    path, name = _resolve_scenario_ref(ref)
    spec = _scenario_spec_cached(*_cache_key(path, what="scenario"))
    pipeline = _resolve_pipeline(spec.pipeline, path)
    try:
        return Scenario(name=name, spec=spec, pipeline=pipeline, source=str(path))
    except ValidationError as err:
        raise _from_validation(path, err, ScenarioSpec) from err


def scenario_reference(scenario: Scenario) -> str:
    """How to load ``scenario`` again from anywhere: its registered name, or its file's path.

    A registered scenario is its name (``sc0001``); a scenario loaded from a file is that file's
    absolute path (a file's stem is not a name: ``my.yaml`` is not the registered ``my``, and a
    copy of ``sc0001.yaml`` elsewhere is not ``sc0001``). ``load_scenario`` of the reference
    gives the same scenario (while the file is unchanged: see ``scenario_sha256``).
    """
    if not scenario.source:
        return scenario.name
    source = Path(scenario.source).resolve()
    if source == (SCENARIOS_DIR / f"{scenario.name}.yaml").resolve():
        return scenario.name
    return str(source)


def scenario_sha256(scenario: Scenario) -> str:
    """sha256 of what the scenario resolves to: its spec and its topology, canonical JSON.

    A changed scenario or topology file changes it (a comment or a reformatting does not), so a
    run or a policy recorded with it notices that the file it names is no longer the one used.
    """
    payload = {
        "spec": scenario.spec.model_dump(mode="json"),
        "pipeline": scenario.pipeline.model_dump(mode="json"),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def load_pipeline(ref: str | Path) -> PipelineSpec:
    """Load a topology by registered name, path or ``generated:<n_assets>:<seed>``.

    Args:
        ref: a name of a file in ``scenarios/pipelines/``, a path to a pipeline YAML file, or
            ``generated:<n_assets>:<seed>`` for a generated topology.

    Returns:
        The validated pipeline.

    Raises:
        ScenarioError: the reference or the pipeline file is invalid.
    """
    if isinstance(ref, str) and ref.startswith(_GENERATED):
        return _generated(ref, file=ref, field="")
    if isinstance(ref, str) and _NAME_RE.match(ref) and (PIPELINES_DIR / f"{ref}.yaml").is_file():
        return _pipeline_cached(*_cache_key(PIPELINES_DIR / f"{ref}.yaml", what="pipeline"))
    path = Path(ref).expanduser()
    if not path.is_file() and isinstance(ref, str) and _NAME_RE.match(ref):
        raise ScenarioError(
            PIPELINES_DIR / f"{ref}.yaml",
            "",
            f"unknown topology name {ref!r}{_suggest(ref, yaml_stems(PIPELINES_DIR))}; "
            f"expected a path to a pipeline YAML file, generated:<n_assets>:<seed>, or one of: "
            f"{', '.join(yaml_stems(PIPELINES_DIR))}",
        )
    return _pipeline_cached(*_cache_key(path, what="pipeline"))


# --- resolution -----------------------------------------------------------------------------


def _resolve_scenario_ref(ref: str | Path) -> tuple[Path, str]:
    """Return (resolved path, scenario name) for a name or a path."""
    if isinstance(ref, str) and _NAME_RE.match(ref):
        registered = SCENARIOS_DIR / f"{ref}.yaml"
        if registered.is_file():
            return registered, ref
        if not Path(ref).is_file():
            names = yaml_stems(SCENARIOS_DIR)
            raise ScenarioError(
                registered,
                "",
                f"unknown scenario name {ref!r}{_suggest(ref, names)}; expected a path to a "
                f"scenario YAML file or one of: {', '.join(names)}",
            )
    path = Path(ref).expanduser().resolve()
    return path, path.stem


def _resolve_pipeline(ref: str, scenario_path: Path) -> PipelineSpec:
    """Resolve a scenario's ``pipeline:`` field relative to the scenario file."""
    if ref.startswith(_GENERATED):
        return _generated(ref, file=scenario_path, field="pipeline")
    looks_like_path = "/" in ref or "\\" in ref or ref.endswith((".yaml", ".yml"))
    if looks_like_path:
        path = (scenario_path.parent / Path(ref).expanduser()).resolve()
    else:
        path = PIPELINES_DIR / f"{ref}.yaml"
    if not path.is_file():
        names = yaml_stems(PIPELINES_DIR)
        hint = "" if looks_like_path else _suggest(ref, names)
        raise ScenarioError(
            scenario_path,
            "pipeline",
            f"topology {ref!r} not found (no file {path}){hint}; expected a topology name "
            f"({', '.join(names)}), a path relative to the scenario file, or "
            "generated:<n_assets>:<seed>",
        )
    try:
        return _pipeline_cached(*_cache_key(path, what="pipeline"))
    except ScenarioError as err:
        context = f"(topology {ref!r} of scenario {scenario_path})"
        raise ScenarioError(err.file, err.field, f"{err.problem} {context}") from err


def _generated(ref: str, *, file: str | Path, field: str) -> PipelineSpec:
    """Build the pipeline for ``generated:<n_assets>:<seed>``."""
    match = re.fullmatch(r"generated:(\d+):(\d+)", ref.strip())
    if match is None:
        raise ScenarioError(
            file,
            field,
            f"malformed generated topology {ref!r}; expected generated:<n_assets>:<seed> with "
            "non-negative integers, e.g. generated:100:0",
        )
    try:
        return _generated_cached(int(match[1]), int(match[2]))
    except ValueError as err:
        raise ScenarioError(file, field, f"invalid generated topology {ref!r}: {err}") from err


@functools.lru_cache(maxsize=32)
def _generated_cached(n_assets: int, seed: int) -> PipelineSpec:
    # Imported lazily: the generator needs numpy, and importing scenarios must stay light.
    from scenarios.generate import generate_pipeline

    return generate_pipeline(n_assets, seed)


def _suggest(word: str, options: list[str]) -> str:
    """Return ``" (did you mean 'x'?)"`` for a close match, else ``""``."""
    close = difflib.get_close_matches(word, options, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


# --- cached file loading ----------------------------------------------------------------------


def _cache_key(path: Path, *, what: str) -> tuple[str, int, int]:
    """Return (resolved path, mtime_ns, size), or raise ScenarioError if there is no such file."""
    resolved = path.resolve()
    try:
        stat = resolved.stat()
    except FileNotFoundError:
        raise ScenarioError(
            resolved, "", f"{what} file not found; expected an existing YAML file"
        ) from None
    except OSError as err:
        raise ScenarioError(resolved, "", f"cannot read {what} file ({err.strerror})") from err
    if not resolved.is_file():
        raise ScenarioError(resolved, "", f"not a file; expected a {what} YAML file")
    return str(resolved), stat.st_mtime_ns, stat.st_size


@functools.lru_cache(maxsize=128)
def _scenario_spec_cached(path: str, mtime_ns: int, size: int) -> ScenarioSpec:
    data = _read_mapping(Path(path), ScenarioSpec)
    try:
        return ScenarioSpec.model_validate(data)
    except ValidationError as err:
        raise _from_validation(path, err, ScenarioSpec) from err


@functools.lru_cache(maxsize=128)
def _pipeline_cached(path: str, mtime_ns: int, size: int) -> PipelineSpec:
    data = _read_mapping(Path(path), PipelineSpec)
    try:
        return PipelineSpec.model_validate(data)
    except ValidationError as err:
        raise _from_validation(path, err, PipelineSpec) from err


class _StrictSafeLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that rejects duplicate keys instead of keeping the last one silently."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, str) and key in seen:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"duplicate key {key!r}; expected each key once",
                    key_node.start_mark,
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _read_mapping(path: Path, model: type[BaseModel]) -> dict[str, Any]:
    """Parse a YAML file that must hold one mapping."""
    fields = ", ".join(model.model_fields)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ScenarioError(
            path, "", f"cannot read file ({err}); expected a UTF-8 YAML file"
        ) from err
    try:
        # safe_load semantics (a SafeLoader subclass) plus duplicate-key detection.
        data = yaml.load(text, Loader=_StrictSafeLoader)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = "; ".join(p for p in (err.context, err.problem) if p)
        raise ScenarioError(path, where, f"invalid YAML: {problem}") from err
    except yaml.YAMLError as err:
        raise ScenarioError(path, "", f"invalid YAML: {err}") from err
    if data is None:
        raise ScenarioError(path, "", f"file is empty; expected a YAML mapping with keys {fields}")
    if not isinstance(data, dict):
        raise ScenarioError(
            path, "", f"top level is a {type(data).__name__}; expected a mapping with keys {fields}"
        )
    return data


# --- pydantic errors to one line ---------------------------------------------------------------


def _from_validation(
    file: str | Path, err: ValidationError, model: type[BaseModel]
) -> ScenarioError:
    """Turn every error of a ValidationError into one one-line ScenarioError.

    The first error (an unknown field first: a misspelt key says more than the missing one it
    causes) gives the field and problem; the others follow on the same line as
    ``; also <field>: <problem>``. A required field reported missing because its misspelt key was
    found is not repeated.
    """
    errors = err.errors(include_url=False)
    errors = sorted(errors, key=lambda e: e["type"] != "extra_forbidden")  # stable: file order
    unknown = {
        (tuple(e["loc"][:-1]), str(e["loc"][-1])) for e in errors if e["type"] == "extra_forbidden"
    }
    described = []
    for e in errors:
        loc = tuple(e["loc"])
        if (
            e["type"] == "missing"
            and loc
            and any(
                parent == loc[:-1] and difflib.get_close_matches(str(loc[-1]), [key], n=1)
                for parent, key in unknown
            )
        ):
            continue
        described.append(_describe(e, model))
    field, problem = described[0]
    for other_field, other_problem in described[1:]:
        problem += f"; also {other_field or '<top level>'}: {other_problem}"
    return ScenarioError(file, field or "<top level>", problem)


def _describe(error: Any, model: type[BaseModel]) -> tuple[str, str]:
    """The field path and the problem of one pydantic error."""
    loc = tuple(error["loc"])
    field = _loc_path(loc)
    kind = error["type"]
    if kind in ("value_error", "assertion_error"):
        text = str(error["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
        match = _FIELD_PREFIX_RE.match(text)
        if match:
            field = f"{field}.{match[1]}" if field else match[1]
            text = match[2]
        return field, text
    if kind == "extra_forbidden":
        allowed = list(_model_at(model, loc[:-1]) or ())
        return field, (
            f"unknown field {loc[-1]!r}{_suggest(str(loc[-1]), allowed)}; "
            f"expected one of: {', '.join(allowed)}"
        )
    if kind == "missing":
        return field, "required field is missing; expected a value"
    msg = str(error["msg"])
    for old, new in (("Input should be ", "expected "), ("String should ", "expected to ")):
        msg = msg.replace(old, new, 1) if msg.startswith(old) else msg
    return field, f"{msg}; got {_short(error.get('input'))}"


def _loc_path(loc: tuple[int | str, ...]) -> str:
    """Format ``('assets', 3, 'upstream')`` as ``assets[3].upstream``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part == "[key]":
            out += " (key)"
        else:
            out += f".{part}" if out else str(part)
    return out


def _model_at(model: type[BaseModel], loc: tuple[int | str, ...]) -> dict[str, Any] | None:
    """Return the fields of the model found by following ``loc`` from ``model``, if any."""
    current: type[BaseModel] | None = model
    for part in loc:
        if isinstance(part, int):
            continue
        if current is None or part not in current.model_fields:
            return None
        current = _find_model(current.model_fields[part].annotation)
    return dict(current.model_fields) if current is not None else None


def _find_model(annotation: Any) -> type[BaseModel] | None:
    """Find the pydantic model inside an annotation such as ``tuple[CheckSpec, ...] | None``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    args = typing.get_args(annotation)
    if isinstance(annotation, types.UnionType) or args:
        for arg in args:
            found = _find_model(arg)
            if found is not None:
                return found
    return None


def _short(value: Any, limit: int = 60) -> str:
    """A one-line repr of ``value`` cut to ``limit`` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
