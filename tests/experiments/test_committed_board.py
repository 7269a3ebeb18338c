"""The committed board: LEADERBOARD.md and its figures come from the committed results.

Issue 15's must-show: ``python -m experiments.leaderboard`` regenerates the committed
LEADERBOARD.md byte for byte from the committed ``results/``, and the stored episodes replay. A
full ``verify`` of every committed episode takes CPU-hours (every sla and cost episode is 168
simulated hours), so the suite replays one result file of each role and kind; ``python -m
experiments.leaderboard verify=true`` checks them all.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from experiments.evaluate import evaluate
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


def _learned(root: Path) -> list[Path]:
    return sorted(p for p in (root / "v1").glob("*/*/learned/*/*.json"))


def _policy_dir(spec: str) -> Path:
    assert spec.startswith("onnx:"), spec
    return ROOT / spec.removeprefix("onnx:")


@pytest.mark.parametrize("results", [RESULTS, RESULTS / "dev"], ids=["test", "dev"])
def test_every_learned_result_names_its_committed_policy(results: Path) -> None:
    # what is ranked can be obtained: the published policy the result was evaluated from is
    # committed under results/policies, and it is that file (sha256 of policy.onnx)
    for path in _learned(results):
        r = read_result(path)
        pub = _policy_dir(r.agent.spec)
        assert pub.is_relative_to(RESULTS / "policies"), f"{path}: {r.agent.spec}"
        onnx = pub / "policy.onnx"
        assert onnx.is_file(), f"{path}: {onnx} is not committed"
        assert hashlib.sha256(onnx.read_bytes()).hexdigest() == r.agent.sha256, path
        card = json.loads((pub / "policy.json").read_text())
        assert card["onnx_sha256"] == r.agent.sha256 and card["role"] == r.role, path


def _smallest_dev_learned_per_role() -> list[Path]:
    seen: dict[str, Path] = {}
    for path in _learned(RESULTS / "dev"):
        role = path.parts[-6]
        if role not in seen or path.stat().st_size < seen[role].stat().st_size:
            seen[role] = path
    return [seen[k] for k in sorted(seen)]


@pytest.mark.slow
@pytest.mark.parametrize(
    "path", _smallest_dev_learned_per_role(), ids=lambda p: "/".join(p.parts[-6:])
)
def test_a_committed_policy_plays_its_stored_episode_again(path: Path, tmp_path: Path) -> None:
    # replay re-derives an episode from its action log; this checks that the committed policy
    # is what chose those actions: evaluated again on the first dev seed, it takes the same ones
    stored = read_result(path)
    _, again = evaluate(
        f"onnx:{_policy_dir(stored.agent.spec)}", stored.role, stored.scenario.reference,
        split="dev", episodes=1, results=tmp_path, seed=stored.training_seed,
        days=stored.env.days,
    )  # fmt: skip
    assert again.agent.sha256 == stored.agent.sha256
    first, replayed = stored.episodes[0], again.episodes[0]
    assert replayed.seed == first.seed
    assert replayed.replay.actions == first.replay.actions
    assert replayed.replay.event_digest == first.replay.event_digest
    assert replayed.return_ == first.return_
