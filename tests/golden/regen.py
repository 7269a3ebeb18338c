"""Golden digests: today's behaviour of the world, the organization and the environments, pinned.

``digests.json`` (beside this file) holds sha256 digests of

- ``run_org``: for each scenario of ``SCENARIOS`` × organization of ``ORGS`` × split of
  ``SPLITS``, the three files a run writes whose bytes are its behaviour —
  ``events.openlineage.jsonl``, ``ledger.csv`` and ``scorecard.json`` — from
  ``experiments.run_org.run(scenario, org, EPISODES, split, out, events_episodes=EPISODES)``
  (``EPISODES`` full-horizon episodes on the split's first seeds, the knowledge base carried
  from the first episode to the second);
- ``rollouts``: for each registered env id × role, a ``ROLLOUT_STEPS``-step rollout under
  ``envs.baselines.RandomPolicy(env, seed=POLICY_SEED)`` from ``reset(seed=RESET_SEED)``
  (resetting without a seed when an episode ends): every observation, reward, termination,
  truncation, action mask and info dict, in order, canonically encoded.

``tests/golden/test_golden.py`` recomputes every digest and compares. Regenerating
(``python -m tests.golden.regen``) is a deliberate act: it records a behaviour change, made in
its own commit that says what changed and why, with the version history of what changed
(scenario, env or organization) updated — never a way to make a red test green.

Usage::

    python -m tests.golden.regen            # rewrite digests.json
    python -m tests.golden.regen --check    # compare only; exit 1 naming each differing digest
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
DIGESTS = HERE / "digests.json"
GENERATED = HERE / "generated.yaml"
"""A scenario with every issue type on the generated topology ``generated:60:5``."""

SCENARIOS = ("sc0001", "sc0002", "sc0003", "nofault", "mixed", "generated")
ORGS = ("manual", "static", "elementary", "rules")
SPLITS = ("train", "eval")
EPISODES = 2
RUN_FILES = ("events.openlineage.jsonl", "ledger.csv", "scorecard.json")
ROLES = ("triage", "sla", "cost")
ROLLOUT_STEPS = 300
RESET_SEED = 7
POLICY_SEED = 0


def scenario_ref(name: str) -> str:
    """The reference ``run_org`` and the envs load for a golden scenario name."""
    return str(GENERATED) if name == "generated" else name


def run_org_digests(name: str, org: str, split: str) -> dict[str, str]:
    """sha256 of each of ``RUN_FILES`` of one ``run_org`` run (in a temporary directory)."""
    from experiments.run_org import run

    with tempfile.TemporaryDirectory(prefix="golden-") as tmp:
        out = Path(tmp) / "run"
        run(scenario_ref(name), org, EPISODES, split, out, events_episodes=EPISODES)
        return {f: hashlib.sha256((out / f).read_bytes()).hexdigest() for f in RUN_FILES}


def _canonical(value: Any) -> Any:
    """A JSON-encodable, exact form of an observation, mask or info value."""
    if isinstance(value, np.ndarray):
        return {
            "dtype": str(value.dtype),
            "shape": list(value.shape),
            "data": value.tobytes().hex(),
        }
    if isinstance(value, np.generic):
        return _canonical(value.item())
    if isinstance(value, float):
        return repr(value) if not math.isfinite(value) else value.hex()
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if value is None or isinstance(value, (bool, int, str)):
        return value
    raise TypeError(f"golden rollout: cannot encode {type(value).__name__} {value!r} exactly")


def _rollout_records(env_id: str, role: str, policy_seed: int) -> Iterator[Any]:
    """The canonical records of one seeded random rollout, one per reset and per step."""
    import gymnasium as gym

    import envs  # noqa: F401  (registers the ids)
    from envs import ENV_IDS
    from envs.baselines import RandomPolicy

    kwargs: dict[str, Any] = {"role": role}
    if ENV_IDS[env_id] is None:
        kwargs["scenario"] = scenario_ref("generated")
    env = gym.make(env_id, **kwargs)
    try:
        policy = RandomPolicy(env, seed=policy_seed)
        masks = getattr(env.unwrapped, "action_masks", None)
        obs, info = env.reset(seed=RESET_SEED)
        yield {"reset": _canonical(obs), "info": _canonical(info)}
        for _ in range(ROLLOUT_STEPS):
            action, _ = policy.predict(obs)
            obs, reward, terminated, truncated, info = env.step(action)
            yield {
                "action": _canonical(action),
                "obs": _canonical(obs),
                "reward": _canonical(float(reward)),
                "terminated": bool(terminated),
                "truncated": bool(truncated),
                "mask": None if masks is None else _canonical(masks()),
                "info": _canonical(info),
            }
            if terminated or truncated:
                obs, info = env.reset()
                yield {"reset": _canonical(obs), "info": _canonical(info)}
    finally:
        env.close()


def rollout_digest(env_id: str, role: str, policy_seed: int = POLICY_SEED) -> str:
    """sha256 of one seeded random rollout's canonical records (``policy_seed``: the policy's)."""
    h = hashlib.sha256()
    for record in _rollout_records(env_id, role, policy_seed):
        h.update(json.dumps(record, sort_keys=True, separators=(",", ":")).encode())
        h.update(b"\n")
    return h.hexdigest()


def run_org_key(name: str, org: str, split: str) -> str:
    """The key of one ``run_org`` case in ``digests.json``."""
    return f"{name}/{org}/{split}"


def rollout_key(env_id: str, role: str) -> str:
    """The key of one rollout case in ``digests.json``."""
    return f"{env_id}/{role}"


def run_org_cases() -> list[tuple[str, str, str]]:
    """Every (scenario, org, split) case."""
    return [(s, o, sp) for s in SCENARIOS for o in ORGS for sp in SPLITS]


def rollout_cases() -> list[tuple[str, str]]:
    """Every (env id, role) case."""
    from envs import ENV_IDS

    return [(e, r) for e in ENV_IDS for r in ROLES]


def compute() -> dict[str, dict[str, Any]]:
    """Every digest, in the layout of ``digests.json``."""
    return {
        "run_org": {run_org_key(*c): run_org_digests(*c) for c in run_org_cases()},
        "rollouts": {rollout_key(*c): rollout_digest(*c) for c in rollout_cases()},
    }


def load() -> dict[str, dict[str, Any]]:
    """The committed digests."""
    data: dict[str, dict[str, Any]] = json.loads(DIGESTS.read_text())
    return data


def differences(expected: dict[str, Any], actual: dict[str, Any]) -> list[str]:
    """One line per digest that differs, is missing or is new."""
    lines = []
    for part in sorted(set(expected) | set(actual)):
        exp, act = expected.get(part, {}), actual.get(part, {})
        for key in sorted(set(exp) | set(act)):
            if exp.get(key) != act.get(key):
                lines.append(f"{part}/{key}: committed {exp.get(key)} != now {act.get(key)}")
    return lines


def main(argv: list[str] | None = None) -> int:
    """Rewrite ``digests.json`` (or, with ``--check``, compare against it)."""
    parser = argparse.ArgumentParser(prog="python -m tests.golden.regen", description=__doc__)
    parser.add_argument("--check", action="store_true", help="compare only; write nothing")
    args = parser.parse_args(argv)
    actual = compute()
    if args.check:
        diff = differences(load(), actual)
        for line in diff:
            print(line)
        print(f"golden: {len(diff)} digest(s) differ" if diff else "golden: all digests match")
        return 1 if diff else 0
    DIGESTS.write_text(json.dumps(actual, indent=1, sort_keys=True) + "\n")
    n = sum(len(v) for v in actual.values())
    print(f"golden: wrote {n} cases to tests/golden/{DIGESTS.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
