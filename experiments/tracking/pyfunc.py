r"""An exported policy as an MLflow pyfunc model (models-from-code) for ``mlflow models serve``.

``save_policy_model(policy_dir, dst)`` writes an MLflow model directory whose code is the small
script ``MODEL_CODE`` (models-from-code: nothing is pickled) and whose artifact is the exported
policy (``policy.onnx`` + ``policy.json``). Loaded, it is a ``PolicyModel``: it opens the policy
with the torch-free runtime (``agents.deploy.runtime.load_policy``, which checks the card and the
sha256) and answers ``predict`` with the deterministic actions.

Input (``/invocations`` or ``pyfunc.load_model(...).predict``): a DataFrame whose columns are the
card's feature names (any order; extra ``mask:<action name>`` columns of 0/1 give the action mask of
a masked policy), or a 2-D array of observations in feature order. Output: a DataFrame with
``action`` (Discrete) and, for a Discrete policy, ``action_name``; for MultiDiscrete, one column per
action dimension.

Serve it::

    mlflow models serve -m models:/<name>@<alias> --env-manager local --host 127.0.0.1 -p 5001
    curl -s 127.0.0.1:5001/invocations -H 'Content-Type: application/json' \\
        -d '{"dataframe_split": {"columns": [...features...], "data": [[...]]}}'
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

MODEL_CODE = '''"""dataops-gym exported policy as an MLflow pyfunc (models-from-code)."""
import mlflow

from experiments.tracking.pyfunc import policy_model

mlflow.models.set_model(policy_model())
'''
MASK_PREFIX = "mask:"


def predict_frame(policy: Any, data: Any) -> pd.DataFrame:
    """The actions of ``policy`` (an ``agents.deploy.runtime.OnnxPolicy``) for a batch of inputs.

    Raises:
        ValueError: missing feature columns or a wrong number of columns.
    """
    card = policy.card
    feats = list(card.observation.feature_names)
    mask = None
    if isinstance(data, pd.DataFrame):
        missing = [f for f in feats if f not in data.columns]
        if missing:
            raise ValueError(
                f"input: missing feature columns {missing[:5]}{' ...' if len(missing) > 5 else ''};"
                f" expected the card's {len(feats)} features"
            )
        obs = data[feats].to_numpy(dtype=np.float32)
        names = list(card.action.action_names or [])
        mcols = [f"{MASK_PREFIX}{n}" for n in names]
        if names and all(c in data.columns for c in mcols):
            mask = data[mcols].to_numpy().astype(bool)
    else:
        obs = np.asarray(data, dtype=np.float32)
        if obs.ndim == 1:
            obs = obs[None, :]
    actions = np.asarray(policy.act(obs, mask=mask))
    if card.action.kind == "discrete":
        out = pd.DataFrame({"action": actions.reshape(-1).astype(int)})
        names = list(card.action.action_names or [])
        if names:
            out["action_name"] = [names[int(a)] for a in out["action"]]
        return out
    dims = list(card.action.dimension_names or [f"dim_{i}" for i in range(actions.shape[-1])])
    return pd.DataFrame(actions.reshape(len(obs), -1).astype(int), columns=dims)


def policy_model() -> Any:
    """A fresh ``mlflow.pyfunc.PythonModel`` serving an exported policy (artifact ``policy``)."""
    from mlflow.pyfunc import PythonModel

    class PolicyModel(PythonModel):
        """Deterministic actions of an exported dataops-gym policy."""

        def load_context(self, context: Any) -> None:
            from agents.deploy.runtime import load_policy

            self.policy = load_policy(context.artifacts["policy"])

        def predict(self, context: Any, model_input: Any, params: Any = None) -> pd.DataFrame:
            return predict_frame(self.policy, model_input)

    return PolicyModel()


def _signature(policy_dir: Path) -> Any:
    from mlflow.models import ModelSignature
    from mlflow.types.schema import ColSpec, Schema, TensorSpec

    from agents.deploy.runtime import read_card

    card = read_card(policy_dir)
    cols: list[ColSpec | TensorSpec] = [ColSpec("float", f) for f in card.observation.feature_names]
    if card.masked:
        cols += [
            ColSpec("long", f"{MASK_PREFIX}{n}", required=False)
            for n in card.action.action_names or []
        ]
    outs: list[ColSpec | TensorSpec]
    if card.action.kind == "discrete":
        outs = [ColSpec("long", "action"), ColSpec("string", "action_name")]
    else:
        nvec = card.action.nvec or ()
        dims = card.action.dimension_names or [f"dim_{i}" for i in range(len(nvec))]
        outs = [ColSpec("long", d) for d in dims]
    return ModelSignature(inputs=Schema(cols), outputs=Schema(outs))


def _example(policy_dir: Path) -> pd.DataFrame:
    from agents.deploy.runtime import read_card

    card = read_card(policy_dir)
    return pd.DataFrame([np.zeros(len(card.observation.feature_names), dtype=np.float32)],
                        columns=list(card.observation.feature_names))  # fmt: skip


def save_policy_model(policy_dir: Path, dst: Path) -> Path:
    """Write the MLflow pyfunc model of an exported policy into ``dst`` (must not exist)."""
    import mlflow.pyfunc

    with tempfile.TemporaryDirectory() as tmp:
        code = Path(tmp) / "policy_model.py"
        code.write_text(MODEL_CODE)
        mlflow.pyfunc.save_model(
            str(dst),
            python_model=str(code),
            artifacts={"policy": str(policy_dir)},
            signature=_signature(policy_dir),
            input_example=_example(policy_dir),
            pip_requirements=["dataops-gym", "onnxruntime", "numpy", "pandas", "pydantic"],
        )
    return dst
