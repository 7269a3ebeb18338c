"""The learning cycle's settings (one frozen record; the defaults are the study's).

``mode`` says where labels come from: ``on`` learns from reviewed or confirmed incidents only
(BP-0005 *Learning Data Quality*: no learning from wrong classifications, edge cases reviewed by a
person first); ``raw`` learns from every closed incident under the organization's own diagnosis,
unreviewed, so the value of review is measurable. ``off`` is no learning at all and has no config.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

LEARNING_MODES: Final = ("off", "on", "raw")
"""The ``learning=`` values of ``run_org``."""


@dataclass(frozen=True)
class LearningConfig:
    """Settings of the daily learning cycle.

    Attributes:
        mode: ``on`` or ``raw`` (see the module docstring).
        cycle_hour: hour of day (0 ≤ h < 24) the daily cycle runs at.
        review_gate: incidents diagnosed with a confidence below this go to the human reviewer;
            above it, a fix the oracle verified confirms the diagnosed cause.
        reviewer_accuracy: probability the reviewer names the true cause (else a wrong one).
        review_minutes: human minutes one review costs.
        threshold_step: z-score change per day per asset × signal with reviewed evidence.
        threshold_min, threshold_max: the bounds a learned threshold stays within.
        min_train: labelled incidents (causes, not false alarms) before a classifier is trained.
        classifier_c: inverse L2 regularization of the logistic regression.
        promote_after: verified successes of a (cause, destructive action) pair before it runs
            without a human's approval.
        approval_delay_min: minutes a proposal waits for a human's approval.
        approval_minutes: human minutes one approval costs.
        prevent_after: learned incidents of one cause on one asset within ``prevent_window_days``
            before a preventive measure is taken.
        prevent_window_days: the window recurrence is counted over.
        incident_value: what one avoided incident is worth in the world's money unit (the weekly
            review keeps a measure whose avoided incidents per day times this pay its cost);
            default one human hour at the scenarios' price (120).
        min_measure_days: days a measure runs before the weekly review may retire it.
    """

    mode: str = "on"
    cycle_hour: float = 6.0
    review_gate: float = 0.8
    reviewer_accuracy: float = 0.9
    review_minutes: float = 15.0
    threshold_step: float = 0.5
    threshold_min: float = 2.5
    threshold_max: float = 8.0
    min_train: int = 15
    classifier_c: float = 1.0
    promote_after: int = 3
    approval_delay_min: float = 30.0
    approval_minutes: float = 5.0
    prevent_after: int = 2
    prevent_window_days: float = 14.0
    incident_value: float = 120.0
    min_measure_days: float = 7.0

    def __post_init__(self) -> None:
        if self.mode not in ("on", "raw"):
            raise ValueError(
                f"learning: expected on or raw (off runs without a cycle), got {self.mode!r}"
            )
        if not 0 <= self.cycle_hour < 24:
            raise ValueError(f"cycle_hour: expected 0 <= hour < 24, got {self.cycle_hour}")
        if not 0.0 <= self.reviewer_accuracy <= 1.0:
            raise ValueError(
                f"reviewer_accuracy: expected a probability, got {self.reviewer_accuracy}"
            )
        if self.review_minutes < 0 or self.approval_minutes < 0 or self.approval_delay_min < 0:
            raise ValueError("review_minutes, approval_minutes, approval_delay_min: expected >= 0")
        if not 0 < self.threshold_min <= self.threshold_max:
            raise ValueError(
                f"threshold bounds: expected 0 < min <= max, got {self.threshold_min}, "
                f"{self.threshold_max}"
            )
        if self.promote_after < 1 or self.prevent_after < 1 or self.min_train < 2:
            raise ValueError("promote_after, prevent_after: expected >= 1; min_train: >= 2")
