"""What goes in a policy slot: nothing (the rules), an exported policy (``onnx:<dir>``), an object.

``run_org triage=onnx:outputs/export/policy`` reaches ``resolve_slot("triage", "onnx:...")``, which
loads the policy with ``agents.deploy.runtime.load_policy`` (imported only then: onnxruntime is a
deployment dependency) and refuses, with one ``SlotError`` naming the slot, the value given and what
fits, anything that cannot fill the slot:

- a value other than ``null`` or ``onnx:<dir>`` (``pkl:model.zip``, an empty path ...);
- a directory without a policy card, or whose ``policy.onnx`` fails the runtime's checks;
- a card made for another role (an SLA policy in the triage slot);
- a card whose observation (shape, bounds, feature names) or action space differs from the slot's
  (``SLOT_SPACES``, the spaces of the role's environment).

The scenario a policy was trained on is not checked: evaluating a policy on scenarios it never saw
is the point of held-out scenarios. ``slot_provenance`` reports it with the scorecard instead.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, runtime_checkable

import numpy as np

from agents.playbooks import ROUTES
from agents.slots.cost_optimizer import COST_ACTIONS, COST_FEATURES, COST_NVEC
from agents.slots.features import TRIAGE_FEATURES
from agents.slots.sla_optimizer import SLA_ACTION_VALUES, SLA_ACTIONS, SLA_FEATURES

if TYPE_CHECKING:
    from agents.org import OrgConfig
    from agents.triage import RoutePolicy

SLOTS = ("triage", "sla", "cost")
"""The organization's policy slots, named as the roles of ``envs``."""
ONNX_PREFIX = "onnx:"


class SlotError(ValueError):
    """A slot value that cannot fill the slot (the message names the slot, the value, what fits)."""


@runtime_checkable
class PolicyLike(Protocol):
    """What a slot needs of a policy: the deterministic action for one observation.

    ``agents.deploy.runtime.OnnxPolicy`` is one. ``mask`` (triage only) is a bool array over the
    actions, False where an action is not allowed; a policy may ignore it.
    """

    def act(self, obs: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray | int:
        """An ``int`` (discrete action) or a 1-D int array (one value per action dimension)."""
        ...


class Slots(NamedTuple):
    """The organization's policy slots, resolved: each a ``PolicyLike`` or None (the rules).

    Build it with ``resolve_slots`` (which loads and checks ``onnx:<dir>`` values once);
    ``agents.slots.runner.run_episode`` takes it as it is.
    """

    triage: PolicyLike | None = None
    sla: PolicyLike | None = None
    cost: PolicyLike | None = None

    @property
    def empty(self) -> bool:
        """No slot is filled: the rules organization, no optimizers."""
        return all(p is None for p in self)

    def filled(self) -> dict[str, PolicyLike]:
        """The filled slots by name, in ``SLOTS`` order."""
        return {s: p for s, p in zip(SLOTS, self, strict=True) if p is not None}


@dataclass(frozen=True)
class BoxSpace:
    """A float32 box, duck-typed as ``gymnasium.spaces.Box`` (``shape``, ``low``, ``high``)."""

    shape: tuple[int, ...]
    low: float = -1.0
    high: float = 1.0


@dataclass(frozen=True)
class DiscreteSpace:
    """``n`` choices, duck-typed as ``gymnasium.spaces.Discrete``."""

    n: int


@dataclass(frozen=True)
class MultiDiscreteSpace:
    """One choice per dimension, duck-typed as ``gymnasium.spaces.MultiDiscrete``."""

    nvec: tuple[int, ...]


@dataclass(frozen=True)
class SlotSpaces:
    """A slot's observation and action, as its role's environment defines them.

    Attributes:
        observation: the observation box.
        action: the action space.
        feature_names: the observation's names, in order.
        action_names: the actions (discrete) or the action's dimensions, in order.
    """

    observation: BoxSpace
    action: DiscreteSpace | MultiDiscreteSpace
    feature_names: tuple[str, ...]
    action_names: tuple[str, ...]


SLOT_SPACES: dict[str, SlotSpaces] = {
    "triage": SlotSpaces(
        BoxSpace((len(TRIAGE_FEATURES),)), DiscreteSpace(len(ROUTES)), TRIAGE_FEATURES, ROUTES
    ),
    "sla": SlotSpaces(
        BoxSpace((len(SLA_FEATURES),)),
        MultiDiscreteSpace((len(SLA_ACTION_VALUES),) * len(SLA_ACTIONS)),
        SLA_FEATURES,
        SLA_ACTIONS,
    ),
    "cost": SlotSpaces(
        BoxSpace((len(COST_FEATURES),)), MultiDiscreteSpace(COST_NVEC), COST_FEATURES, COST_ACTIONS
    ),
}
"""Each slot's spaces (equal to the spaces of ``envs`` for that role; a test checks)."""


def _expected(slot: str) -> str:
    return (
        f"expected null (the rules{'' if slot == 'triage' else ': no optimizer'}) or "
        f"onnx:<dir> (a directory with policy.json and policy.onnx from `python -m "
        f"experiments.export`, for role {slot})"
    )


def resolve_slot(slot: str, value: Any) -> PolicyLike | None:
    """The policy for ``slot`` given ``value``.

    Args:
        slot: ``triage``, ``sla`` or ``cost``.
        value: None (the rules / no optimizer), ``"onnx:<dir>"``, or an object with ``act``.

    Returns:
        None, the loaded ``agents.deploy.runtime.OnnxPolicy``, or ``value`` itself.

    Raises:
        SlotError: an unknown slot, a value of another form, or a policy that does not fit.
    """
    if slot not in SLOTS:
        raise SlotError(f"slot: unknown {slot!r}; expected one of {', '.join(SLOTS)}")
    if value is None or isinstance(value, PolicyLike):
        return value
    if not isinstance(value, str) or not value.startswith(ONNX_PREFIX) or value == ONNX_PREFIX:
        raise SlotError(f"{slot}: got {value!r}; {_expected(slot)}")
    path = Path(value[len(ONNX_PREFIX) :])
    if not path.exists():
        raise SlotError(
            f"{slot}: got {value!r}, and {str(path)!r} does not exist; {_expected(slot)}"
        )
    from agents.deploy import runtime  # onnxruntime only when a policy is deployed

    try:
        card = runtime.read_card(path)
        if card.role != slot:
            raise SlotError(
                f"{slot}: got {value!r}, a policy for the {card.role} slot (card role "
                f"{card.role!r}, trained on {card.scenario}); expected a policy card with role "
                f"{slot!r}"
            )
        policy = runtime.load_policy(path)
        sp = SLOT_SPACES[slot]
        policy.check_spaces(sp.observation, sp.action, role=slot, feature_names=sp.feature_names)
    except runtime.PolicyError as e:
        raise SlotError(f"{slot}: got {value!r}, which does not fit the slot: {e}") from None
    return policy


def resolve_slots(triage: Any = None, sla: Any = None, cost: Any = None) -> Slots:
    """Every slot resolved by ``resolve_slot``, once, into the value ``run_episode`` takes.

    Raises:
        SlotError: the first slot value that cannot fill its slot.
    """
    return Slots(*(resolve_slot(s, v) for s, v in zip(SLOTS, (triage, sla, cost), strict=True)))


NO_SLOTS = Slots()
"""No slot filled: the rules organization, no optimizers."""


def slot_kind(policy: PolicyLike) -> str:
    """``onnx`` for an exported policy (it carries a policy card), else ``policy``."""
    return "onnx" if getattr(policy, "card", None) is not None else "policy"


def org_label(org: str, slots: Slots) -> str:
    """The organization's name with its filled slots, e.g. ``rules+triage:onnx``."""
    parts = [f"{s}:{slot_kind(p)}" for s, p in slots.filled().items()]
    return "+".join([org, *parts])


def slotted_config(
    cfg: OrgConfig, slots: Slots, route_policy: RoutePolicy | None = None
) -> OrgConfig:
    """``cfg`` renamed after its filled slots (``org_label``), checked that the slots fit it.

    Raises:
        SlotError: a triage policy for an organization without playbooks (it never asks for a
            route) or alongside another route policy.
    """
    if slots.triage is not None and (cfg.automation != "playbooks" or route_policy is not None):
        raise SlotError(
            f"triage: a route policy needs an organization with playbooks and no other route "
            f"policy (org=rules); got org={cfg.name} (automation {cfg.automation})"
        )
    return replace(cfg, name=org_label(cfg.name, slots))


def slot_provenance(slots: Slots) -> dict[str, dict[str, Any]]:
    """Per filled slot: its kind and, for an exported policy, where it came from (JSON-ready)."""
    out: dict[str, dict[str, Any]] = {}
    for s, p in slots.filled().items():
        info: dict[str, Any] = {"kind": slot_kind(p)}
        card = getattr(p, "card", None)
        if card is not None:
            info |= {
                k: getattr(card, k, None)
                for k in ("algo", "scenario", "env_id", "onnx_sha256", "masked")
            }
            info["path"] = str(getattr(p, "path", "") or "")
        out[s] = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in info.items()}
    return out
