"""Analytics Support: analysts' requests answered, access granted or refused by policy.

``support`` answers readiness, status, lineage and access requests (``AnalyticsSupport``) and
scores the answers; ``access_policy`` is the data access policy (YAML, pydantic-validated);
``readiness`` is the ground truth a readiness answer is scored against.
"""
