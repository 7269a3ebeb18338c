"""The board's entries runner: what it plans, that it trains and evaluates, and that it resumes."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from omegaconf import OmegaConf

from experiments.entries import plan, settings
from experiments.results import read_result
from tests.conftest import ROOT

CFG = ROOT / "configs" / "entries.yaml"


def _cfg(**over: object):  # type: ignore[no-untyped-def]
    raw = OmegaConf.to_container(OmegaConf.load(CFG))
    assert isinstance(raw, dict)
    raw.pop("defaults"), raw.pop("hydra")
    raw["protocol"] = {"name": "v1", "salt": "a test salt"}
    raw.update(over)
    return OmegaConf.create(raw)


def test_the_plan_covers_every_entry_seed_and_scenario_of_the_protocol() -> None:
    jobs = plan(settings(_cfg()))
    learned = [j for j in jobs if j.train is not None]
    # triage: 3 algos, sla and cost: 2 each; 5 seeds; 3 scored scenarios
    assert len(learned) == (3 + 2 + 2) * 5 * 3
    assert len({j.run_dir for j in learned}) == len(learned)
    for j in learned:
        assert any(a == "train.timesteps=50000" for a in j.train or [])
        targets = {(e.scenario, e.split) for e in j.evaluations}
        trained_on = next(a for a in j.train or [] if a.startswith("scenario=")).partition("=")[2]
        expect = {trained_on} | ({"mixed"} if trained_on == "sc0002" else set())
        assert targets == {(s, sp) for s in expect for sp in ("dev", "test")}
        assert j.published is not None and j.published.parts[-6:] == (
            "policies", "v1", j.evaluations[0].role, trained_on, j.evaluations[0].name,
            str(j.evaluations[0].seed),
        )  # fmt: skip
        # the published copy is what is evaluated
        assert all(e.kind == "learned" and e.agent == f"onnx:{j.published}" for e in j.evaluations)
    base = [j for j in jobs if j.train is None]
    assert len(base) == 3 * 4  # roles x (3 scored + mixed)
    orgs = {e.role for j in base for e in j.evaluations if e.kind == "org"}
    assert orgs == {"triage"}  # organizations are filed once, under triage


def test_entries_train_export_evaluate_then_resume_without_redoing_anything(
    tmp_path: Path,
) -> None:
    args = [
        "roles=[sla]", "algos.sla=[a2c]", "scenarios=[sc0001]", "seeds=[3]", "timesteps=128",
        "episodes=2", "days=1", "baselines=false", "splits=[dev,test]",
        "protocol.salt=a test salt", f"runs={tmp_path / 'runs'}",
        f"results.dev={tmp_path / 'dev'}", f"results.test={tmp_path / 'test'}",
        f"policies={tmp_path / 'policies'}",
        "tracking=disabled", "jobs=1",
    ]  # fmt: skip

    def entries() -> str:
        out = subprocess.run(
            [sys.executable, "-m", "experiments.entries", *args], cwd=ROOT, capture_output=True,
            text=True, timeout=600,
        )  # fmt: skip
        assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
        return out.stdout

    first = entries()
    assert "trained sla-sc0001-a2c-seed3" in first
    files = {sp: tmp_path / sp / "v1/sla/sc0001/learned/a2c/3.json" for sp in ("dev", "test")}
    pub = tmp_path / "policies/v1/sla/sc0001/a2c/3"
    card = json.loads((pub / "policy.json").read_text())
    assert card == json.loads(
        (tmp_path / "runs/sla/sc0001/a2c_seed3/policy/policy.json").read_text()
    )
    assert card["training_run"]["timesteps"] >= 128 and card["training_run"]["scenario_sha256"]
    for split, path in files.items():
        r = read_result(path)
        assert r.split == split and r.kind == "learned" and r.training_seed == 3
        assert r.agent.sha256 == card["onnx_sha256"]  # the exported policy is what is ranked
        assert r.agent.spec == f"onnx:{pub}" and r.training_timesteps
        assert len(r.episodes) == 2
    assert read_result(files["test"]).salt_sha256 is not None
    stamps = {p: p.stat().st_mtime_ns for p in files.values()}
    second = entries()
    assert "trained" not in second and "v1/sla" not in second  # nothing redone
    assert {p: p.stat().st_mtime_ns for p in files.values()} == stamps
    # a new machine: the training runs are gone, the published (committed) policy is not
    shutil.rmtree(tmp_path / "runs")
    third = entries()
    assert "trained" not in third and "v1/sla" not in third
    assert {p: p.stat().st_mtime_ns for p in files.values()} == stamps
    # a published policy of a smaller budget is not the entry's: it is trained again
    card["training_run"]["timesteps"] = 64
    (pub / "policy.json").write_text(json.dumps(card))
    assert "trained sla-sc0001-a2c-seed3" in entries()


def test_a_job_another_entries_process_holds_is_left_to_it_and_named(tmp_path: Path) -> None:
    from filelock import FileLock

    args = [
        "roles=[sla]", "algos.sla=[a2c]", "scenarios=[sc0001]", "seeds=[3]", "timesteps=128",
        "episodes=1", "days=1", "baselines=false", "splits=[dev]", f"runs={tmp_path / 'runs'}",
        f"results.dev={tmp_path / 'dev'}", f"policies={tmp_path / 'policies'}",
        "tracking=disabled", "jobs=1",
    ]  # fmt: skip
    (tmp_path / "runs" / "locks").mkdir(parents=True)
    with FileLock(str(tmp_path / "runs" / "locks" / "sla-sc0001-a2c-seed3.lock")):
        out = subprocess.run(
            [sys.executable, "-m", "experiments.entries", *args], cwd=ROOT, capture_output=True,
            text=True, timeout=600,
        )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    assert "sla-sc0001-a2c-seed3: another entries process is running it" in out.stdout
    assert "1 job(s) left to another entries process (sla-sc0001-a2c-seed3)" in out.stdout
    assert "rank them" not in out.stdout
    assert not (tmp_path / "runs" / "sla").exists() and not (tmp_path / "dev").exists()
