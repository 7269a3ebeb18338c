"""BP-0005's ideal agents (``org=ideal``): they read what the rules organization observed.

``waste`` finds wasteful processing with its price; ``cost_report`` replays its recommendations
in the simulator and writes ``09_learning/cost-report.md``.
"""
