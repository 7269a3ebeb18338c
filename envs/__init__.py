"""Gymnasium environments (thin adapters) and the pure SimPy simulator in ``envs.sim``."""
