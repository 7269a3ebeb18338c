"""Export run records as OpenLineage run events in JSON Lines: the simulator's telemetry files.

The public face of the OpenLineage export. The events themselves (their shapes, facets and ids)
are built by :mod:`envs.sim.run_events`, whose public names are re-exported here
(:data:`DEFAULT_START`, :data:`DEFAULT_PRODUCER`, :data:`FACET_SCHEMA_URLS`,
:data:`RUN_EVENT_SCHEMA_URL`, :func:`run_uuid`, :func:`to_openlineage`); see that module for the
events and their facets. This module writes them:

* :func:`json_encoder`: the encoder of the output (compact, sorted keys, UTF-8, no NaN).
* :func:`write_jsonl`: writes any events as JSON Lines, one object per line.
* :func:`export_jsonl`: writes exactly the bytes of
  ``write_jsonl(path, to_openlineage(records, assets, ...))`` about three times faster, without
  building the event dicts. The template machinery: the event builder
  (:class:`~envs.sim.run_events.EventBuilder`) is called once per asset and event shape with
  placeholder values (:class:`_Placeholders`); :func:`_compile` turns the encoded skeleton into a
  ``%``-template and the order of its slots; :func:`_encode_value` encodes each record's values
  exactly as the JSON encoder does.

Imports run one way: this module builds on :mod:`envs.sim.run_events`, which imports no writer.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from json.encoder import encode_basestring
from typing import Any, Final

from envs.sim.records import RunRecord
from envs.sim.run_events import (
    DEFAULT_PRODUCER,
    DEFAULT_START,
    FACET_SCHEMA_URLS,
    RUN_EVENT_SCHEMA_URL,
    Event,
    EventBuilder,
    run_uuid,
    to_openlineage,
)
from scenarios.spec import AssetSpec

__all__ = [
    "DEFAULT_PRODUCER",
    "DEFAULT_START",
    "FACET_SCHEMA_URLS",
    "RUN_EVENT_SCHEMA_URL",
    "export_jsonl",
    "json_encoder",
    "run_uuid",
    "to_openlineage",
    "write_jsonl",
]


def json_encoder() -> json.JSONEncoder:
    """The encoder of the JSON Lines output: compact, sorted keys, UTF-8 text, no NaN.

    Shared by :func:`write_jsonl` and :func:`export_jsonl`, so both write the same bytes.
    """
    return json.JSONEncoder(
        sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def write_jsonl(path: str | os.PathLike[str], events: Iterable[Mapping[str, Any]]) -> int:
    """Write events as JSON Lines: one compact object per line, keys sorted, UTF-8.

    The output is byte-for-byte deterministic for the same events. For run records,
    :func:`export_jsonl` writes the same bytes faster.

    Args:
        path: the file to create or overwrite.
        events: the events, e.g. from :func:`to_openlineage`.

    Returns:
        The number of events written.

    Raises:
        ValueError: if an event holds a NaN or infinite float (not JSON).
    """
    encode = json_encoder().encode
    n = 0
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        write = f.write
        for event in events:
            write(encode(event))
            write("\n")
            n += 1
    return n


# ----------------------------------------------------------------------------- fast export
_MARK: Final = "\x00\x01"
_SLOT: Final = re.compile(r'"\\u0000\\u0001(\w+)\\u0001\\u0000"')


class _Placeholders(dict[str, str]):
    """Values that stand for their own key: ``{key: "<mark>key<reversed mark>"}``."""

    def __init__(self, keys: Iterable[str]) -> None:
        super().__init__((k, f"{_MARK}{k}{_MARK[::-1]}") for k in keys)


def _compile(events: Iterable[Event], encode: Callable[[Any], str]) -> tuple[str, list[str]]:
    """Compile skeleton events into a ``%``-template of their JSON lines and its slot keys.

    Each encoded placeholder (a quoted string) becomes ``%s``; a ``%`` of the JSON text is
    doubled.
    """
    out: list[str] = []
    keys: list[str] = []
    for event in events:
        for i, piece in enumerate(_SLOT.split(encode(event))):
            if i % 2:
                keys.append(piece)
                out.append("%s")
            else:
                out.append(piece.replace("%", "%%"))
        out.append("\n")
    return "".join(out), keys


def _encode_value(x: Any, encode: Callable[[Any], str]) -> str:
    """Encode one value exactly as the JSON encoder does inside an object."""
    t = type(x)
    if t is str:
        return encode_basestring(x)
    if t is bool:
        return "true" if x else "false"
    if t is int:
        return int.__repr__(x)
    if t is float and math.isfinite(x):
        return float.__repr__(x)
    return encode(x)  # anything else, and non-finite floats (which raise)


def export_jsonl(
    path: str | os.PathLike[str],
    records: Iterable[RunRecord],
    assets: Sequence[AssetSpec],
    *,
    namespace: str = "dataops-gym",
    start: datetime = DEFAULT_START,
    producer: str = DEFAULT_PRODUCER,
) -> int:
    """Write the OpenLineage events of run records as JSON Lines, fast.

    Writes exactly the bytes of ``write_jsonl(path, to_openlineage(records, assets, ...))``
    without building the event dicts: each asset's event structure is compiled once (per shape:
    START, COMPLETE, FAIL with or without a stack trace) into a JSON template whose slots are
    filled with the encoded per-record values.

    Args:
        path: the file to create or overwrite.
        records: run records, e.g. a world's run log.
        assets: the asset specs indexed like ``RunRecord.asset`` (see :func:`to_openlineage`).
        namespace: OpenLineage namespace of the jobs and of the datasets.
        start: timezone-aware wall-clock time of simulated minute 0.
        producer: URI of the producer, used for the events and for every facet.

    Returns:
        The number of events written (two per record).

    Raises:
        ValueError: as :func:`to_openlineage`.
    """
    ex = EventBuilder(assets, namespace, start, producer)
    encode = json_encoder().encode
    templates: dict[tuple[int, tuple[str, ...]], tuple[str, list[str]]] = {}
    n = 0
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        write = f.write
        for rec in records:
            a = ex.asset(rec)
            v = ex.values(rec, a)
            shape = (a.index, tuple(v))
            compiled = templates.get(shape)
            if compiled is None:
                compiled = _compile(ex.events(a, _Placeholders(v)), encode)
                templates[shape] = compiled
            template, keys = compiled
            encoded = {k: _encode_value(x, encode) for k, x in v.items()}
            write(template % tuple([encoded[k] for k in keys]))
            n += 2
    return n
