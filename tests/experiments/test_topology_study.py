"""experiments.topology_study: its cells, its JSON and a warehouse the loader refuses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from experiments.topology_study import _parse, study


def test_arguments_are_key_value() -> None:
    kw = _parse(["sizes=50,120", "bases=sc0001", "episodes=2", "days=2", "slots=12"])
    assert kw == {"sizes": (50, 120), "bases": ("sc0001",), "episodes": 2, "days": 2.0, "slots": 12}
    with pytest.raises(SystemExit):
        _parse(["size=50"])


def test_a_small_study_writes_its_cells(tmp_path: Path) -> None:
    out = study((50,), ("sc0002",), episodes=1, days=2.0, out=tmp_path)
    (cell,) = out["cells"]
    assert cell["assets"] == 50 and cell["slots"] == cell["nominal_peak_slots"] == 11
    assert cell["episodes"] == 1 and cell["faults"] == cell["faults_per_episode"]
    assert json.loads((tmp_path / "topology_study.json").read_text()) == out
    assert (tmp_path / "cells" / "sc0002-g50-7" / "incidents.csv").exists()


def test_an_undersized_warehouse_is_recorded_as_refused(tmp_path: Path) -> None:
    out = study((300,), ("sc0002",), episodes=1, days=2.0, slots="scenario", out=tmp_path)
    (cell,) = out["cells"]
    assert cell["slots"] == 8
    assert "cannot carry" in cell["refused"]
