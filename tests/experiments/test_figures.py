"""``experiments.figures``: every figure is a real PNG of sensible size, drawn deterministically."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from experiments.curve_figure import read_curve
from experiments.errors import UsageError
from experiments.figures import FIGURES, main, make_figures

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_size(path: Path) -> tuple[int, int]:
    """Width and height from the IHDR chunk (the first chunk of every PNG)."""
    head = path.read_bytes()[:24]
    assert head[:8] == PNG_SIGNATURE, f"{path.name} is not a PNG"
    assert head[12:16] == b"IHDR"
    width, height = struct.unpack(">II", head[16:24])
    return int(width), int(height)


@pytest.fixture(scope="module")
def drawn(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return make_figures(out=tmp_path_factory.mktemp("figures"))


def test_every_figure_is_a_png_of_sensible_size(drawn: list[Path]):
    assert [p.stem for p in drawn] == list(FIGURES)
    for path in drawn:
        width, height = _png_size(path)
        assert 800 <= width <= 2500 and 400 <= height <= 2500, (path.name, width, height)
        assert 20_000 < path.stat().st_size < 300_000, (path.name, path.stat().st_size)


def test_figures_are_deterministic(drawn: list[Path], tmp_path: Path):
    again = make_figures(out=tmp_path, only="incident_timeline")
    first = next(p for p in drawn if p.stem == "incident_timeline")
    assert again[0].read_bytes() == first.read_bytes()


def test_unknown_figure_is_refused_before_anything_is_written(tmp_path: Path, capsys):
    with pytest.raises(UsageError, match=r"only='dag'.*retail_dag"):
        make_figures(out=tmp_path / "out", only="dag")
    assert main(["--only=dag", f"--out={tmp_path / 'out'}"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "figures: error: only='dag'" in err
    assert not (tmp_path / "out").exists()


def _run_log(run: Path, *, rules: list[float], evaluations: str | None = None) -> Path:
    """A small training run directory: the three files the learning curve reads."""
    run.mkdir(parents=True, exist_ok=True)
    (run / "evaluations.csv").write_text(
        evaluations
        or "timesteps,mean_reward,std_reward,mean_ep_length\n"
        "2048,-20.0,4.0,12\n4096,-12.5,2.0,12\n6144,-9.0,3.0,12\n"
    )
    compare = [
        {"name": "maskable_ppo (seed 3)", "kind": "agent", "returns": [-9.0, -9.0, -9.0]},
        {"name": "rules", "kind": "baseline", "returns": rules},
        {"name": "oracle", "kind": "baseline", "returns": [-7.0, -5.0, 100.0]},
        {"name": "org:rules", "kind": "org", "mean_reward": None},
    ]
    (run / "compare.json").write_text(json.dumps(compare))
    config = {"seed": 3, "eval": {"episodes": 2}, "train": {"days": 2.0}}
    info = {"config": config, "scenario": "sc0002", "role": "triage", "algo": "maskable_ppo"}
    (run / "run.json").write_text(json.dumps(info))
    return run


def test_learning_curve_is_drawn_from_a_run_log_against_rules_and_oracle(tmp_path: Path):
    run = _run_log(tmp_path / "run", rules=[-10.0, -8.0, -100.0])
    curve = read_curve(run)
    assert curve.steps == (2048, 4096, 6144)
    assert curve.mean == (-20.0, -12.5, -9.0)
    assert curve.se == pytest.approx((4 / 2**0.5, 2 / 2**0.5, 3 / 2**0.5))
    # the reference lines are the baselines' means on the curve's own episodes (the first 2)
    assert curve.references == {"rules": -9.0, "oracle": -6.0}
    assert "MaskablePPO on sc0002" in curve.title and "seed 3" in curve.title
    out = tmp_path / "figs"
    assert main(["--only=learning_curve", f"--run={run}", f"--out={out}"]) == 0
    png = out / "learning_curve.png"
    width, height = _png_size(png)
    assert 800 <= width <= 2500 and 400 <= height <= 2500
    again = make_figures(out=tmp_path / "again", only="learning_curve", run=run)[0]
    assert again.read_bytes() == png.read_bytes()


@pytest.mark.parametrize(
    ("spoil", "needle"),
    [
        (lambda run: (run / "evaluations.csv").unlink(), "no evaluations.csv"),
        (lambda run: _run_log(run, rules=[-1.0]), "1 rules returns; expected at least the 2"),
        (
            lambda run: _run_log(run, rules=[1.0, 2.0], evaluations="timesteps,mean_reward\n"),
            "evaluations.csv has no rows",
        ),
    ],
)
def test_a_run_the_curve_cannot_use_is_one_line_and_nothing_is_drawn(
    tmp_path: Path, capsys, spoil, needle: str
):
    run = _run_log(tmp_path / "run", rules=[1.0, 2.0])
    spoil(run)
    out = tmp_path / "out"
    assert main([f"--run={run}", f"--out={out}"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("figures: error: run=") and needle in err, err
    assert not out.exists()
