"""Generate the JSON Schemas of scenario and pipeline files from the pydantic models.

Run ``python -m scenarios.schema`` after changing ``scenarios/spec.py`` to rewrite
``scenarios/schema.json`` and ``scenarios/pipeline.schema.json``; ``--check`` only reports whether
the committed files are up to date (exit status 1 if not). Editors can use the files for
completion and validation of YAML scenarios.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel

from scenarios.spec import PipelineSpec, ScenarioSpec

SCHEMA_DIR = Path(__file__).resolve().parent
SCHEMAS: dict[str, type[BaseModel]] = {
    "schema.json": ScenarioSpec,
    "pipeline.schema.json": PipelineSpec,
}
"""File name (in ``scenarios/``) → the model it describes."""

_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def render(model: type[BaseModel]) -> str:
    """Return the JSON Schema of ``model`` as the text stored in the repository.

    Args:
        model: a pydantic model class.

    Returns:
        Pretty-printed JSON with a trailing newline.
    """
    schema = {"$schema": _DIALECT, **model.model_json_schema()}
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Write (or with ``--check`` verify) the schema files.

    Args:
        argv: command-line arguments; ``None`` reads ``sys.argv``.

    Returns:
        The exit status: 0 on success, 1 if ``--check`` found a stale file.
    """
    parser = argparse.ArgumentParser(prog="python -m scenarios.schema", description=__doc__)
    parser.add_argument("--check", action="store_true", help="verify instead of writing")
    args = parser.parse_args(argv)
    stale = []
    for file_name, model in SCHEMAS.items():
        path = SCHEMA_DIR / file_name
        text = render(model)
        if path.is_file() and path.read_text(encoding="utf-8") == text:
            continue
        if args.check:
            stale.append(file_name)
        else:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    if stale:
        print(f"stale: {', '.join(stale)}; run python -m scenarios.schema")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
