"""Analytics Support (swarm): answers analysts' questions and decides their access requests.

The workload: ``generate_requests`` draws analyst requests as a Poisson process over the horizon
from the world's ``requests`` stream only, so the same seed gives the same requests whatever else
happens. A request is one of:

==========  ====================================================  ==============================
kind        question                                              answer statuses
==========  ====================================================  ==============================
readiness   "is this table ready?" (mostly Delivery, else          ready, pending, stale,
            Warehouse)                                            not_ready, under_incident
status      the state of any asset, with its latest partition     as readiness
lineage     where an asset comes from and what depends on it      answered
access      read access to a dataset for the asker's role         granted, refused
==========  ====================================================  ==============================

An unknown dataset gets ``unknown_dataset``. Answers use only what an operator can observe —
partition states, run records and lineage, plus the organization's open incidents — never the
hidden ground truth. A dataset is *ready* when its latest due partition (the latest window whose
scheduled run time has passed) and every upstream partition it is built from, transitively, were
delivered (ok or warn), none of them failed a data-quality check (any check but freshness: healthy
assets pass their own checks), and no open incident touches it or its upstream — unless the
incident opened after that partition was built. Otherwise the answer says what it waits on and
when it is expected. Access is granted iff the ``AccessPolicy`` (``configs/access_policy.yaml``)
allows the role that dataset; every answer and decision is appended to the audit log.

``score_answers`` scores answers against the ground truth of
``agents.analytics.readiness.ReadinessOracle`` (the only code here that reads hidden state, kept in
its own module). The policy lives in ``agents.analytics.access_policy``.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Collection, Generator, Sequence
from typing import TYPE_CHECKING, Any, Final, NamedTuple

import numpy as np
import simpy

from agents.analytics.access_policy import AccessPolicy
from agents.analytics.readiness import OK_WARN, InputIndex, ReadinessOracle, latest_due
from envs.sim.assets import Asset
from envs.sim.records import PARTITION_STATES as STATE
from envs.sim.records import WARN
from envs.sim.world import World
from scenarios.vocab import LAYERS

if TYPE_CHECKING:
    from agents.knowledge import KnowledgeBase

KINDS: Final = ("readiness", "status", "lineage", "access")
KIND_MIX: Final = (0.45, 0.2, 0.15, 0.2)
"""Share of each request kind (order of ``KINDS``)."""
HANDLING_MIN: Final = {"readiness": 1.0, "status": 1.5, "lineage": 1.5, "access": 2.0}
"""Simulated minutes from a request to its answer."""
READINESS_STATUSES: Final = ("ready", "pending", "stale", "not_ready", "under_incident")
ROSTER: Final = (
    ("ana", "analyst"), ("ben", "analyst"), ("carla", "analyst"), ("dmitri", "finance"),
    ("eve", "finance"), ("farah", "marketing"), ("goran", "marketing"), ("hana", "data_engineer"),
    ("ivan", "data_engineer"), ("jules", "contractor"),
)  # fmt: skip
"""Who asks (name, role). ``contractor`` is in no policy: its access requests are refused."""

_DELIVERED: Final = bytes(OK_WARN)
"""The delivered partition states as bytes (deleted from a slice of states, none should remain)."""
_Incident = tuple[int, Collection[int], float] | tuple[int, Collection[int], float, float]
OpenIncidents = Callable[[], Sequence[_Incident]]
"""Returns the open incidents as (incident id, asset indexes, expected fix time or nan), optionally
followed by the time the incident opened: an incident opened after the dataset's latest partition
was built cannot be holding that partition back."""


class AnalystRequest(NamedTuple):
    """One analyst request: ``kind`` (see ``KINDS``) about ``dataset`` (an asset name) at ``t``."""

    request_id: int
    t: float
    kind: str
    analyst: str
    role: str
    dataset: str
    question: str


class Answer(NamedTuple):
    """The answer to one request, given at ``t`` (simulated minutes).

    Attributes:
        status: ``READINESS_STATUSES``, ``answered``, ``granted``, ``refused`` or
            ``unknown_dataset``.
        expected_by: when the dataset should be ready (nan: ready, or no estimate).
        reason: the audited reason for the answer; ``analyst`` and ``role`` who asked.
    """

    request_id: int
    t: float
    kind: str
    dataset: str
    text: str
    status: str
    expected_by: float
    reason: str
    analyst: str
    role: str


class AuditEntry(NamedTuple):
    """One audited decision: who asked what, what was decided, and why."""

    t: float
    request_id: int
    analyst: str
    role: str
    kind: str
    dataset: str
    decision: str
    reason: str


_QUESTIONS: Final = {
    "readiness": "Is {} ready to use?",
    "status": "What is the current status of {}?",
    "lineage": "Where does {} come from, and what depends on it?",
    "access": "Please grant me read access to {}.",
}


def generate_requests(world: World, rate_per_day: float = 24.0) -> list[AnalystRequest]:
    """Draw the episode's analyst requests (a Poisson process) from ``world.streams["requests"]``.

    Readiness questions are about Delivery assets (80%) or Warehouse assets; status, lineage and
    access questions about any asset. Draws advance the stream: call once per world.

    Args:
        world: the episode.
        rate_per_day: mean requests per simulated day.

    Returns:
        Requests in time order, ``request_id`` 0, 1, ...
    """
    if not rate_per_day >= 0:
        raise ValueError(f"rate_per_day: expected a non-negative number, got {rate_per_day!r}")
    rng = world.streams["requests"]
    n = int(rng.poisson(rate_per_day * world.horizon / 1440.0))
    times = np.sort(rng.uniform(0.0, world.horizon, n)).tolist()
    kinds = rng.choice(len(KINDS), size=n, p=KIND_MIX).tolist()
    who = rng.integers(len(ROSTER), size=n).tolist()
    group, pick = rng.random(n).tolist(), rng.random(n).tolist()
    every = [a.name for a in world.assets]
    by_layer = {ly: [a.name for a in world.assets if a.layer == ly] or every for ly in LAYERS}
    out = []
    for i in range(n):
        kind = KINDS[kinds[i]]
        if kind == "readiness":
            pool = by_layer["Delivery"] if group[i] < 0.8 else by_layer["Warehouse"]
        else:
            pool = every
        name = pool[min(int(pick[i] * len(pool)), len(pool) - 1)]
        analyst, role = ROSTER[who[i]]
        out.append(
            AnalystRequest(i, times[i], kind, analyst, role, name, _QUESTIONS[kind].format(name))
        )
    return out


# ------------------------------------------------------------------ the agent
class AnalyticsSupport:
    """Answers analyst requests from observable state and the organization's open incidents.

    Args:
        world: the episode (read-only: partition states, run records, lineage).
        policy: the access policy; its dataset names are checked against the topology.
        knowledge: the knowledge base, for recent incident counts in status answers.
        open_incidents: the organization's open incidents (default: none).

    Attributes:
        requests: the requests ``start`` scheduled; ``answers`` and ``audit`` what was answered.

    Raises:
        AccessPolicyError: the policy names a dataset the topology does not have.
    """

    def __init__(
        self,
        world: World,
        policy: AccessPolicy,
        knowledge: KnowledgeBase | None = None,
        *,
        open_incidents: OpenIncidents | None = None,
    ) -> None:
        policy.check_datasets(world.by_name)
        self.world, self.policy, self.knowledge = world, policy, knowledge
        self.open_incidents: OpenIncidents = open_incidents or (lambda: [])
        self.index = InputIndex(world.assets)
        self.ancestors = self.index.ancestors
        # A failed freshness check only says the data was late; any other failed check says the
        # data itself looks wrong (healthy assets pass their own checks).
        self.quality = [
            {i for i, c in enumerate(a.spec.checks) if c.kind != "freshness"} for a in world.assets
        ]
        self.requests: list[AnalystRequest] = []
        self.answers: list[Answer] = []
        self.audit: list[AuditEntry] = []

    def start(self, requests: Sequence[AnalystRequest] | None = None) -> None:
        """Answer each request (default: ``generate_requests(world)``) at its time + handling."""
        self.requests = list(generate_requests(self.world) if requests is None else requests)
        queue = sorted(
            (r.t + HANDLING_MIN.get(r.kind, 1.0), r.request_id, r) for r in self.requests
        )
        self.world.env.process(self._serve([(at, r) for at, _, r in queue]))

    def _serve(
        self, queue: list[tuple[float, AnalystRequest]]
    ) -> Generator[simpy.Event, Any, None]:
        env = self.world.env
        for at, req in queue:
            if at > env.now:
                yield env.timeout(at - env.now)
            self.answer(req)

    def answer(self, request: AnalystRequest) -> Answer:
        """Answer ``request`` now, append the answer and its audit entry, and return it."""
        t, name = self.world.now, request.dataset
        a = self.world.by_name.get(name)
        expected = math.nan
        if a is None:
            close = difflib.get_close_matches(name, list(self.world.by_name), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            text, reason = f"There is no dataset {name!r}{hint}.", f"unknown dataset {name!r}"
            status = "refused" if request.kind == "access" else "unknown_dataset"
        elif request.kind == "access":
            ok, reason = self.policy.decide(request.role, name, a.layer)
            status = "granted" if ok else "refused"
            text = f"Read access to {name} {status} for {request.analyst} ({request.role})."
        elif request.kind == "lineage":
            status, text, reason = "answered", self._lineage(a), "lineage of the topology"
        else:
            status, text, reason, expected = self._readiness(a, t)
            if request.kind == "status":
                text = f"{text} {self._details(a, t)}"
        ans = Answer(
            request.request_id, t, request.kind, name, text, status, expected, reason,
            request.analyst, request.role,
        )  # fmt: skip
        self.answers.append(ans)
        who = (request.analyst, request.role, request.kind, name)
        self.audit.append(AuditEntry(t, request.request_id, *who, status, reason))
        return ans

    def _readiness(self, a: Asset, t: float) -> tuple[str, str, str, float]:
        """(status, text, reason, expected_by) from partition states and open incidents."""
        lineage = {a.idx, *(v.idx for v in self.ancestors[a.idx])}
        k = latest_due(a, t)
        rec = a.records.get(k)
        built = rec.ended_at if rec is not None and a.state[k] in OK_WARN else math.inf
        for iid, assets, eta, *opened in self.open_incidents():
            hit = sorted(self.world.assets[i].name for i in set(assets) & lineage)
            if hit and not (opened and opened[0] > built):
                by = f"expected by {_clock(eta)}" if eta == eta else "no estimate yet"
                text = f"{a.name} is under incident {iid} (on {', '.join(hit)}), {by}."
                return "under_incident", text, f"open incident {iid} on {hit[0]}", float(eta)
        if k == 0:
            eta = a.every + a.offset + a.spec.runtime_median_min
            text = f"{a.name} has no partition yet; the first is expected by {_clock(eta)}."
            return "pending", text, "nothing due yet", eta
        spans = self.index.spans(a, k)
        # the usual answer (everything delivered) is read from one slice of states per input
        # asset; the window-by-window lists are built only for an answer that names windows
        if not any(v.state[first:stop].translate(None, _DELIVERED) for v, first, stop in spans):
            data = f"data up to {_clock(k * a.every)}"
            if any(WARN in v.state[first:stop] for v, first, stop in spans):
                bad = [
                    self._failed_quality(v, j)
                    for v, first, stop in spans
                    for j in range(first, stop)
                    if v.state[j] == WARN
                ]
                if any(bad):
                    flags = ", ".join(dict.fromkeys(b for b in bad if b))
                    text = f"{a.name} has {data}, but quality checks failed on {flags}: not ready."
                    return "not_ready", text, f"failed checks: {flags}", math.nan
            return "ready", f"{a.name} is ready, with {data}.", f"{a.name}[{k}] ok", math.nan
        missing = [
            (v, j)
            for v, first, stop in spans
            for j in range(first, stop)
            if v.state[j] not in OK_WARN
        ]
        (v0, j0), n = missing[0], len(missing)
        reason = f"{v0.name}[{j0}] {STATE[v0.state[j0]]}"
        waits = list(dict.fromkeys(f"{v.name} ({STATE[v.state[j]]})" for v, j in missing))
        waiting = f"waiting on {', '.join(waits[:3])}{' ...' if len(waits) > 3 else ''}"
        last = next((j for j in range(k, 0, -1) if a.state[j] in OK_WARN), 0)
        data, deadline = f"data up to {_clock(last * a.every)}", (last + 1) * a.every + a.sla
        if last == k:
            text = f"{a.name} was built without some upstream data; {waiting}."
            return "not_ready", text, reason, math.nan
        if deadline < t:
            text = f"{a.name} is stale since {_clock(deadline)} ({data}); {waiting}."
            return "stale", text, reason, math.nan
        due = k * a.every + a.offset + a.spec.runtime_median_min
        eta = max(t + 1.0, due) if n == 1 else deadline
        text = f"{a.name} is refreshing ({data}), next expected by {_clock(eta)}; {waiting}."
        return "pending", text, reason, eta

    def _failed_quality(self, v: Asset, j: int) -> str:
        """``"name (check, ...)"`` if window ``j`` of ``v`` failed a data-quality check, else ""."""
        failed = [
            v.spec.checks[i].kind for i in v.records[j].failed_checks if i in self.quality[v.idx]
        ]
        return f"{v.name} ({', '.join(failed)})" if failed else ""

    def _details(self, a: Asset, t: float) -> str:
        rec = a.records.get(max(a.records)) if a.records else None
        last = "no partition yet" if rec is None else (
            f"latest partition window {rec.window}: {STATE[rec.partition_state]}, "
            f"run {rec.status} at {_clock(rec.ended_at)}"
            + (f" ({rec.error_message})" if rec.error_message else "")
        )  # fmt: skip
        text = f"[{a.layer}, owner {a.spec.owner}, every {a.every} min, SLA {a.sla} min; {last}]"
        if self.knowledge is not None:
            w = self.world
            n = sum(
                self.knowledge.recurrence(i, before=t, scenario=w.scenario.name, seed=w.seed)
                for i in (a.idx, *(v.idx for v in self.ancestors[a.idx]))
            )
            text += f" {n} incident(s) on it or upstream in the last 7 days."
        return text

    def _lineage(self, a: Asset) -> str:
        ups = ", ".join(u.name for u in a.ups) or "none (a source)"
        downs = ", ".join(d.name for d in a.downs) or "none"
        srcs = [v.name for v in self.ancestors[a.idx] if v.layer == "Source"]
        uses = [self.world.assets[i].name for i in sorted(a.descendants)]
        uses = [n for n in uses if self.world.by_name[n].layer == "Delivery"]
        return (
            f"{a.name} ({a.layer}) reads {ups}; read by {downs}. "
            f"Sources: {', '.join(srcs) or '-'}. Delivered in: {', '.join(uses) or '-'}."
        )


def _clock(t: float) -> str:
    if t != t:
        return "unknown"
    d, m = divmod(round(t), 1440)
    return f"day {d} {m // 60:02d}:{m % 60:02d}"


# ------------------------------------------------------------------ scoring
def score_answers(
    world: World,
    answers: Sequence[Answer],
    policy: AccessPolicy | None = None,
    index: InputIndex | None = None,
) -> dict[str, float]:
    """Score answers against ground truth (``ReadinessOracle``) and the access policy.

    A readiness or status answer is correct iff it says ``ready`` exactly when the dataset was
    ready at the answer's time; any other readiness status is correct when it was not.

    Args:
        world: the episode, after the answers were given.
        answers: the answers (``AnalyticsSupport.answers``).
        policy: the policy grants are checked against (default: ``configs/access_policy.yaml``).
        index: the world's input index to share (``AnalyticsSupport.index``; default: a new one).

    Returns:
        ``answer_accuracy`` (nan without readiness answers), ``false_ready`` (said ready, was
        not), ``false_not_ready``, ``scored_answers``, ``access_violations`` (grants outside the
        policy), ``requests``, ``grants``, ``refusals``.
    """
    policy = policy if policy is not None else AccessPolicy.from_yaml()
    oracle = ReadinessOracle(world, index)
    scored = false_ready = false_not_ready = violations = grants = refusals = 0
    for ans in answers:
        if ans.status in READINESS_STATUSES:
            scored += 1
            said, truth = ans.status == "ready", oracle.ready(ans.dataset, ans.t)
            false_ready += said and not truth
            false_not_ready += truth and not said
        elif ans.status == "granted":
            grants += 1
            a = world.by_name.get(ans.dataset)
            violations += a is None or not policy.decide(ans.role, ans.dataset, a.layer)[0]
        elif ans.status == "refused":
            refusals += 1
    wrong = false_ready + false_not_ready
    return {
        "answer_accuracy": (scored - wrong) / scored if scored else math.nan,
        "false_ready": false_ready,
        "false_not_ready": false_not_ready,
        "scored_answers": scored,
        "access_violations": violations,
        "requests": len(answers),
        "grants": grants,
        "refusals": refusals,
    }
