"""The operations organization (BP-0005's agents) at the top, and one sub-package per other job.

=====================  ============================================================================
module / package       what it holds
=====================  ============================================================================
``org``                the organization wired together; the four organizations compared by config
``monitor``            Pipeline Monitor: detection, deduplicated and grouped alerts
``incidents``          the incident book the monitor groups alerts into
``history``            the history the monitor's baselines are primed with
``evidence``           the evidence about one incident, gathered once, read by rules and policies
``triage``             Issue Triage: route slot and guardrails (``IssueTriage``, ``RouteRequest``)
``triage_rules``       Issue Triage's rule layer (``TriageRules``, ``Proposal``)
``rca``                Root Cause Analyzer: root assets ranked through lineage
``playbooks``          routes and their remediation ladders
``remediation``        Auto-Remediation: runs the ladders, verifies, escalates
``knowledge``          Knowledge Manager: the incident knowledge base (SQLite)
``knowledge_review``   the knowledge base's patterns, best first actions and weekly 20/80 review
``records``            the typed records every agent writes (alerts, diagnoses, remediation steps)
``slots/``             what a policy in a slot sees and does: features, route mask, the SLA and
                       cost optimizers' views, slot resolution, the slot runner (``run_episode``)
``scoring/``           matching alerts to ground truth, the scorecard, the artifacts
``deploy/``            policy card, ONNX export, the torch-free runtime
``analytics/``         Analytics Support, its access policy and the readiness oracle
``ideal/``             the ideal organization's added agents (``org=ideal``), run beside the rules
                       organization: the Cost Optimizer's waste report (replay-verified), the
                       SLA Optimizer's breach predictions and the RCA deep dives
=====================  ============================================================================

Imports run one way: ``slots``, ``scoring`` and ``deploy`` build on the organization; the
organization imports ``analytics`` (it runs Analytics Support) and nothing else of the
sub-packages. No module of ``agents`` imports ``envs`` outside ``envs.sim`` (a test checks).
"""
