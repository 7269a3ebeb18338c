"""The benchmark protocol: a frozen, versioned file that fixes what a board entry is scored on.

``load_protocol("v1")`` reads ``configs/protocol/v1.yaml``, validates it (``Protocol``, pydantic,
unknown keys refused) and keeps the sha256 of its bytes, which every result records
(``experiments.results``). A protocol file never changes: a change is a new version (``v2.yaml``).

=========================  =====================================================================
field (per role)           meaning
=========================  =====================================================================
scenarios                  the scenarios an entry is trained and scored on (registered names)
generalization             scenarios scored without training on them (``mixed``, a second
                           topology)
training_budget_env_steps  environment steps per training seed
training_seeds             the training seeds of one entry (at least 5, distinct)
eval_episodes              evaluation episodes per scenario, in each of the dev and test sets
                           (at least 30)
=========================  =====================================================================

Evaluation seeds (``eval_seeds``) come from a scenario's eval split, which never overlaps its
train split (``scenarios.spec.SeedSplit``; the environments draw training episodes from the train
split unless told otherwise, ``envs.base.DataOpsEnv``):

- **dev** (public): the first ``eval_episodes`` seeds of the eval split;
- **test** (hidden): ``eval_episodes`` seeds of the rest of the eval split — those with the
  smallest ``sha256("<salt>|<scenario name>|<seed>")`` — for a salt given at evaluation time
  (``protocol.salt=<secret>`` or ``DATAOPS_GYM_SALT``; ``resolve_salt``). Without the salt the
  test seeds cannot be known in advance; a result records only the salt's own sha256.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Annotated, Final

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from experiments.errors import UsageError
from scenarios.spec import Scenario

PROTOCOL_DIR: Final[Path] = Path(__file__).resolve().parents[1] / "configs" / "protocol"
"""Where protocol files live: ``<name>.yaml``."""
SPLITS: Final[tuple[str, ...]] = ("dev", "test")
"""The evaluation sets of a protocol."""
SALT_ENV: Final[str] = "DATAOPS_GYM_SALT"
"""The environment variable holding the test set's salt when ``protocol.salt`` is not given."""
ROLES: Final[tuple[str, ...]] = ("triage", "sla", "cost")


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RoleProtocol(_Frozen):
    """What one role's entries are trained and scored on (see the module docstring)."""

    scenarios: Annotated[tuple[str, ...], Field(min_length=1)]
    generalization: tuple[str, ...] = ()
    training_budget_env_steps: Annotated[int, Field(gt=0)]
    training_seeds: Annotated[tuple[int, ...], Field(min_length=5)]
    eval_episodes: Annotated[int, Field(ge=30)]

    @field_validator("training_seeds")
    @classmethod
    def _distinct(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if len(set(v)) != len(v) or min(v) < 0:
            raise ValueError(f"expected distinct non-negative seeds, got {list(v)}")
        return v

    @property
    def all_scenarios(self) -> tuple[str, ...]:
        """The scored scenarios, then the generalization ones."""
        return (*self.scenarios, *self.generalization)


class Protocol(_Frozen):
    """A protocol file (``configs/protocol/<name>.yaml``).

    Attributes:
        name: the protocol's name, equal to its file's stem (``v1``).
        roles: per role (triage, sla, cost, all three), what its entries are scored on.
        deterministic_actions: evaluation takes each policy's deterministic action.
        full_horizon: every evaluation episode runs to the scenario's horizon.
        sha256: sha256 of the file's bytes (set by ``load_protocol``; not a field of the file).
    """

    name: Annotated[str, Field(pattern=r"^v\d+$")]
    roles: dict[str, RoleProtocol]
    deterministic_actions: bool
    full_horizon: bool
    sha256: Annotated[str, Field(exclude=True)] = ""

    @field_validator("roles")
    @classmethod
    def _every_role(cls, v: dict[str, RoleProtocol]) -> dict[str, RoleProtocol]:
        if sorted(v) != sorted(ROLES):
            raise ValueError(f"expected exactly the roles {', '.join(ROLES)}, got {sorted(v)}")
        return v

    def role(self, role: str) -> RoleProtocol:
        """The protocol of ``role``, or a ``UsageError`` naming the valid roles."""
        if role not in self.roles:
            raise UsageError(f"role: unknown role {role!r}; expected one of {', '.join(ROLES)}")
        return self.roles[role]


def protocol_names() -> list[str]:
    """The protocols that exist (the stems of ``configs/protocol/*.yaml``)."""
    return sorted(p.stem for p in PROTOCOL_DIR.glob("*.yaml"))


def protocol_path(name: str) -> Path:
    """The file of protocol ``name``, or a ``UsageError`` listing the protocols that exist."""
    path = PROTOCOL_DIR / f"{name}.yaml"
    if "/" in name or not path.is_file():
        raise UsageError(
            f"protocol: unknown protocol {name!r}; expected one of {', '.join(protocol_names())}"
        )
    return path


def check_protocol_args(argv: list[str]) -> None:
    """Refuse a ``protocol=<name>`` override of a protocol that does not exist (``UsageError``).

    Entry points call it before Hydra starts: ``protocol`` is a config group (``configs/protocol``)
    and Hydra's own error for a missing option is many lines. A sweep's comma-separated names are
    each checked.
    """
    for arg in argv:
        key, _, value = arg.lstrip("+~").partition("=")
        if key == "protocol":
            for v in value.split(","):
                protocol_path(v)


def load_protocol(name: str) -> Protocol:
    """Load and validate protocol ``name`` (``v1``), with the sha256 of its file.

    Raises:
        UsageError: no such protocol, or a file that does not validate (naming the field).
    """
    path = protocol_path(name)
    data = path.read_bytes()
    try:
        raw = yaml.safe_load(data)
        proto = Protocol.model_validate(raw)
    except yaml.YAMLError as e:
        raise UsageError(f"protocol: {path.name} is not YAML ({e})") from None
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(map(str, err["loc"])) or "file"
        raise UsageError(f"protocol: {path.name}: {where}: {err['msg']}") from None
    if proto.name != name:
        raise UsageError(f"protocol: {path.name} names itself {proto.name!r}; expected {name!r}")
    return proto.model_copy(update={"sha256": hashlib.sha256(data).hexdigest()})


def resolve_salt(given: str | None) -> str | None:
    """The test set's salt: ``given`` (``protocol.salt=``), else ``$DATAOPS_GYM_SALT``, or None."""
    if given not in (None, ""):
        return str(given)
    env = os.environ.get(SALT_ENV, "")
    return env or None


def salt_sha256(salt: str) -> str:
    """sha256 of a salt: what a result records instead of the salt itself."""
    return hashlib.sha256(salt.encode()).hexdigest()


def _rank(salt: str, scenario: str, seed: int) -> str:
    return hashlib.sha256(f"{salt}|{scenario}|{seed}".encode()).hexdigest()


def eval_seeds(scenario: Scenario, split: str, episodes: int, salt: str | None = None) -> list[int]:
    """The evaluation seeds of ``split`` (``dev`` or ``test``) on ``scenario``.

    Args:
        scenario: the scenario (its eval split and its name).
        split: ``dev`` (the first ``episodes`` eval seeds) or ``test`` (``episodes`` of the
            remaining eval seeds, chosen by ``salt``; see the module docstring).
        episodes: the protocol's ``eval_episodes``.
        salt: the test set's salt (required for ``test``).

    Returns:
        The seeds, in eval-split order for dev and in salted order for test.

    Raises:
        UsageError: an unknown split, a test split without a salt, or an eval split too small.
    """
    pool = list(scenario.spec.seeds.eval.seeds())
    if split not in SPLITS:
        raise UsageError(f"split: expected dev or test, got {split!r}")
    if len(pool) < 2 * episodes:
        raise UsageError(
            f"scenario: {scenario.name}'s eval split has {len(pool)} seeds; the protocol needs "
            f"at least {2 * episodes} ({episodes} dev + {episodes} test)"
        )
    if split == "dev":
        return pool[:episodes]
    if not salt:
        raise UsageError(
            f"protocol.salt: the test split needs a salt; pass protocol.salt=<secret> or set "
            f"{SALT_ENV}"
        )
    rest = pool[episodes:]
    return sorted(rest, key=lambda s: _rank(salt, scenario.name, s))[:episodes]
