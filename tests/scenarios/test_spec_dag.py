"""DAG validation copes with deep lineage (no recursion limit) and names the cycle it finds."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from scenarios.spec import PipelineSpec


def _chain(n: int, back_edge: bool = False) -> dict:
    assets = [{"name": "s0", "layer": "Source"}]
    for i in range(1, n):
        assets.append(
            {
                "name": f"t{i}",
                "layer": "Transformation",
                "upstream": [f"t{i - 1}" if i > 1 else "s0"],
            }
        )
    if back_edge:
        assets[1]["upstream"] = ["s0", f"t{n - 1}"]
    return {"name": "deep", "assets": assets}


def test_deep_chain_validates():
    spec = PipelineSpec.model_validate(_chain(3000))
    assert len(spec.assets) == 3000


def test_deep_cycle_is_reported():
    with pytest.raises(ValidationError, match="cycle in the DAG"):
        PipelineSpec.model_validate(_chain(3000, back_edge=True))
