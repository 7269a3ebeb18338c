"""The benchmark's result files: one schema-versioned JSON per (agent, role, scenario, seed).

Layout (scripts rely on it)::

    <results>/<protocol>/<role>/<scenario>/<kind>/<agent>/<training seed>.json

with ``kind`` one of ``KINDS``. A file is a ``Result`` (pydantic, ``extra="forbid"``):

==================  ================================================================================
field               meaning
==================  ================================================================================
schema_version      ``SCHEMA_VERSION``; a reader refuses another
protocol            the protocol's name and the sha256 of its file (``experiments.protocol``)
role, kind          the role played; ``baseline``, ``org``, ``learned`` or ``submission``
agent               the agent spec evaluated (``baseline:rules``, ``onnx:<dir>`` ...), its name in
                    the layout, and what pins it (the ONNX file's sha256, the SB3 zip's sha256)
scenario            the scenario's name, how to load it again, and its sha256
                    (``scenarios.scenario_sha256``)
env                 the environment id, the horizon override (``days``; None: the full horizon)
                    and the reward weights
training_seed       the entry's training seed (a baseline's or organization's: 0)
split, salt_sha256  ``dev`` or ``test``; for test, sha256 of the salt that chose the seeds
training_seconds    a learned policy's wall-clock training time as its card or ``run.json``
                    records it (None: not recorded, a baseline or an organization)
training_timesteps  its training budget in env steps, likewise (None: not recorded)
inference_us        mean wall-clock microseconds the agent took per decision in this evaluation
                    (None for an organization); measured, machine-dependent and not replayed
episodes            one ``Episode`` per evaluation seed, in order
==================  ================================================================================

An ``Episode`` holds the return (None for an organization, which plays no role's reward), the
reward terms (per term, the sum over steps of weight × term), the number of steps, the
scorecard metrics of the episode (``agents.scoring.scorecard``, NaN as None) and a ``Replay``:
the scenario sha256, the episode seed, the action log (one entry per step: an int for triage, a
list of ints for sla and cost; empty for an organization) and the digest of the episode's event
log (``experiments.replay.event_digest``). Replaying it re-derives the return and the digest
(``experiments.verify``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from experiments.errors import UsageError

SCHEMA_VERSION: Final = 1
"""Version of the result schema; a change of any field's meaning is a new version."""
KINDS: Final[tuple[str, ...]] = ("baseline", "org", "learned", "submission")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")
Action = int | list[int]


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ProtocolRef(_Record):
    """Which protocol a result was produced under."""

    name: str
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class AgentRef(_Record):
    """The agent evaluated.

    Attributes:
        spec: the ``agent=`` value (``baseline:rules``, ``onnx:<dir>``, ``sb3:<zip>``,
            ``org:rules``).
        name: its name in the layout (the ``<agent>`` directory).
        sha256: sha256 of the file evaluated (the ONNX graph, the SB3 zip), None for code.
        details: what else identifies it (an ONNX card's algo, env id and training run ...).
    """

    spec: str
    name: Annotated[str, Field(pattern=_NAME.pattern)]
    sha256: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)


class ScenarioRef(_Record):
    """The scenario: its name, how to load it again and the sha256 of what it resolves to."""

    name: str
    reference: str
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class EnvRef(_Record):
    """How the episodes were run: the env id, the horizon override, the reward weights."""

    id: str
    days: float | None = None
    reward_weights: dict[str, float] = Field(default_factory=dict)


class Replay(_Record):
    """What re-derives an episode: scenario, seed and action log give the event log's digest."""

    scenario_sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    episode_seed: int
    actions: list[Action]
    event_digest: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class Episode(_Record):
    """One evaluation episode (see the module docstring)."""

    seed: int
    return_: float | None = Field(alias="return")
    reward_terms: dict[str, float]
    steps: int
    metrics: dict[str, float | None]
    replay: Replay

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Result(_Record):
    """One result file (see the module docstring)."""

    schema_version: Literal[1] = SCHEMA_VERSION
    protocol: ProtocolRef
    role: Literal["triage", "sla", "cost"]
    kind: Literal["baseline", "org", "learned", "submission"]
    agent: AgentRef
    scenario: ScenarioRef
    env: EnvRef
    training_seed: Annotated[int, Field(ge=0)]
    split: Literal["dev", "test"]
    salt_sha256: str | None = None
    deterministic: bool = True
    training_seconds: Annotated[float, Field(ge=0)] | None = None
    training_timesteps: Annotated[int, Field(gt=0)] | None = None
    inference_us: Annotated[float, Field(ge=0)] | None = None
    episodes: Annotated[list[Episode], Field(min_length=1)]

    @property
    def mean_return(self) -> float | None:
        """The mean episode return (None for an organization)."""
        rets = [e.return_ for e in self.episodes]
        if any(r is None for r in rets):
            return None
        return sum(r for r in rets if r is not None) / len(rets)

    def dumps(self) -> str:
        """The file's text: JSON in schema order, floats exact (``repr``), an episode per line."""
        data = self.model_dump(mode="json", by_alias=True)
        episodes = data.pop("episodes")
        head = json.dumps(data, indent=1)
        rows = ",\n  ".join(json.dumps(e, separators=(",", ":")) for e in episodes)
        return f'{head[:-2]},\n "episodes": [\n  {rows}\n ]\n}}\n'


def cwd_relative(path: str | Path) -> str | None:
    """``path`` relative to the working directory (POSIX form), or None if it lies outside it.

    Results and views are written from the repository root and committed: a file they name under
    it is named relative to it, so that no machine's path ends up in a committed file.
    """
    try:
        return Path(path).resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return None


def check_name(key: str, name: str) -> str:
    """A name usable as a directory of the layout, or a ``UsageError`` naming ``key``."""
    if not _NAME.match(name):
        raise UsageError(
            f"{key}={name!r}: expected a name of letters, digits and _.+- (a directory of the "
            "results layout)"
        )
    return name


def layout_path(
    root: Path, protocol: str, role: str, scenario: str, kind: str, agent: str, seed: int
) -> Path:
    """``<root>/<protocol>/<role>/<scenario>/<kind>/<agent>/<seed>.json``."""
    return root / protocol / role / scenario / kind / agent / f"{seed}.json"


def result_path(root: Path, result: Result) -> Path:
    """Where ``result`` goes under ``root`` (the layout of the module docstring)."""
    return layout_path(
        root, result.protocol.name, result.role, result.scenario.name, result.kind,
        result.agent.name, result.training_seed,
    )  # fmt: skip


def read_result(path: Path) -> Result:
    """Read and validate a result file.

    Raises:
        UsageError: not JSON, another schema version, or a field that does not validate (one
            line naming the file and the field).
    """
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UsageError(f"{path}: not a readable JSON result ({e})") from None
    if isinstance(raw, dict) and raw.get("schema_version") != SCHEMA_VERSION:
        raise UsageError(
            f"{path}: schema_version {raw.get('schema_version')!r}; expected {SCHEMA_VERSION}"
        )
    try:
        return Result.model_validate(raw)
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(map(str, err["loc"])) or "file"
        raise UsageError(f"{path}: invalid result: {where}: {err['msg']}") from None


def result_files(root: Path) -> list[Path]:
    """Every result file under ``root`` (``*.json`` at the layout's depth), sorted."""
    return sorted(p for p in root.glob("*/*/*/*/*/*.json") if p.is_file())


def check_results_dir(root: Path, protocol: str, sha256: str) -> None:
    """Refuse a results directory whose ``<protocol>/`` holds files of another protocol file.

    Raises:
        UsageError: naming the first file whose protocol name or sha256 differs.
    """
    if root.exists() and not root.is_dir():
        raise UsageError(f"results={str(root)!r}: not a directory")
    for path in sorted((root / protocol).glob("*/*/*/*/*.json")):
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            ref = raw["protocol"]
            name, sha = ref["name"], ref["sha256"]
        except (OSError, ValueError, KeyError, TypeError):
            raise UsageError(
                f"results={str(root)!r}: {path} is not a result file; expected only results "
                f"of protocol {protocol} under {root / protocol}"
            ) from None
        if name != protocol or sha != sha256:
            raise UsageError(
                f"results={str(root)!r}: {path} was produced under protocol {name} "
                f"(sha256 {str(sha)[:12]}…), not this {protocol} file ({sha256[:12]}…); "
                "expected a results directory of this protocol only"
            )


def check_target(root: Path, path: Path, split: str) -> None:
    """Refuse to overwrite a result of the other split at ``path`` (a ``UsageError``).

    Re-evaluating the same split replaces the file; dev and test results of one agent go to
    different results directories.
    """
    if not path.is_file():
        return
    try:
        other = json.loads(path.read_text(encoding="utf-8")).get("split")
    except (OSError, ValueError, AttributeError):
        other = None
    if other is not None and other != split:
        raise UsageError(
            f"results={str(root)!r}: {path} holds this agent's {other} result; expected a "
            f"results directory without it for split {split} (pass results=<dir>)"
        )


def write_result(root: Path, result: Result) -> Path:
    """Write ``result`` under ``root`` (atomically: a temporary file, then a rename).

    Raises:
        UsageError: the place holds a result of the other split (``check_target``).
    """
    path = result_path(root, result)
    check_target(root, path, result.split)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.part")
    tmp.write_text(result.dumps(), encoding="utf-8")
    tmp.replace(path)
    return path
