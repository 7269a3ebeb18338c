"""Submissions are untrusted input: hand-made malicious models are refused; a fair one is
evaluated by the board itself on the hidden test seeds, in a limited subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from agents.deploy.runtime import sha256_of
from experiments.results import read_result
from experiments.submission import Limits, SubmissionError, check_untrusted_onnx, submit
from experiments.verify import verify
from tests.conftest import ROOT

torch.set_num_threads(1)
SALT = "test-salt"
QUICK = ("days=3", "episodes=1")


def _model(nodes, initializers=(), domains=(("", 17),), functions=()) -> onnx.ModelProto:
    graph = helper.make_graph(
        list(nodes), "g",
        [helper.make_tensor_value_info("obs", TensorProto.FLOAT, [None, 2])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [None, 2])],
        initializer=list(initializers),
    )  # fmt: skip
    opsets = [helper.make_opsetid(d, v) for d, v in domains]
    return helper.make_model(graph, opset_imports=opsets, functions=list(functions))


def _save(tmp: Path, model: onnx.ModelProto) -> Path:
    path = tmp / "policy.onnx"
    path.write_bytes(model.SerializeToString())
    return path


def test_a_plain_graph_passes(tmp_path):
    check_untrusted_onnx(
        _save(tmp_path, _model([helper.make_node("Identity", ["obs"], ["logits"])]))
    )


def test_external_data_is_refused(tmp_path):
    w = helper.make_tensor("w", TensorProto.FLOAT, [2], [0.0, 0.0])
    w.ClearField("float_data")
    w.data_location = TensorProto.EXTERNAL
    w.external_data.add(key="location", value="../../../../etc/shadow")
    m = _model([helper.make_node("Add", ["obs", "w"], ["logits"])], initializers=[w])
    with pytest.raises(SubmissionError, match="tensor 'w' references external data"):
        check_untrusted_onnx(_save(tmp_path, m))


def test_a_custom_operator_domain_is_refused(tmp_path):
    m = _model([helper.make_node("Evil", ["obs"], ["logits"], domain="com.attacker")],
               domains=(("", 17),))  # fmt: skip
    with pytest.raises(SubmissionError, match=r"operator domain 'com\.attacker'"):
        check_untrusted_onnx(_save(tmp_path, m))
    m = _model([helper.make_node("Identity", ["obs"], ["logits"])],
               domains=(("", 17), ("com.microsoft", 1)))  # fmt: skip
    with pytest.raises(SubmissionError, match=r"imports operator domain 'com\.microsoft'"):
        check_untrusted_onnx(_save(tmp_path, m))


def test_size_and_node_limits(tmp_path):
    chain = [helper.make_node("Identity", ["obs"], ["t0"])]
    chain += [helper.make_node("Identity", [f"t{i}"], [f"t{i + 1}"]) for i in range(30)]
    chain += [helper.make_node("Identity", ["t30"], ["logits"])]
    path = _save(tmp_path, _model(chain))
    with pytest.raises(SubmissionError, match="32 nodes; a submission may have at most 10"):
        check_untrusted_onnx(path, Limits(max_nodes=10))
    with pytest.raises(
        SubmissionError, match=r"bytes; a submission's policy\.onnx may have at most 100"
    ):
        check_untrusted_onnx(path, Limits(max_bytes=100))


def test_garbage_is_refused(tmp_path):
    path = tmp_path / "policy.onnx"
    path.write_bytes(b"\x00\xffnot a model" * 10)
    with pytest.raises(SubmissionError, match="not an ONNX model"):
        check_untrusted_onnx(path)


@pytest.fixture
def policy_dir(untrained_triage_policy: Path) -> Path:
    """The shared exported triage policy (tests/conftest.py)."""
    return untrained_triage_policy


def test_a_fair_submission_is_evaluated_on_every_scenario_of_its_role(policy_dir, tmp_path):
    results = tmp_path / "results"
    files = submit(policy_dir, "mine", results=results, salt=SALT, overrides=QUICK)
    assert [f.relative_to(results).as_posix() for f in files] == [
        f"v1/triage/{sc}/submission/mine/0.json" for sc in ("sc0001", "sc0002", "sc0003", "mixed")
    ]
    r = read_result(files[0])
    assert r.kind == "submission" and r.split == "test" and r.salt_sha256 is not None
    assert r.agent.sha256 == sha256_of((policy_dir / "policy.onnx").read_bytes())
    assert verify(results, salt=SALT) == (4, 4)


def test_a_tampered_submission_is_refused_before_any_evaluation(policy_dir, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "policy.json").write_text((policy_dir / "policy.json").read_text())
    m = _model([helper.make_node("Evil", ["obs"], ["logits"], domain="com.attacker")])
    _save(bad, m)
    results = tmp_path / "results"
    with pytest.raises(SubmissionError, match=r"operator domain 'com\.attacker'"):
        submit(bad, "evil", results=results, salt=SALT, overrides=QUICK)
    card = json.loads((bad / "policy.json").read_text())
    model = onnx.load_model(str(policy_dir / "policy.onnx"))
    w = model.graph.initializer[0]
    w.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(w) + 1.0, w.name))  # one weight set
    _save(bad, model)
    with pytest.raises(SubmissionError, match="does not match the card's onnx_sha256"):
        submit(bad, "evil", results=results, salt=SALT, overrides=QUICK)
    assert card["role"] == "triage" and not results.exists()


def test_an_evaluation_over_its_time_limit_is_stopped(policy_dir, tmp_path):
    with pytest.raises(SubmissionError, match=r"the evaluation on sc0001 took more than 0.5 s"):
        submit(policy_dir, "slow", results=tmp_path / "r", salt=SALT, overrides=QUICK,
               limits=Limits(timeout_s=0.5))  # fmt: skip


def test_the_cli_refuses_in_one_line(tmp_path, policy_dir):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "policy.json").write_text((policy_dir / "policy.json").read_text())
    w = helper.make_tensor("w", TensorProto.FLOAT, [2], np.zeros(2, dtype=np.float32))
    w.ClearField("float_data")
    w.data_location = TensorProto.EXTERNAL
    w.external_data.add(key="location", value="/etc/passwd")
    _save(bad, _model([helper.make_node("Add", ["obs", "w"], ["logits"])], initializers=[w]))
    results = tmp_path / "results"
    r = subprocess.run(
        [sys.executable, "-m", "experiments.leaderboard", f"submit={bad}", "name=evil",
         f"results={results}", f"protocol.salt={SALT}"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("leaderboard: error: policy.onnx: tensor 'w'")
    assert not results.exists()


def test_an_evaluation_over_its_memory_limit_fails_cleanly(policy_dir, tmp_path):
    with pytest.raises(SubmissionError, match=r"the evaluation on sc0001 failed \(exit \d+\)") as e:
        submit(policy_dir, "fat", results=tmp_path / "r", salt=SALT, overrides=QUICK,
               limits=Limits(memory_mb=256))  # fmt: skip
    assert "\n" not in str(e.value)
