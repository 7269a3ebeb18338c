"""A seed's bytes do not depend on which SIMD kernels numpy dispatches to on this CPU.

numpy picks its float64 ``exp``/``cos``/``log`` kernels by CPU feature at import; on an AVX-512
machine they differ from the C library's in the last bit, which once made the golden digests
machine-dependent (``envs.sim.portable``). This runs golden cases twice in fresh processes, once
with numpy's AVX-512 kernels disabled, and compares the bytes. Where the CPU has no AVX-512 both
runs take the same kernels and the test would prove nothing: it is skipped, saying so.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT
from tests.golden import regen

AVX512 = ("AVX512_ICL", "X86_V4")
"""numpy's dispatch targets that use its own vectorized transcendental kernels (numpy ≥ 2.4)."""


def _active(features: tuple[str, ...]) -> list[str]:
    from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__

    return [f for f in features if f in __cpu_dispatch__ and __cpu_features__.get(f)]


def _digests(case: tuple[str, str, str], disable: list[str]) -> dict[str, str]:
    code = (
        "import json, sys; from tests.golden.regen import run_org_digests; "
        "print(json.dumps(run_org_digests(*sys.argv[1:])))"
    )
    env = {k: v for k, v in os.environ.items() if k != "NPY_DISABLE_CPU_FEATURES"}
    if disable:
        env["NPY_DISABLE_CPU_FEATURES"] = " ".join(disable)
    out = subprocess.run(
        [sys.executable, "-c", code, *case], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=600, check=True,
    )  # fmt: skip
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


@pytest.mark.skipif(not _active(AVX512), reason="this CPU has no AVX-512: one kernel set only")
@pytest.mark.parametrize(
    "case", [("generated", "manual", "train"), ("mixed", "manual", "train")],
    ids=lambda c: regen.run_org_key(*c),
)  # fmt: skip
def test_a_seed_writes_the_same_bytes_whichever_kernels_numpy_dispatches(
    case: tuple[str, str, str],
) -> None:
    with_avx512 = _digests(case, [])
    without = _digests(case, _active(AVX512))
    assert with_avx512 == without
    assert with_avx512 == regen.load()["run_org"][regen.run_org_key(*case)]
