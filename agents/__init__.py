"""The operations organization (rule-based agents), RL glue and the deployment runtime."""
