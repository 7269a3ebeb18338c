"""The SLA-optimizer role environment. Its spec sheet is the class docstring of ``SlaEnv``."""

from __future__ import annotations

import math
from typing import Any

from agents.org import Organization
from agents.scoring.matching import match_alert
from agents.slots.sla_optimizer import FAMILIES, SLA_ACTIONS, SLA_FEATURES, SlaOptimizer
from envs.periodic import PeriodicEnv
from envs.sim.faults import Fault
from envs.sim.world import World

SLA_WEIGHTS = {"detection": 1.0, "false_alerts": 0.2, "misses": 1.0}
MISS_AFTER_MIN = 240.0


class SlaEnv(PeriodicEnv[SlaOptimizer]):
    """The SLA-optimizer role: tune the monitor's alert thresholds, one monitoring period at a time.

    ## Description

    The rule-based organization runs the pipeline; the agent owns the Pipeline Monitor's thresholds.
    Every ``period_min`` (60) simulated minutes it may make each anomaly family more or less
    sensitive, and lengthen or shorten the freshness grace. Tight thresholds catch faults early and
    page people for noise; loose ones stay quiet and miss faults.

    ## Action space

    ``MultiDiscrete([3] * 7)``, dimensions named by ``agents.slots.sla_optimizer.SLA_ACTIONS`` (also
    ``action_names``): for each of volume, value_mean, runtime, null_rate, duplicate_rate, queue
    (z-score sensitivity in 2.0..6.0, step 0.5) and the freshness grace (0..60 min, step 15):
    0 lower (more sensitive), 1 keep, 2 raise. The organization's SLA-optimizer slot applies an
    action the same way (``agents.slots.sla_optimizer.SlaOptimizer.apply``).

    ## Observation space

    ``Box(-1, 1, (25,), float32)``, named by ``agents.slots.sla_optimizer.SLA_FEATURES`` (also
    ``feature_names``) and computed by ``SlaOptimizer.observe``:

    | index | feature | scaling |
    |---|---|---|
    | 0–5 | sensitivity per family | (z − 2) / 4 |
    | 6 | freshness grace | minutes / 60 |
    | 7–13 | alerts of each family and of freshness in the last period | count / 5, clipped |
    | 14–20 | the same over the last 24 hours | count / 20, clipped |
    | 21 | open incidents | count / 10, clipped |
    | 22–23 | hour of day | sin, cos |
    | 24 | weekend | 0/1 |

    ## Rewards

    Weighted sum of named terms (``reward_weights``), each in ``info["reward_terms"]``:
    ``detection`` + Σ exp(−latency / 60 min) over faults first detected in the period (latency from
    the fault becoming visible); ``false_alerts`` − alerts in the period that match no fault;
    ``misses`` − faults visible for 4 hours without a matching alert (counted once).

    ## Starting state, episode end, arguments

    As the triage role: ``reset`` draws a training seed (``options`` ``split``/``episode_seed``) and
    starts with the rules organization's thresholds; ``truncated`` at the scenario's horizon. A step
    is one period, driven through ``SlaOptimizer`` as the organization's slot drives it
    (``envs.periodic.PeriodicEnv``). Arguments: ``scenario`` (default ``sc0001``), ``role="sla"``,
    ``reward_weights``, ``period_min``, ``days``.

    For example:

        >>> import gymnasium as gym
        >>> env = gym.make("envs:dataops/LateArrival-v0", role="sla")
        >>> env.action_space
        MultiDiscrete([3 3 3 3 3 3 3])
        >>> env.observation_space
        Box(-1.0, 1.0, (25,), float32)

    ## Version history

    - v0: initial release.
    - v0, revised by the organization's revisions O1, O2 (``envs.base``): spaces and reward are
      unchanged, seeded rollouts are not.
    - v0, new id: ``dataops/Mixed-v0`` (SC-0004 ``mixed``: every issue type with cascades on the
      logistics topology, the generalization scenario); spaces are those of every id, and
      behaviour under the other ids is unchanged.
    - v0, revised by the organization's revision O4 (``envs.base``: a window killed as collateral
      is re-executed). Spaces and reward are unchanged; seeded rollouts in which a ``kill_query``
      was collateral are not (of the golden rollouts: none under sla).
    - v0, revised by the world's revision W1 (``envs.base``: a fault does not resolve while a
      run it fails is in flight). Spaces and reward are unchanged; seeded rollouts with such a
      run are not (of the golden rollouts: none under sla).
    - v0, revised by the organization's revision O5 (``envs.base``: the rules wait out a likely
      outage and escalate a schema test without detail). Spaces and reward are unchanged; seeded
      rollouts with such incidents are not.
    - v0, revised by the world's revision W2 and the organization's revision O6 (``envs.base``:
      ambiguous duplicates at a load, SC-0002 v4). Spaces and reward are unchanged; seeded
      rollouts with duplicates are not (of the golden rollouts: QualityDegradation-v0, Mixed-v0
      and Pipeline-v0 under sla).
    """

    role = "sla"
    default_scenario = "sc0001"
    default_weights = SLA_WEIGHTS
    feature_names: tuple[str, ...] = SLA_FEATURES
    """Names of the observation's features, in order."""
    action_names: tuple[str, ...] = SLA_ACTIONS
    """Names of the action's dimensions, in order (each 0 lower, 1 keep, 2 raise)."""
    action_nvec = (3,) * len(SLA_ACTIONS)

    def _make_view(self, world: World, org: Organization) -> SlaOptimizer:
        """The rules organization's monitor thresholds, as the SLA optimizer's view and lever."""
        return SlaOptimizer(org.monitor, world, self.period)

    def _start_scoring(self) -> None:
        self._seen_alerts = 0
        self._detected: dict[int, float] = {}
        self._missed: set[int] = set()

    def _action_error(self, action: Any) -> str:
        return f"action: expected {len(FAMILIES)} values in 0..2, got {action!r}"

    def _role_info(self, active: list[Fault]) -> dict[str, Any]:
        return {"active_faults": len(active)}

    def _score(self, closed: None) -> dict[str, float]:
        """Detections, false alerts and misses of the period just ended."""
        assert self.org is not None and self.world is not None
        w = self.world
        started = [f for f in w.faults if f.started]
        new_alerts = self.org.monitor.alerts[self._seen_alerts :]
        self._seen_alerts = len(self.org.monitor.alerts)
        detection = false_alerts = 0.0
        faults = [f.record() for f in started] if new_alerts else []  # matched against alerts
        for al in new_alerts:
            hit = False
            for f in faults:
                if match_alert(al, f, w.horizon):
                    hit = True
                    if f.fault_id not in self._detected and f.fault_id not in self._missed:
                        self._detected[f.fault_id] = al.t
                        seen = (
                            f.first_visible_at
                            if f.first_visible_at == f.first_visible_at
                            else f.onset
                        )
                        detection += math.exp(-max(0.0, al.t - seen) / 60.0)
            false_alerts -= 0.0 if hit else 1.0
        misses = 0.0
        for fault in started:
            seen, fid = fault.first_visible_at, fault.fid  # as its record() has them
            if seen != seen or fid in self._detected or fid in self._missed:
                continue
            if w.now - seen >= MISS_AFTER_MIN:
                self._missed.add(fid)
                misses -= 1.0
        return {"detection": detection, "false_alerts": false_alerts, "misses": misses}
