"""Every notebook is paired with a py:percent file through jupytext, and the two agree."""

from __future__ import annotations

from pathlib import Path

import jupytext
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("ipynb", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_and_script_have_the_same_cells(ipynb: Path):
    script = ipynb.with_suffix(".py")
    assert script.exists(), f"{ipynb.name} has no paired {script.name}"
    a = jupytext.read(ipynb)
    b = jupytext.read(script)
    assert [(c.cell_type, c.source) for c in a.cells] == [(c.cell_type, c.source) for c in b.cells]
