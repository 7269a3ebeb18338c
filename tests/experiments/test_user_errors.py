"""Every entry point: a user's mistake is one line ``<entry>: error: <message>``, exit 2, no run.

Each case runs the entry point as a user would (a fresh process, Hydra and all) on one class of
bad input, and requires: exit code 2, exactly one line on stderr that starts with
``<entry>: error:`` and names what was wrong, and nothing of the run in the output directory
(Hydra's own record aside: ``.hydra/`` and its ``<entry>.log``).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from scenarios.loader import SCENARIOS_DIR
from tests.conftest import ROOT

RETAIL = (SCENARIOS_DIR / "pipelines" / "retail.yaml").read_text()
SC0001 = (SCENARIOS_DIR / "sc0001.yaml").read_text()


def _files(tmp: Path, pipeline: str | None = None, scenario: str | None = None) -> Path:
    """A scenario file (and its own pipeline file) in ``tmp``; returns the scenario's path."""
    sc = scenario if scenario is not None else SC0001
    if pipeline is not None:
        (tmp / "mine_pipeline.yaml").write_text(pipeline)
        sc = sc.replace("pipeline: retail", "pipeline: mine_pipeline.yaml")
    path = tmp / "mine.yaml"
    path.write_text(sc)
    return path


def _sub(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def _scenario(edit: tuple[str, str] | None = None, append: str = "") -> object:
    """A case's arguments: ``scenario=<a copy of sc0001, edited>``."""

    def args(t: Path) -> list[str]:
        text = SC0001 if edit is None else _sub(SC0001, *edit)
        return [f"scenario={_files(t, scenario=text + append)}"]

    return args


def _pipeline(*edits: tuple[str, str]) -> object:
    """A case's arguments: sc0001 on a copy of the retail pipeline, edited."""

    def args(t: Path) -> list[str]:
        text = RETAIL
        for old, new in edits:
            text = _sub(text, old, new)
        return [f"scenario={_files(t, text)}"]

    return args


CASES: dict[str, tuple[str, object, str]] = {
    "unknown scenario name": ("simulate", lambda t: ["scenario=sc001"], "unknown scenario name"),
    "missing scenario file": (
        "run_org",
        lambda t: [f"scenario={t / 'nope.yaml'}"],
        "scenario file not found",
    ),
    "bad YAML": ("simulate", _scenario(append="faults: [\n"), "YAML"),
    "unknown field": ("run_org", _scenario(append="colour: blue\n"), "unknown field 'colour'"),
    "wrong layer": ("simulate", _pipeline(("layer: Source", "layer: Sauce")), "Sauce"),
    "cycle": (
        "run_org",
        _pipeline(  # two staging models reading each other
            (
                "upstream: [ingest_pos_transactions]",
                "upstream: [ingest_pos_transactions, stg_orders]",
            ),
            (
                "upstream: [ingest_ecommerce_orders]",
                "upstream: [ingest_ecommerce_orders, stg_pos_transactions]",
            ),
        ),
        "cycle",
    ),
    "unknown subtype": (
        "simulate",
        _scenario(("subtype: upstream_outage", "subtype: upstream_outge")),
        "upstream_outge",
    ),
    "negative rate": (
        "run_org",
        _scenario(("rate_per_day: 0.55", "rate_per_day: -1")),
        "rate_per_day",
    ),
    "missing pipeline file": (
        "run_org",
        _scenario(("pipeline: retail", "pipeline: ./gone.yaml")),
        "gone.yaml",
    ),
    "bad override value": (
        "run_org",
        lambda t: ["scenario=sc0001", "episodes=abc"],
        "episodes='abc'",
    ),
    "bad days": ("simulate", lambda t: ["scenario=sc0001", "days=-3"], "days=-3"),
    "unknown organization": ("run_org", lambda t: ["scenario=sc0001", "org=chaos"], "org: unknown"),
    "learning without weeks": (
        "run_org",
        lambda t: ["scenario=sc0001", "learning=on"],
        "learning=on: needs weeks",
    ),
    "bad weeks": ("run_org", lambda t: ["scenario=sc0001", "weeks=abc"], "weeks='abc'"),
    "train on an unknown scenario": (
        "train",
        lambda t: ["scenario=sc0009", "tracking=disabled"],
        "unknown scenario name 'sc0009'",
    ),
    "tune on a bad scenario file": (
        "tune",
        _scenario(append="colour: blue\n"),
        "unknown field 'colour'",
    ),
    "learnability with a bad seed": (
        "learnability",
        lambda t: ["scenarios=[sc0001]", "seeds=[zero]"],
        "seeds='zero'",
    ),
    "learnability with more episodes than the protocol's dev set": (
        "learnability",
        lambda t: ["scenarios=[sc0001]", "eval_episodes=31"],
        "eval_episodes=31: expected 1..30",
    ),
    "learnability with a baseline among the agents": (
        "learnability",
        lambda t: ["scenarios=[sc0001]", "agents=[baseline:rules]"],
        "agents: 'baseline:rules'; expected sb3:<zip> or onnx:<dir>",
    ),
    "learnability with an unknown algorithm": (
        "learnability",
        lambda t: ["algo=sac"],
        "algo: unknown option 'sac'",
    ),
    "entries with a role the protocol does not have": (
        "entries",
        lambda t: ["roles=[billing]", f"runs={t / 'runs'}"],
        "roles: 'billing' is not a role of protocol v1",
    ),
    "entries with a discrete-only algorithm on a continuous role": (
        "entries",
        lambda t: ["roles=[sla]", "algos.sla=[dqn]", f"runs={t / 'runs'}"],
        "algos.sla: dqn needs a discrete action space",
    ),
    "entries with a generalization source that is not trained": (
        "entries",
        lambda t: ["generalization_from=mixed", f"runs={t / 'runs'}"],
        "generalization_from: 'mixed' is not a scored scenario",
    ),
    "entries on the test set without a salt": (
        "entries",
        lambda t: ["protocol.salt=", f"runs={t / 'runs'}"],
        "protocol.salt: the test split needs the hidden set's salt",
    ),
    "bench with an unknown part": ("bench", lambda t: ["part=everything"], "unknown part"),
    "export without a model": ("export", lambda t: [], "model/run_id"),
    "fault that can never be injected": (
        "run_org",
        _scenario(
            (
                "upstream_outage\n    rate_per_day: 0.7\n",
                "upstream_outage\n    rate_per_day: 0.7\n    assets: [ingest_pos_transactions]\n",
            )
        ),
        "can never be injected",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_one_line_exit_2_and_nothing_written(tmp_path: Path, case: str) -> None:
    entry, make_args, needle = CASES[case]
    args: Any = make_args
    run_dir = tmp_path / "run"
    out = subprocess.run(
        [sys.executable, "-m", f"experiments.{entry}", *args(tmp_path), f"hydra.run.dir={run_dir}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert out.returncode == 2, out.stderr[-2000:]
    assert len(lines) == 1, out.stderr[-2000:]
    assert lines[0].startswith(f"{entry}: error: "), lines[0]
    assert needle in lines[0], lines[0]
    written = sorted(p.name for p in run_dir.iterdir()) if run_dir.exists() else []
    assert set(written) <= {".hydra", f"{entry}.log"}, written  # Hydra's own record only


def test_an_unwritable_output_directory_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    out = subprocess.run(
        [sys.executable, "-m", "experiments.simulate", "scenario=sc0001", "days=1",
         f"hydra.run.dir={blocker / 'run'}"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert out.returncode == 2 and len(lines) == 1, out.stderr[-2000:]
    assert lines[0].startswith("simulate: error: hydra.run.dir="), lines[0]
    assert blocker.read_text() == "not a directory"  # nothing the user named is touched
