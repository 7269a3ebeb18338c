"""The organization that learns: the Knowledge Manager's daily learning cycle and its parts.

BP-0005's *Learning Feedback Loop*, *Learning Data Quality* and *Automation Safety*, one concept
per module:

================  ==============================================================================
module            what it holds
================  ==============================================================================
``config``        ``LearningConfig``: the cycle's settings, ``LEARNING_MODES`` (off, on, raw)
``labels``        what a label is: root causes ↔ playbook keys, issue type, complexity
``review``        the review gate and the modeled human reviewer: incidents → labels
``thresholds``    per asset × signal anomaly thresholds from reviewed false alarms and misses
``classifier``    the daily-retrained logistic regression Issue Triage's layer 1 may follow
``autonomy``      (cause, destructive action) pairs promoted from *propose* to *autonomous*
``prevention``    recurring learned causes → preventive measures; retiring those that do not pay
``store``         the knowledge-base tables named for what they hold; one transaction per cycle
``cycle``         the daily SimPy process that runs all of it, atomically
``meter``         a daily meter of the world's cost counters (week-by-week tables)
``longrun``       ``run_weeks``: one multi-week run with memory (learning on, off or raw)
``warmstart``     what a run on a training-split seed learned, carried into an eval run via the KB
``weekly``        the weekly review artifacts ``09_learning/weekly-review-<n>.md``
================  ==============================================================================

Nothing here changes an organization that runs without a cycle: every hook
(``Organization.learning``, ``PipelineMonitor.set_asset_sensitivity``) is consulted only when set.
"""
