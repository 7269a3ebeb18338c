"""The learning study entry point: one JSON per run as it finishes, resumable, aggregated."""

from __future__ import annotations

import json

import pytest

from experiments.learning_study import _parse, main


def test_the_study_writes_each_run_resumes_and_aggregates(tmp_path):
    args = ["scenarios=sc0001", "seeds=1", "weeks=1", "modes=off,on", f"out={tmp_path}"]
    main(args)
    runs = sorted(p.name for p in (tmp_path / "runs").glob("*.json"))
    assert runs == ["sc0001-off-seed1000000.json", "sc0001-on-seed1000000.json"]
    for name in ("learning_study.json", "learning_study.md", "learning_curve_weeks.png"):
        assert (tmp_path / name).stat().st_size > 0, name
    agg = json.loads((tmp_path / "learning_study.json").read_text())
    assert {(c["mode"], c["week"]) for c in agg["cells"]} == {("off", 1), ("on", 1)}
    assert [p["contrast"] for p in agg["paired"]] == ["on - off"]
    on = json.loads((tmp_path / "runs" / runs[1]).read_text())
    assert on["learning"]["labels"] > 0 and len(on["table"]) == 1
    stamps = {p: p.stat().st_mtime_ns for p in (tmp_path / "runs").glob("*.json")}
    main(args)  # resumed: finished runs are not run again
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "runs").glob("*.json")} == stamps


def test_a_warm_start_study_labels_its_runs_and_contrasts_warm_with_cold(tmp_path):
    base = ["scenarios=sc0001", "seeds=1", "weeks=1", f"out={tmp_path}"]
    main([*base, "modes=off,on"])
    main([*base, "modes=off,on", "pretrain_weeks=1"])  # off is the same run: not run again
    runs = sorted(p.name for p in (tmp_path / "runs").glob("*.json"))
    assert runs == ["sc0001-off-seed1000000.json", "sc0001-on+pre1-seed1000000.json",
                    "sc0001-on-seed1000000.json"]  # fmt: skip
    warm = json.loads((tmp_path / "runs" / runs[1]).read_text())
    assert warm["pretrain_weeks"] == 1 and warm["learning"]["warm_start"]["train_seed"] == 0
    agg = json.loads((tmp_path / "learning_study.json").read_text())
    assert [p["contrast"] for p in agg["paired"]] == ["on - off", "on+pre1 - off", "on+pre1 - on"]
    with pytest.raises(SystemExit, match="pretrain_weeks: needs split=eval"):
        main([*base, "split=train", "pretrain_weeks=1"])


@pytest.mark.parametrize(
    ("arg", "match"),
    [("seeds=0", "seeds='0'"), ("modes=on,maybe", "unknown"), ("colour=blue", "key=value"),
     ("split=test", "train or eval"), ("pretrain_weeks=-1", "integer >= 0")],
)  # fmt: skip
def test_bad_arguments_are_refused_with_one_line(arg, match):
    with pytest.raises(SystemExit, match=match):
        _parse([arg])
