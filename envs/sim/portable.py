"""Transcendental functions whose results do not depend on the CPU numpy dispatches to.

numpy computes ``exp``, ``log``, ``cos`` … of float64 arrays (and of numpy scalars) with SIMD
kernels chosen at import time by the CPU's features: on a machine with AVX-512 it uses its own
vectorized implementations, elsewhere the C library's. Both are accurate to about one ulp, but
they do not agree bit for bit, and the simulator's times and statistics inherit the difference:
the same seed then writes a different last digit into the ledger and the scorecard on two
machines (measured: ``NPY_DISABLE_CPU_FEATURES="AVX512_ICL X86_V4"`` made an AVX-512 machine
reproduce the digests an AVX2 machine recorded, and nothing else did).

So the simulator and the organization compute these functions through the C library
(``math``), element by element, here. It costs ~0.1 µs per value (a 7-day hourly asset draws 169
values per episode) and makes a seed's outcome the same on every x86-64 and ARM machine with the
same C library. Arithmetic (+, −, ×, ÷, sqrt) is exact IEEE 754 under any dispatch and needs none.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np


def _each(f: Callable[[float], float], x: np.ndarray) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    return np.fromiter(map(f, a.ravel().tolist()), np.float64, a.size).reshape(a.shape)


def exp(x: np.ndarray) -> np.ndarray:
    """``math.exp`` of each element of a float64 array (same shape)."""
    return _each(math.exp, x)


def cos(x: np.ndarray) -> np.ndarray:
    """``math.cos`` of each element of a float64 array (same shape)."""
    return _each(math.cos, x)
