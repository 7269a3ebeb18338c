"""Scoring an organization against the ground truth: matching, the scorecard, the artifacts.

``matching`` pairs alerts, incidents and remediations with the ledger's faults;
``scorecard`` computes the blueprint's metrics from those tables; ``artifacts`` and
``artifact_sections`` write the blueprint's markdown records and the machine-readable tables.
"""
