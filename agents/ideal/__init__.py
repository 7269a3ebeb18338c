"""BP-0005's ideal agents (``org=ideal``): they read what the rules organization observed.

=================  =============================================================================
module             what it holds
=================  =============================================================================
``ideal_org``      ``IdealAgents``: the ideal agents beside one ``run_org`` run (hook, measures,
                   artifacts)
``waste``          the Cost Optimizer's waste finder: what bought nothing, with its price
``cost_report``    the waste report and its resize recommendations replayed on the same seed
``sla_features``   the SLA breach predictor's named observable features (and, apart, its labels)
``sla_predict``    the predictor (logistic regression), predictive alerts and their scores
``deep_dive``      the Root Cause Analyzer's deep dives into recurring issues (owner teams)
=================  =============================================================================
"""
