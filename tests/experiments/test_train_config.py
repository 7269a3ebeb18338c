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
