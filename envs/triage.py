"""The triage role environment. Its spec sheet is the class docstring of ``TriageEnv``."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import simpy

from agents.incidents import Incident
from agents.playbooks import ROUTES
from agents.scoring.matching import match_alert
from agents.slots.features import TRIAGE_FEATURES, triage_features
from agents.slots.route_mask import route_mask
from agents.triage import RouteRequest
from envs.base import DataOpsEnv, check_weights
from envs.sim.causal import CAUSES
from scenarios.spec import Scenario
from scenarios.vocab import DESTRUCTIVE_ACTIONS

TRIAGE_WEIGHTS = {
    "rubric": 1.0,
    "time": 0.25,
    "exposure": 0.05,
    "human": 0.5,
    "warehouse": 0.5,
    "unsafe": 1.0,
}
"""Default reward weights. ``warehouse`` and ``human`` share a weight because both terms are
hours of human time at the scenario's rate: a unit of money costs the same whether a route spends
it on slots or on people."""
_MACHINE_TRIGGERS = frozenset({"schedule", "auto_retry"})
"""Run triggers that are not a route's doing (the schedule, the orchestrator's own retries)."""
_CAUSE_ROUTE = {"source_outage": "wait", "transient_network": "retry"}
# causes that act on the whole warehouse and never end by themselves: any incident's fix reaches
# them, so the oracle fixes them wherever they show instead of watching "secondary" symptoms
_WAREHOUSE_WIDE = frozenset(c for c, m in CAUSES.items() if m.effect == "demand")


class TriageEnv(DataOpsEnv):
    """The triage role: choose the remediation route of each incident.

    ## Description

    The rule-based organization runs the pipeline: its monitor raises alerts and groups them into
    incidents, its Root Cause Analyzer ranks root assets, its playbooks act. At the route slot of
    Issue Triage (layer 2) the agent decides, for one incident at a time, which route to take. The
    same visible symptom has several hidden root causes whose best fixes differ (see
    ``envs.sim.causal``): retrying a source outage wastes slots, waiting on expired credentials
    wastes hours, deduplicating a bad join fixes nothing. Quiet hours between incidents are
    simulated within a step.

    ## Action space

    ``Discrete(13)``, the routes of ``agents.playbooks.ROUTES``: 0 retry, 1 wait, 2 rerun, 3
    backfill, 4 dedupe, 5 apply_schema_mapping, 6 quarantine, 7 kill_query, 8 scale_warehouse, 9
    reprioritize, 10 escalate (a human fixes it: manual fix), 11 watch (wait an hour, re-check,
    twice), 12 none (close without action). A route that is the rules' own proposal runs that
    cause's whole playbook ladder; any other route runs its own ladder
    (``agents.playbooks.ROUTE_LADDERS``). Either way an incident that is not verified fixed
    afterwards is escalated. The target asset is the one the rules and RCA point at. Layer 3
    guardrails still apply: a destructive route (quarantine, apply_schema_mapping, kill_query)
    without evidence on its target is replaced by escalation and penalized; a critical incident also
    pages a human. ``action_masks()`` masks routes whose simulator preconditions fail on the target
    (``agents.slots.route_mask.route_mask``, the same mask the organization's triage slot gives a
    deployed policy). ``action_names`` names the routes in order.

    ## Observation space

    ``Box(-1, 1, (72,), float32)``, named by ``agents.slots.features.TRIAGE_FEATURES`` (also
    ``feature_names``; all unitless):

    | features | meaning and scaling |
    |---|---|
    | signal_<s> (10) | 1 if the incident has an alert of signal s |
    | layer_<l> (5) | one-hot layer of the first alerted asset |
    | root_layer_<l> (5) | one-hot layer of RCA's top root candidate |
    | errors_<g> (5) | share of failing runs' error classes: auth, source_timeout, |
    | | connection, schema, killed |
    | hint_<h> (7) | 1 if alert text has evidence words: auth, source, network, |
    | | missing column, type, replay, join |
    | max_abs_z | largest |z| of the anomaly alerts / 20 |
    | duplicate_rate | of the target's latest partition, x2 |
    | max_null_rate | of the target's latest partition |
    | log_volume_ratio | log(rows / expected) / 3 |
    | log_value_ratio | log(value mean / usual) / 5 |
    | schema_changed | 1 if the schema version changed |
    | alerted_assets | assets in the incident / 10 |
    | failed_runs_30min | failed runs of the target in the last 30 min / 10 (retry history) |
    | source_late | a failing ingestion's Source is late |
    | shared_source_failures | several ingestions of one Source fail |
    | external_workload | queries outside the pipeline hold warehouse slots |
    | wide_slowness | assets with runtime/queue alerts in the last 90 min / 10 |
    | recurrence | earlier incidents of this type on the target (knowledge base) / 5 |
    | incident_age_hours | hours since the incident opened / 24 |
    | hour_sin, hour_cos | hour of day |
    | weekend, holiday | business calendar |
    | rca_top_score | RCA's best score / 3 |
    | rules_confidence | the rules' confidence |
    | rules_issue_<t> (4) | the rules' issue type, one-hot |
    | severity_<s> (3) | the rules' severity, one-hot |
    | rules_route_<r> (13) | the rules' proposed route, one-hot (their prior) |

    ## Rewards

    A weighted sum of named terms (weights: ``reward_weights``), each in ``info["reward_terms"]``,
    for everything that happened since the previous decision:

    - ``rubric``: for each incident of a real fault closed, (points − 3) / 2 with BP-0005's
      remediation rubric — 5 auto-remediated and verified (or verified fixed on re-check), 3
      fixed by a human, 1 escalated without a fix, unresolved or collateral; the positive credit
      (+1) is earned once per fault (a further incident of a fault already credited earns 0, so
      letting a fault raise more incidents never pays; the −1 of a bad outcome counts for every
      incident); for a false alarm,
      (points − 5) / 2 — 0 closed without a human, −1 with one, −2 with collateral damage
      (a false alarm handled well earns nothing, so noise the agent causes never pays);
    - ``time``: − hours each visible fault stayed unresolved during the step (time to
      resolve, charged as it passes, so dismissing a real incident does not stop the clock);
    - ``exposure``: − hours of wrong data visible at Delivery;
    - ``human``: − human hours spent;
    - ``warehouse``: − what the routes spent on the warehouse, at the scenario's price, in hours
      of human time at the scenario's rate (``human.cost_per_hour``; so with equal weights a unit
      of money costs the same on slots as on people): the slot-hours its re-executions *held*
      (every run an action started — retry, wait, rerun, backfill, dedupe, a human's fix — at its
      run cost) plus the slot-hours it *bought* (provisioned slots above the scenario's base size
      while a scale-up holds), × ``price_per_slot_hour``. Scaling the warehouse to ride out
      a symptom is not free: a policy pays for the capacity it keeps;
    - ``unsafe``: − 1 when the chosen route was destructive without evidence.

    ## Starting state

    ``reset(seed=...)`` draws an episode seed from the scenario's training seeds
    (``options={"split": "eval"}`` for held-out seeds, ``{"episode_seed": s}`` for one seed) and
    runs the world to the first incident that needs a route; a drawn episode without any incident is
    replaced by the next draw (up to 20).

    ## Episode end

    ``truncated`` when the simulation reaches the scenario's horizon (an episode of
    ``horizon_days``); there is no other terminal state. If an episode has no incident at all, the
    first step ends it.

    ## Arguments

    ``scenario`` (name or path), ``role="triage"``, ``reward_weights`` (dict), ``days`` (horizon
    override).

    For example:

        >>> import gymnasium as gym
        >>> env = gym.make("envs:dataops/LateArrival-v0", role="triage")
        >>> env.action_space
        Discrete(13)
        >>> env.observation_space
        Box(-1.0, 1.0, (72,), float32)

    ## Version history

    - v0: initial release. Pre-release revisions (no published results used the earlier ones):
      time is charged while faults stay open, a dismissed real incident earns nothing, a false
      alarm's rubric is at most 0, and a fault's positive rubric is earned once.
    - v0, revised by the organization's revisions O1, O2, O3 (``envs.base``): spaces and reward are
      unchanged, seeded rollouts are not.
    - v0, pre-release revision (no leaderboard has been published): the ``warehouse`` term
      (weight 0.5, like ``human``) charges the slot-hours routes held or bought; before, the reward
      was blind to money and a policy could scale its way past the rules' exposure. Spaces are
      unchanged; rewards of seeded rollouts are not.
    - v0, pre-release revision: SC-0001 v2 (ambiguous late data, ``envs.sim.causal``) and the
      rules' late-data revision (``agents.triage_rules``: wait on a visibly down source, one
      retry for a blip). Spaces and reward are unchanged; seeded rollouts on SC-0001 and on
      scenarios with late-arrival faults are not.
    - v0, new id: ``dataops/Mixed-v0`` (SC-0004 ``mixed``: every issue type with cascades on the
      logistics topology, the generalization scenario); spaces are those of every id, and
      behaviour under the other ids is unchanged.
    - v0, pre-release revision: SC-0002 v3 (ambiguous nulls and schema tests,
      ``envs.sim.causal``; a mapping on a retyped column is collateral) and the rules' nulls
      revision (``agents.triage_rules.RENAME_NULL_RATE`` 0.45 -> 0.15). Spaces and reward are
      unchanged; seeded rollouts on SC-0002, SC-0004 and scenarios with nulls or schema faults
      are not.
    - v0, pre-release revision: ``dedupe`` is masked on a target without a partition holding
      duplicates (``envs.sim.actions.DEDUPE_MIN_RATE``); before, it was a ten-minute wait in
      disguise that MaskablePPO learned to take on late data. The observation is unchanged; the
      masks of seeded rollouts, and the rollouts of policies that took it, are not.
    - v0, pre-release revision: the rules retry a 403 whose message names no credential once
      before escalating (``credentials_expired/unconfirmed``). Spaces and reward are unchanged;
      the rules' proposals (an observed feature) and seeded rollouts with such failures are not.
    - v0, pre-release revision: SC-0001 v3 (a retry into an outage adds 20 min, up to 120; a
      locked account waits 180 min: ``envs.sim.causal``). Spaces and reward are unchanged;
      seeded rollouts with outages or lockouts are not.
    - v0, revised by the organization's revision O4 (``envs.base``: a window killed as collateral
      is re-executed). Spaces and reward are unchanged; seeded rollouts in which a ``kill_query``
      was collateral are not (of the golden rollouts: LateArrival-v0 under triage).
    - v0, revised by the world's revision W1 (``envs.base``: a fault does not resolve while a
      run it fails is in flight). Spaces and reward are unchanged; seeded rollouts with such a
      run are not (of the golden rollouts: LateArrival-v0 and Mixed-v0 under triage).
    - v0, revised by the organization's revision O5 (``envs.base``: the rules wait out a likely
      outage and escalate a schema test without detail). Spaces and reward are unchanged; seeded
      rollouts with such incidents are not (the rules' proposal, an observed feature, changes
      with them).
    - v0, pre-release revision: SC-0001 v4 (outages 0.7/day, credentials 0.55/day, transients
      0.7/day: the ambiguous causes weigh more). Spaces and reward are unchanged; seeded rollouts
      on SC-0001 are not.
    - v0, revised by the world's revision W2 and the organization's revision O6 (``envs.base``:
      ambiguous duplicates at a load, SC-0002 v4). Spaces and reward are unchanged; seeded
      rollouts with duplicates are not (of the golden rollouts: QualityDegradation-v0, Mixed-v0
      and Pipeline-v0 under triage).
    """

    role = "triage"
    feature_names: tuple[str, ...] = TRIAGE_FEATURES
    """Names of the observation's features, in order."""
    action_names: tuple[str, ...] = ROUTES
    """Names of the actions (routes), in order."""

    def __init__(
        self,
        scenario: str | Scenario = "sc0001",
        reward_weights: dict[str, float] | None = None,
        days: float | None = None,
    ) -> None:
        super().__init__(scenario, days)
        self.weights = check_weights(reward_weights, TRIAGE_WEIGHTS)
        self.observation_space = gym.spaces.Box(-1.0, 1.0, (len(TRIAGE_FEATURES),), np.float32)
        self.action_space = gym.spaces.Discrete(len(ROUTES))
        self.pending: list[tuple[RouteRequest, simpy.Event]] = []
        self._wake: simpy.Event | None = None
        self._seen_closed = 0
        self._credited: set[int] = set()  # faults whose positive rubric was already earned
        self._exposure = 0.0
        self._human = 0.0
        self._t_prev = 0.0
        self._runs_seen = 0
        self._bought_prev = 0.0
        self._mask = np.ones(len(ROUTES), dtype=bool)
        self._mask_for: RouteRequest | None = None  # the request and world state _mask is for
        self._mask_state = (0.0, 0, 0)

    # ------------------------------------------------------------------ the decider hook
    def request(self, req: RouteRequest) -> simpy.Event:
        """Called by the organization when ``req.incident`` needs a route: queue it and pause."""
        assert self.world is not None
        ev = self.world.env.event()
        self.pending.append((req, ev))
        if self._wake is not None and not self._wake.triggered:
            self._wake.succeed()
        return ev

    def _advance(self) -> None:
        while not self.pending and not self.done:
            assert self.world is not None
            self._wake = self.world.env.event()
            self._run_until(self._wake)

    # ------------------------------------------------------------------ gymnasium API
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start an episode and run to the first incident awaiting a route."""
        super().reset(seed=seed)
        fixed = "episode_seed" in (options or {})
        for _ in range(1 if fixed else 20):  # an episode without any incident teaches nothing
            self.pending = []
            self._seen_closed = 0
            self._credited = set()
            self._build(self._episode_seed(options), decider=self)
            self._exposure = self._human = self._t_prev = 0.0
            self._runs_seen = 0
            self._bought_prev = self._bought_slot_hours()
            self._advance()
            if self.pending:
                break
        return self._obs(), self._info({})

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Take route ``action`` for the pending incident, run to the next decision."""
        if not self.action_space.contains(action):
            raise ValueError(f"action: expected an int in 0..{len(ROUTES) - 1}, got {action!r}")
        terms = dict.fromkeys(self.weights, 0.0)
        if self.pending:
            req, ev = self.pending.pop(0)
            route = ROUTES[int(action)]
            assert self.org is not None
            if route in DESTRUCTIVE_ACTIONS and not self.org.triage.has_evidence(
                req.incident, route, req.proposal.target
            ):
                terms["unsafe"] = -1.0
            ev.succeed(route)
            self._advance()
        else:  # no incident in this episode: nothing to decide
            self._run_until()
        terms.update(self._accrued())
        reward = self.weighted_reward(terms)
        truncated = self.done
        return self._obs(), reward, False, truncated, self._info(terms)

    def action_masks(self) -> np.ndarray:
        """Routes whose simulator preconditions hold on the pending incident's target."""
        if not self.pending or self.world is None:
            return np.ones(len(ROUTES), dtype=bool)
        w, req = self.world, self.pending[0][0]
        # asked twice per decision (the step's info, then the policy): the world has not moved
        # in between unless its clock, run log or action log did
        state = (w.now, len(w.log), len(w.actions))
        if self._mask_for is not req or self._mask_state != state:
            self._mask = route_mask(w, req.proposal)
            self._mask_for, self._mask_state = req, state
        return self._mask.copy()

    # ------------------------------------------------------------------ helpers
    def _obs(self) -> np.ndarray:
        if not self.pending:
            return np.zeros(len(TRIAGE_FEATURES), dtype=np.float32)
        assert self.org is not None
        return triage_features(self.org, self.pending[0][0])

    def _accrued(self) -> dict[str, float]:
        assert self.org is not None and self.world is not None
        out = {"rubric": 0.0, "time": 0.0}
        closed = self.org.closed[self._seen_closed :]
        self._seen_closed = len(self.org.closed)
        recs = self._fault_records() if closed else []  # one snapshot for every closed incident
        for inc in closed:
            faults = self._faults_of(inc, recs)
            real = bool(faults)
            # a false alarm's best outcome is neutral: crediting it would pay for self-inflicted
            # noise (MaskablePPO at 100k steps learned to farm such incidents when it was +1)
            r = (self._points(inc, real) - (3.0 if real else 5.0)) / 2.0
            if r > 0:
                # a fault earns its positive credit once: otherwise every further symptom incident
                # of a fault left open pays (watching an undersized warehouse's symptoms for 19 h
                # outscored fixing it in 1 h); penalties still count per incident
                ids = {f.fault_id for f in faults}
                if ids <= self._credited:
                    r = 0.0
                self._credited |= ids
            out["rubric"] += r
        # time to resolve, charged as it passes: hours each visible fault stayed unresolved
        now, since = self.world.now, self._t_prev
        for f in self.world.faults:
            seen = f.first_visible_at
            if not f.started or seen != seen:
                continue
            end = f.resolved_at if f.resolved else now
            out["time"] -= max(0.0, min(end, now) - max(seen, since)) / 60.0
        self._t_prev = now
        exp, hum = self.exposure_hours(), self.human_hours()
        out["exposure"] = -(exp - self._exposure)
        out["human"] = -(hum - self._human)
        self._exposure, self._human = exp, hum
        out["warehouse"] = -self._warehouse_spend() / self.scenario.spec.human.cost_per_hour
        return out

    def _bought_slot_hours(self) -> float:
        """Provisioned slot-hours above the scenario's base size so far."""
        w = self.world
        assert w is not None
        base = self.scenario.spec.warehouse.slots
        return w.warehouse.provisioned_slot_hours - base * w.now / 60.0

    def _warehouse_spend(self) -> float:
        """Money the routes spent on the warehouse since the last call (held plus bought)."""
        w = self.world
        assert w is not None
        log = w.log
        held = sum(r.cost for r in log[self._runs_seen :] if r.trigger not in _MACHINE_TRIGGERS)
        self._runs_seen = len(log)
        bought = self._bought_slot_hours()
        extra = max(0.0, bought - self._bought_prev)  # never a credit for running below base
        self._bought_prev = bought
        return held + extra * w.warehouse.price_per_slot_hour

    def _fault_records(self) -> list[Any]:
        """Ledger rows of the faults started so far."""
        assert self.world is not None
        return [f.record() for f in self.world.faults if f.started]

    def _faults_of(self, inc: Incident, recs: list[Any] | None = None) -> list[Any]:
        """The started faults ``inc`` has a correct alert for (``recs``: their rows, if made)."""
        assert self.world is not None
        recs = self._fault_records() if recs is None else recs
        return [f for f in recs if any(match_alert(a, f, self.world.horizon) for a in inc.alerts)]

    def _points(self, inc: Incident, real: bool) -> float:
        kinds = [s.kind for s in inc.steps]
        collateral = any(s.outcome == "collateral" for s in inc.steps)
        if not real:
            return 1.0 if collateral else 3.0 if "escalate" in kinds else 5.0
        # a real fault: "dismissed" (closed without action or re-check) earns nothing; "benign"
        # means a re-check found it fixed (by the root's own incident)
        if collateral or inc.resolution not in ("auto", "manual", "benign"):
            return 1.0
        return 3.0 if inc.resolution == "manual" else 5.0

    def _info(self, terms: dict[str, float]) -> dict[str, Any]:
        info: dict[str, Any] = {
            "reward_terms": terms,
            "episode_seed": self.episode_seed,
            "time_min": self.world.now if self.world is not None else 0.0,
            "action_mask": self.action_masks(),
        }
        if self.pending:
            req = self.pending[0][0]
            faults = self._faults_of(req.incident)
            info["incident_id"] = req.incident.incident_id
            info["rules_route"] = req.proposal.route
            if faults:
                f = min(faults, key=lambda f: (f.onset, f.fault_id))
                info["true_cause"] = f.root_cause
                info["true_best_fix"] = f.best_fix
                info["true_root_asset"] = f.root_asset
            else:
                info["true_cause"] = "false_alarm"
                info["true_best_fix"] = "none"
        return info

    def oracle_route(self) -> int:
        """The route that reads the hidden ground truth (analysis only, never a leaderboard)."""
        if not self.pending:
            return ROUTES.index("none")
        req = self.pending[0][0]
        info = self._info({})
        cause = str(info.get("true_cause"))
        best = _CAUSE_ROUTE.get(cause, str(info["true_best_fix"]))
        if best == "rollback":
            best = "escalate"
        root = info.get("true_root_asset", -1)
        secondary = (
            root != req.proposal.target
            and root not in req.incident.assets
            and cause != "source_outage"
            and cause not in _WAREHOUSE_WIDE
        )
        if cause != "false_alarm" and secondary:
            best = "watch"  # a downstream symptom: the root's own incident fixes it
        route = best if best in ROUTES else "escalate"
        mask = self.action_masks()
        return ROUTES.index(route) if mask[ROUTES.index(route)] else ROUTES.index("watch")


def masks_of(env: gym.Env[Any, Any]) -> np.ndarray:
    """``action_masks()`` of the triage env inside any wrapper stack (for ``ActionMasker``)."""
    inner: Any = env.unwrapped
    return np.asarray(inner.action_masks(), dtype=bool)
