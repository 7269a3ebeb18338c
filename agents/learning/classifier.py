"""The issue classifier: a logistic regression on the triage evidence, retrained every day.

It predicts an incident's root cause (one of ``agents.learning.labels.CAUSES``) from the triage
feature vector (``agents.slots.features.TRIAGE_FEATURES``: the evidence record Issue Triage
computes, every feature already scaled into [-1, 1]); the cause says the issue type and the
remediation complexity (auto-fix, manual; ``agents.learning.labels``), so one model answers the
blueprint's "which features indicate fixable vs unfixable issues". False alarms are left to the
threshold tuner: the classifier is trained on labelled causes only.

- **Training** (daily): scikit-learn's ``LogisticRegression`` (multinomial, L2, newton-cg — a
  deterministic solver, 3-4x faster than lbfgs on these ~100-row problems — trained on
  log loss, so its probabilities are calibrated in the sense that matters here — they are
  compared with the rules' confidence) on every cause label so far, once there are ``min_train``
  of at least two causes. The fitted parameters are stored as JSON (``classifier_versions.model``:
  classes, coefficients, intercepts) and the organization predicts from those numbers
  (``LinearModel``), never from a pickle.
- **Held-out accuracy** (daily): a version trained on day *d* is scored on the labels of day
  *d + 1*, which it has never seen (prequential evaluation: learning data apart from the data it
  is tested on); issue type and complexity are scored through the cause.
- **Use** (Issue Triage layer 1, ``refine``): when its probability for a cause of the rules' issue
  type beats the rules' own confidence, its cause replaces the rules' (the playbook follows the
  cause; the target asset stays the rules'); the guardrails still apply.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
from sklearn.linear_model import LogisticRegression

from agents.learning.labels import FALSE_ALARM, complexity_of, issue_type_of


class LinearModel(NamedTuple):
    """A fitted multinomial logistic model as plain numbers.

    Attributes:
        version: its version (1, 2, ...).
        classes: the causes, in column order.
        coef: (n_classes, n_features) weights; ``intercept`` (n_classes,).
    """

    version: int
    classes: tuple[str, ...]
    coef: np.ndarray
    intercept: np.ndarray

    def proba(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities of one feature vector."""
        z = self.coef @ np.asarray(x, dtype=float) + self.intercept
        z = z - z.max()
        e = np.exp(z)
        return np.asarray(e / e.sum())

    def predict(self, x: np.ndarray) -> tuple[str, float]:
        """The most probable cause of one feature vector, and its probability."""
        p = self.proba(x)
        i = int(np.argmax(p))
        return self.classes[i], float(p[i])

    def to_json(self) -> dict[str, Any]:
        """The parameters as JSON-ready lists."""
        return {
            "classes": list(self.classes),
            "coef": self.coef.round(8).tolist(),
            "intercept": self.intercept.round(8).tolist(),
        }


def fit(
    features: Sequence[Sequence[float]], causes: Sequence[str], version: int, c: float
) -> LinearModel:
    """Fit a model on labelled causes.

    Raises:
        ValueError: fewer than two causes among the labels (nothing to tell apart).
    """
    y = np.asarray(causes)
    classes = sorted(set(causes))
    if len(classes) < 2:
        raise ValueError(f"classifier: needs labels of at least two causes, got {classes}")
    model = LogisticRegression(C=c, solver="newton-cg", max_iter=200)
    model.fit(np.asarray(features, dtype=float), y)
    coef, intercept = np.asarray(model.coef_), np.asarray(model.intercept_)
    if len(classes) == 2:  # scikit-learn keeps one row for two classes: the second's log-odds
        coef = np.vstack([np.zeros_like(coef[0]), coef[0]])
        intercept = np.array([0.0, intercept[0]])
    return LinearModel(version, tuple(str(k) for k in model.classes_), coef, intercept)


def holdout_accuracy(
    model: LinearModel, features: Sequence[Sequence[float]], causes: Sequence[str]
) -> dict[str, float]:
    """Accuracy of ``model`` on labels it was not trained on (false alarms excluded).

    Returns:
        ``n_holdout`` and the accuracies of cause, issue type and complexity (nan: no labels).
    """
    pairs = [(x, y) for x, y in zip(features, causes, strict=True) if y != FALSE_ALARM]
    if not pairs:
        return {"n_holdout": 0, "cause": math.nan, "type": math.nan, "complexity": math.nan}
    pred = [model.predict(np.asarray(x))[0] for x, _ in pairs]
    truth = [y for _, y in pairs]
    n = len(pairs)
    return {
        "n_holdout": n,
        "cause": sum(p == y for p, y in zip(pred, truth, strict=True)) / n,
        "type": sum(issue_type_of(p) == issue_type_of(y) for p, y in zip(pred, truth, strict=True))
        / n,
        "complexity": sum(
            complexity_of(p) == complexity_of(y) for p, y in zip(pred, truth, strict=True)
        )
        / n,
    }


def from_json(version: int, payload: dict[str, Any]) -> LinearModel:
    """A stored model back from ``classifier_versions.model``."""
    return LinearModel(
        version,
        tuple(payload["classes"]),
        np.asarray(payload["coef"], dtype=float),
        np.asarray(payload["intercept"], dtype=float),
    )
