"""The data access policy of the Analytics Support agent: role → datasets it may read.

A YAML file (default ``configs/access_policy.yaml``) checked by pydantic (``extra="forbid"``)::

    roles:
      finance:
        description: Finance analytics.
        datasets: [finance_daily_report, fct_sales]   # by asset name
      analyst:
        layers: [Warehouse, Delivery]                 # by data layer

A role not listed is refused. Each topology gets its own policy (``AccessPolicy.for_pipeline``):
retail the shipped ``configs/access_policy.yaml``, another topology that ships one
``configs/access_policies/<topology>.yaml`` (logistics does), and any other topology
``AccessPolicy.derived(pipeline)``, a default derived from its layers and owners (see there), so
Analytics Support runs on every topology. Every problem with the file is one
``AccessPolicyError`` naming the file, the field (``roles.finance.datasets[1]``) and what was
expected; duplicate keys are refused (a second entry for a role would silently replace the first),
and dataset names are checked against the topology when the agent starts (``check_datasets``), so a
typo is an error, never a silent refusal.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Collection
from pathlib import Path
from typing import Any, Final

import yaml
from pydantic import BaseModel, ConfigDict, PrivateAttr, ValidationError, model_validator

from scenarios.spec import PipelineSpec
from scenarios.vocab import LAYERS, Layer

DEFAULT_POLICY_PATH: Final = Path(__file__).resolve().parents[2] / "configs" / "access_policy.yaml"
"""Retail's policy (the default topology's), and the default of ``from_yaml``."""
POLICY_DIR: Final = Path(__file__).resolve().parents[2] / "configs" / "access_policies"
"""The policies of the other shipped topologies: ``<topology name>.yaml``."""


class AccessPolicyError(ValueError):
    """An access policy file is invalid: ``<file>: <field>: <problem>; expected <what>``.

    Attributes:
        file: the policy file; ``field`` the field path ("" if none applies); ``problem`` what is
            wrong and what was expected.
    """

    def __init__(self, file: str | Path, field: str, problem: str) -> None:
        self.file, self.field, self.problem = str(file), field, problem
        super().__init__(f"{self.file}: {field}: {problem}" if field else f"{file}: {problem}")


class RoleGrant(BaseModel):
    """What one role may read: datasets by name and whole layers (at least one of them)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    description: str = ""
    datasets: tuple[str, ...] = ()
    layers: tuple[Layer, ...] = ()

    @model_validator(mode="after")
    def _grants_something(self) -> RoleGrant:
        if not self.datasets and not self.layers:
            raise ValueError("grants nothing; expected at least one of datasets, layers")
        return self


class AccessPolicy(BaseModel):
    """Role → readable datasets; load a file with ``from_yaml``. Unknown roles are refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    roles: dict[str, RoleGrant]
    _source: str = PrivateAttr(default="<policy>")

    @classmethod
    def from_yaml(cls, path: str | Path = DEFAULT_POLICY_PATH) -> AccessPolicy:
        """Load and validate a policy file.

        A policy is frozen, so a file read once is served from memory until it changes on disk
        (keyed by path, modification time and size): every episode's organization loads it.

        Raises:
            AccessPolicyError: the file is missing, not YAML, or invalid.
        """
        path = Path(path)
        try:
            st = path.stat()
        except OSError as e:
            raise AccessPolicyError(path, "", f"cannot read file ({e.strerror})") from e
        return cls._load(str(path), st.st_mtime_ns, st.st_size)

    @classmethod
    @functools.lru_cache(maxsize=8)
    def _load(cls, name: str, _mtime_ns: int, _size: int) -> AccessPolicy:
        path = Path(name)
        try:
            data = yaml.load(path.read_text(encoding="utf-8"), Loader=_StrictLoader)
        except OSError as e:
            raise AccessPolicyError(path, "", f"cannot read file ({e.strerror})") from e
        except yaml.YAMLError as e:
            raise AccessPolicyError(path, "", f"invalid YAML: {' '.join(str(e).split())}") from e
        if not isinstance(data, dict):
            raise AccessPolicyError(path, "", "expected a mapping with the key 'roles'")
        try:
            policy = cls.model_validate(data)
        except ValidationError as e:
            err = e.errors()[0]
            loc = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"])
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                model = RoleGrant if len(err["loc"]) == 3 else cls
                msg = f"unknown field; expected one of {', '.join(model.model_fields)}"
            raise AccessPolicyError(path, loc.lstrip("."), msg) from e
        policy._source = str(path)
        return policy

    @classmethod
    def derived(cls, pipeline: PipelineSpec) -> AccessPolicy:
        """The default policy of a topology without its own: from its layers and owners.

        ================  ==========================================================
        role              may read
        ================  ==========================================================
        ``data_engineer``  every layer (they operate the pipeline)
        ``analyst``       the Warehouse and Delivery layers (the curated data)
        ``finance``       the Delivery layer (the data products built for consumers)
        ``marketing``     the Delivery layer
        ``<owner>``       one role per owning team: the datasets that team owns
        ================  ==========================================================

        Any other role (a contractor) is refused, as with the shipped file.
        """
        teams: dict[str, list[str]] = {}
        for a in pipeline.assets:
            teams.setdefault(a.owner, []).append(a.name)
        roles: dict[str, RoleGrant] = {
            "data_engineer": RoleGrant(description="Operates the pipeline.", layers=LAYERS),
            "analyst": RoleGrant(
                description="Reads the curated layers.", layers=("Warehouse", "Delivery")
            ),
            "finance": RoleGrant(description="Reads the data products.", layers=("Delivery",)),
            "marketing": RoleGrant(description="Reads the data products.", layers=("Delivery",)),
        }
        for team, names in sorted(teams.items()):
            roles.setdefault(
                team, RoleGrant(description=f"The {team} team's own datasets.", datasets=names)
            )
        policy = cls(roles=roles)
        policy._source = f"<derived from pipeline {pipeline.name}>"
        return policy

    @classmethod
    def for_pipeline(cls, pipeline: PipelineSpec) -> AccessPolicy:
        """The topology's own policy: its shipped file if it has one, else ``derived``.

        Retail's is ``configs/access_policy.yaml`` (``DEFAULT_POLICY_PATH``); another topology's
        is ``configs/access_policies/<name>.yaml`` (``POLICY_DIR``) when that file exists.
        """
        if pipeline.name == "retail":
            return cls.from_yaml()
        own = POLICY_DIR / f"{pipeline.name}.yaml"
        return cls.from_yaml(own) if own.is_file() else cls.derived(pipeline)

    def check_datasets(self, names: Collection[str]) -> None:
        """Check that every dataset granted by name is one of ``names`` (the topology's assets).

        Raises:
            AccessPolicyError: naming the first unknown dataset, with the closest match.
        """
        for role, grant in self.roles.items():
            for i, d in enumerate(grant.datasets):
                if d not in names:
                    close = difflib.get_close_matches(d, list(names), n=1)
                    hint = f" (did you mean {close[0]!r}?)" if close else ""
                    raise AccessPolicyError(
                        self._source,
                        f"roles.{role}.datasets[{i}]",
                        f"unknown dataset {d!r}{hint}; expected an asset of the topology",
                    )

    def decide(self, role: str, dataset: str, layer: str) -> tuple[bool, str]:
        """Whether ``role`` may read ``dataset`` (an asset on ``layer``), and why."""
        grant = self.roles.get(role)
        if grant is None:
            return False, f"unknown role {role!r}; known roles: {', '.join(sorted(self.roles))}"
        if dataset in grant.datasets:
            return True, f"role {role} is granted dataset {dataset}"
        if layer in grant.layers:
            return True, f"role {role} is granted the {layer} layer"
        scope = ", ".join([*grant.datasets, *(f"the {ly} layer" for ly in grant.layers)])
        return False, f"role {role} may read {scope}; not {dataset} ({layer})"


class _StrictLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses duplicate keys instead of keeping the last one."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        keys = [self.construct_object(k, deep=deep) for k, _ in node.value]
        for i, key in enumerate(keys):
            if key in keys[:i]:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}; expected each key once",
                    node.value[i][0].start_mark,
                )  # fmt: skip
        return super().construct_mapping(node, deep=deep)
