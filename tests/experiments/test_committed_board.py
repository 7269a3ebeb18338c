"""The committed board: LEADERBOARD.md and its figures come from the committed results.

Issue 15's must-show: ``python -m experiments.leaderboard`` regenerates the committed
LEADERBOARD.md byte for byte from the committed ``results/``, and the stored episodes replay. A
full ``verify`` of every committed episode takes CPU-hours (every sla and cost episode is 168
simulated hours), so the suite replays one result file of each role and kind; ``python -m
experiments.leaderboard verify=true`` checks them all.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from experiments.leaderboard import write_board
from experiments.results import read_result
from experiments.verify import verify_file
from tests.conftest import ROOT

RESULTS = ROOT / "results"
BOARD = ROOT / "LEADERBOARD.md"


def test_the_committed_board_is_regenerated_byte_for_byte(tmp_path: Path) -> None:
    out = tmp_path / "LEADERBOARD.md"
    write_board(RESULTS, "v1", "test", out, tmp_path / "docs" / "figures")
    assert out.read_text() == BOARD.read_text(), (
        "LEADERBOARD.md is not what the committed results give: rerun python -m "
        "experiments.leaderboard and commit it with the results"
    )
    for png in sorted((tmp_path / "docs" / "figures").glob("*.png")):
        assert png.read_bytes() == (ROOT / "docs" / "figures" / png.name).read_bytes(), png.name


def _one_per_role_and_kind() -> list[Path]:
    """Per (role, kind), the committed result file with the fewest bytes (the quickest replay)."""
    seen: dict[tuple[str, str], Path] = {}
    for path in sorted((RESULTS / "v1").glob("*/*/*/*/*.json")):
        key = path.parts[-5], path.parts[-3]  # <v1>/<role>/<scenario>/<kind>/<agent>/<seed>
        if key not in seen or path.stat().st_size < seen[key].stat().st_size:
            seen[key] = path
    return [seen[k] for k in sorted(seen)]


@pytest.mark.slow
@pytest.mark.parametrize("path", _one_per_role_and_kind(), ids=lambda p: "/".join(p.parts[-6:]))
def test_a_committed_result_of_each_role_and_kind_replays(path: Path, tmp_path: Path) -> None:
    # the file alone, at its place in a results tree: verify re-derives every episode from its
    # replay record (the dev/test split of the seeds included) and compares return and digest
    rel = path.relative_to(RESULTS)
    copy = tmp_path / rel
    copy.parent.mkdir(parents=True)
    shutil.copy(path, copy)
    assert verify_file(tmp_path, copy) == len(read_result(path).episodes)
