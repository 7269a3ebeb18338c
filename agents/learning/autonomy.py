"""Autonomy that grows with evidence (BP-0005 *Automation Safety*).

Each (cause, destructive action) pair — the cause as diagnosed, the action one of
``scenarios.vocab.DESTRUCTIVE_ACTIONS`` — starts as ``propose``: before the organization runs a
playbook containing that action for that cause, a person approves it (the incident waits
``approval_delay_min`` and the approval costs ``approval_minutes`` of human time). After
``promote_after`` verified successes (the incident was fixed by the organization, the action among
its steps, none of them rolled back) the pair is promoted to ``autonomous`` and runs without
approval; one failure (the incident was not fixed, or the action failed, caused collateral damage
or was rolled back) demotes it to ``propose`` and its count starts again. Non-destructive actions
(retry, wait, rerun, backfill, dedupe, scaling) never need approval: the blueprint starts there.
Every change is a row of ``promotions``; the states are rebuilt from those rows, so they are what
the knowledge base says.
"""

from __future__ import annotations

from typing import Any

from agents.learning.config import LearningConfig
from agents.learning.review import Triaged
from scenarios.vocab import DESTRUCTIVE_ACTIONS

PROPOSE = "propose"
AUTONOMOUS = "autonomous"
_BAD_OUTCOMES = frozenset({"failed", "collateral", "undone"})


class Autonomy:
    """The autonomy state of every (cause, destructive action) pair.

    Args:
        cfg: ``promote_after``.
    """

    def __init__(self, cfg: LearningConfig) -> None:
        self.cfg = cfg
        self.state: dict[tuple[str, str], str] = {}
        self.successes: dict[tuple[str, str], int] = {}

    def needs_approval(self, cause: str, actions: list[str]) -> list[str]:
        """The destructive ``actions`` that a person must approve for ``cause``, in order."""
        return sorted(
            {a for a in actions if a in DESTRUCTIVE_ACTIONS}
            - {a for a in actions if self.state.get((cause, a)) == AUTONOMOUS}
        )

    def propose(
        self, closed: list[Any], triaged: dict[int, Triaged], day: int, t: float
    ) -> list[dict[str, Any]]:
        """The promotions and demotions the incidents closed today call for (``promotions`` rows).

        Args:
            closed: closed incidents (``IncidentSummary``), with their steps in ``steps``.
            triaged: what was diagnosed at each incident's triage.
            day: the cycle's day.
            t: the cycle's time.

        Returns:
            The rows; the in-memory states move only in ``apply``.
        """
        state, wins = dict(self.state), dict(self.successes)
        rows: list[dict[str, Any]] = []
        for s, steps in closed:
            tri = triaged.get(s.incident_id)
            if tri is None or not tri.cause:
                continue
            kinds = [st.kind for st in steps]
            rolled = "rollback" in kinds
            for action in sorted({k for k in kinds if k in DESTRUCTIVE_ACTIONS - {"rollback"}}):
                pair = (tri.cause, action)
                bad = [st for st in steps if st.kind == action and st.outcome in _BAD_OUTCOMES]
                ok = s.resolution == "auto" and s.remediation_success and not rolled and not bad
                old = state.get(pair, PROPOSE)
                if ok:
                    wins[pair] = wins.get(pair, 0) + 1
                    if old == PROPOSE and wins[pair] >= self.cfg.promote_after:
                        state[pair] = AUTONOMOUS
                        rows.append(_row(day, t, pair, old, AUTONOMOUS, wins[pair],
                                         f"{wins[pair]} verified successes (last: incident "
                                         f"{s.incident_id})"))  # fmt: skip
                else:
                    why = "rolled back" if rolled else "failed" if bad else "did not fix it"
                    if old == AUTONOMOUS:
                        rows.append(_row(day, t, pair, old, PROPOSE, wins.get(pair, 0),
                                         f"incident {s.incident_id}: {why}"))  # fmt: skip
                    state[pair] = PROPOSE
                    wins[pair] = 0
        self._pending = (state, wins)
        return rows

    def apply(self) -> None:
        """Take the states computed by the last ``propose`` (after the cycle committed)."""
        self.state, self.successes = self._pending


def _row(
    day: int, t: float, pair: tuple[str, str], old: str, new: str, wins: int, reason: str
) -> dict[str, Any]:
    return {
        "day": day, "t": t, "cause": pair[0], "action": pair[1], "from_state": old,
        "to_state": new, "successes": wins, "reason": reason,
    }  # fmt: skip
