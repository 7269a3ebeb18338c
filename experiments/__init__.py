"""Thin Hydra entry points: simulate, bench (and later run_org, train, ...)."""
