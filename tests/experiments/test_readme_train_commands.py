"""Every `experiments.train` command line in README.md composes into a valid TrainConfig.

The README's commands are read from its ```bash blocks, swept overrides (`seed=0,1,2`) are expanded
with Hydra's own override parser, and each combination is composed from `configs/` exactly as
`python -m experiments.train` would (nothing trains). A renamed config group, option or key breaks
this test instead of the documentation.
"""

from __future__ import annotations

import itertools
import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf

from experiments.algos import ALGOS
from experiments.train_config import ROLES, TrainConfig

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
CONFIGS = ROOT / "configs"
ENTRY = "experiments.train"


def _bash_commands(text: str) -> Iterator[str]:
    """Logical command lines of the ```bash blocks (backslash continuations joined)."""
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.DOTALL):
        yield from block.replace("\\\n", " ").splitlines()


def readme_train_overrides() -> list[list[str]]:
    """One override list per `experiments.train` job the README shows (sweeps expanded)."""
    parser = OverridesParser.create()
    jobs: list[list[str]] = []
    for line in _bash_commands(README.read_text()):
        words = shlex.split(line, comments=True)
        if ENTRY not in words:
            continue
        args = words[words.index(ENTRY) + 1 :]
        # launcher and run-directory settings belong to Hydra, not to the TrainConfig
        args = [a for a in args if a not in ("--multirun", "-m") and not a.startswith("hydra")]
        choices = []
        for o in parser.parse_overrides(args):
            key = o.get_key_element()
            if o.is_sweep_override():
                choices.append([f"{key}={v}" for v in o.sweep_string_iterator()])
            else:
                choices.append([o.input_line or f"{key}={o.value()}"])
        jobs.extend(list(combo) for combo in itertools.product(*choices))
    return [list(j) for j in dict.fromkeys(tuple(j) for j in jobs)]  # once each, in README order


JOBS = readme_train_overrides()


def _compose(overrides: list[str]) -> TrainConfig:
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        cfg = compose(config_name="train", overrides=overrides, return_hydra_config=True)
    # ${hydra:runtime.cwd} (tracking=sqlite) resolves only against a current HydraConfig; the
    # hydra node itself has job-time values (hydra.job.num) and is left out
    hc = HydraConfig.instance()
    previous = hc.cfg
    hc.set_config(cfg)
    try:
        job = OmegaConf.to_container(cfg, resolve=False)
        assert isinstance(job, dict)
        job.pop("hydra")
        plain = OmegaConf.to_container(OmegaConf.create(job), resolve=True)
    finally:
        hc.cfg = previous
    assert isinstance(plain, dict)
    return TrainConfig.from_mapping({str(k): v for k, v in plain.items()})


def test_the_readme_shows_train_commands_for_every_overlay_role_and_algo():
    shown: dict[str, set[str]] = {"experiment": set(), "role": set(), "algo": set()}
    for job in JOBS:
        for o in job:
            key, _, value = o.partition("=")
            if key in shown:
                shown[key].add(value)
    # every documented option exists (an unknown experiment= would compose silently: the group is
    # optional), and every overlay, role and algorithm of the contract is documented
    for group, values in shown.items():
        assert values <= {p.stem for p in (CONFIGS / group).glob("*.yaml")}, group
    assert shown["experiment"] == {p.stem for p in (CONFIGS / "experiment").glob("*.yaml")}
    assert shown["role"] == set(ROLES)
    assert shown["algo"] == set(ALGOS)


@pytest.mark.parametrize("overrides", JOBS, ids=[" ".join(j) or "defaults" for j in JOBS])
def test_a_readme_train_command_composes_into_a_valid_train_config(overrides: list[str]):
    tc = _compose(overrides)
    for o in overrides:
        key, _, value = o.partition("=")
        if key in ("role", "algo"):
            assert getattr(tc, key).name == value
        elif key in ("scenario", "seed", "resume"):
            assert str(getattr(tc, key)) == value
        elif key == "train.timesteps":
            assert tc.train.timesteps == int(value)
        elif key == "tracking":
            assert tc.tracking.backend == ("disabled" if value == "disabled" else "mlflow")
    if tc.tracking.backend == "mlflow":
        assert tc.tracking.uri


def test_the_readme_launchers_exist():
    presets = {p.stem for p in (CONFIGS / "hydra" / "launcher").glob("*.yaml")}
    plugins = {"basic", "joblib", "submitit_local", "submitit_slurm", "ray"}  # Hydra's own names
    shown = set(re.findall(r"hydra/launcher=(\w+)", README.read_text()))
    assert shown, "the README shows no launcher"
    assert shown <= presets | plugins, shown - presets - plugins
