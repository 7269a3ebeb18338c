"""MLflow is imported only by the tracking package (STYLE 12)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
IMPORT = re.compile(r"^\s*(import mlflow|from mlflow)", re.MULTILINE)


def test_only_the_tracking_package_imports_mlflow():
    offenders = []
    for pkg in ("envs", "agents", "scenarios", "experiments"):
        for f in (ROOT / pkg).rglob("*.py"):
            if f.is_relative_to(ROOT / "experiments" / "tracking"):
                continue
            if IMPORT.search(f.read_text()):
                offenders.append(str(f.relative_to(ROOT)))
    assert offenders == []


def test_the_tracking_package_does_import_it():
    # the check above must be able to fail: its pattern matches the real imports
    text = (ROOT / "experiments" / "tracking" / "store.py").read_text()
    assert IMPORT.search(text)
