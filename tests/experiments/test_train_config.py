from __future__ import annotations

from experiments.train_config import AlgoConfig


def test_for_role_hands_out_a_copy_the_algorithm_may_write_into():
    algo = AlgoConfig(
        name="a2c",
        hyperparams={"policy_kwargs": {"net_arch": [64, 64]}},
        per_role={"cost": {"gamma": 0.95}},
    )
    hp = algo.for_role("cost")
    hp["policy_kwargs"]["optimizer_class"] = object  # what A2C does with use_rms_prop
    assert hp["gamma"] == 0.95
    assert algo.hyperparams == {"policy_kwargs": {"net_arch": [64, 64]}}
    algo.model_dump(mode="json")  # run.json and the tracked params still serialize


def test_auto_vec_env_puts_a_lone_jobs_envs_in_workers_and_a_sweeps_in_its_process():
    from experiments.train_config import resolve_vec_env

    assert resolve_vec_env("auto", 4, sweeping=False, cores=2) == "subproc"
    assert resolve_vec_env("auto", 4, sweeping=True, cores=2) == "dummy"  # jobs fill the cores
    assert resolve_vec_env("auto", 1, sweeping=False, cores=32) == "dummy"  # one env: no worker
    assert resolve_vec_env("auto", 4, sweeping=False, cores=1) == "dummy"
    # an explicit choice is kept, sweep or not
    assert resolve_vec_env("subproc", 4, sweeping=True, cores=2) == "subproc"
    assert resolve_vec_env("dummy", 4, sweeping=False, cores=32) == "dummy"


def test_the_resolved_vec_env_is_what_the_run_records():
    import pytest

    from experiments.train_config import TrainConfig

    base = {
        "scenario": "sc0001",
        "role": {"name": "sla"},
        "algo": {"name": "ppo"},
        "train": {"n_envs": 4},
    }
    cfg = TrainConfig.from_mapping(base)
    assert cfg.train.vec_env == "auto"
    assert cfg.with_vec_env(sweeping=False, cores=2).train.vec_env == "subproc"
    assert cfg.with_vec_env(sweeping=True, cores=2).train.vec_env == "dummy"
    assert cfg.with_vec_env(sweeping=False, cores=2).model_dump()["train"]["n_envs"] == 4
    with pytest.raises(ValueError, match=r"train\.vec_env"):
        TrainConfig.from_mapping({**base, "train": {"vec_env": "threads"}})
