"""Submissions: an exported policy from a stranger, checked as untrusted input and evaluated by us.

``submit(policy_dir, name, ...)`` never trusts numbers that come with a submission. It

1. copies the directory's ``policy.json`` and ``policy.onnx`` into a private temporary directory
   (what is checked is what is evaluated: the submitter's files cannot change in between);
2. checks the ONNX file as untrusted input (``check_untrusted_onnx``): at most
   ``Limits.max_bytes``, parsed without loading external data, no tensor that references an
   external data file (a path that could point anywhere on the evaluator's disk), only the
   standard operator domains (``""``/``ai.onnx``, ``ai.onnx.ml``), no model-local functions, at
   most ``Limits.max_nodes`` nodes (subgraphs included);
3. loads the card and the graph with the deployment runtime (``agents.deploy.runtime``: the card's
   sha256 must be the file's, its input and output the card's) and refuses a card whose role is
   not one of the protocol's;
4. evaluates it with ``experiments.evaluate`` on the hidden test seeds of every scenario of its
   role (the generalization ones too), each in a subprocess with a wall-time limit and an
   address-space limit (``RLIMIT_AS``), so that a hostile or broken model cannot hang or crash
   the board; the salt reaches the subprocess through its environment, never its command line.

Each evaluation writes ``results/<protocol>/<role>/<scenario>/submission/<name>/<seed>.json``.
Any refusal is a ``SubmissionError`` with one line saying why; results of scenarios evaluated
before a later one failed are kept (each file is complete and verifiable on its own).
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from experiments.errors import UsageError
from experiments.protocol import SALT_ENV, load_protocol
from experiments.results import check_name

STANDARD_DOMAINS: Final[frozenset[str]] = frozenset({"", "ai.onnx", "ai.onnx.ml"})
"""The operator domains a submitted graph may use (ONNX's own)."""
_ROOT: Final[Path] = Path(__file__).resolve().parents[1]


class SubmissionError(UsageError):
    """A submission refused (the message says why, in one line)."""


@dataclass(frozen=True)
class Limits:
    """What a submission may take.

    Attributes:
        max_bytes: size of ``policy.onnx``.
        max_nodes: nodes of the graph, subgraphs included.
        timeout_s: wall time of one scenario's evaluation.
        memory_mb: address space of one scenario's evaluation process.
    """

    max_bytes: int = 16 * 2**20
    max_nodes: int = 10_000
    timeout_s: float = 1800.0
    memory_mb: int = 4096


def _graphs(graph: Any) -> list[Any]:
    """``graph`` and every subgraph inside its nodes' attributes, depth first."""
    out = [graph]
    for node in graph.node:
        for attr in node.attribute:
            if attr.HasField("g"):
                out += _graphs(attr.g)
            for g in attr.graphs:
                out += _graphs(g)
    return out


def _tensors(graph: Any) -> list[Any]:
    tensors = list(graph.initializer)
    tensors += [s.values for s in graph.sparse_initializer]
    for node in graph.node:
        for attr in node.attribute:
            if attr.HasField("t"):
                tensors.append(attr.t)
            tensors += list(attr.tensors)
    return tensors


def check_untrusted_onnx(path: Path, limits: Limits = Limits()) -> None:
    """Refuse an ONNX file that a stranger could use against the evaluator (step 2 above).

    Raises:
        SubmissionError: naming the first problem.
    """
    import onnx

    size = path.stat().st_size
    if size > limits.max_bytes:
        raise SubmissionError(
            f"{path.name}: {size} bytes; a submission's policy.onnx may have at most "
            f"{limits.max_bytes}"
        )
    try:
        model = onnx.load_model(str(path), load_external_data=False)
    except Exception as e:  # protobuf raises its own decode errors
        raise SubmissionError(f"{path.name}: not an ONNX model ({type(e).__name__})") from None
    for imp in model.opset_import:
        if imp.domain not in STANDARD_DOMAINS:
            raise SubmissionError(
                f"{path.name}: imports operator domain {imp.domain!r}; expected only the "
                "standard domains (ai.onnx, ai.onnx.ml)"
            )
    if len(model.functions):
        raise SubmissionError(f"{path.name}: defines model-local functions; expected none")
    graphs = _graphs(model.graph)
    nodes = 0
    for g in graphs:
        for node in g.node:
            nodes += 1
            if node.domain not in STANDARD_DOMAINS:
                raise SubmissionError(
                    f"{path.name}: node {node.name or node.op_type!r} uses operator domain "
                    f"{node.domain!r}; expected only the standard domains (ai.onnx, ai.onnx.ml)"
                )
        for t in _tensors(g):
            if t.data_location == onnx.TensorProto.EXTERNAL or len(t.external_data):
                raise SubmissionError(
                    f"{path.name}: tensor {t.name!r} references external data; a submission "
                    "must carry all its weights inside policy.onnx"
                )
    if nodes > limits.max_nodes:
        raise SubmissionError(
            f"{path.name}: {nodes} nodes; a submission may have at most {limits.max_nodes}"
        )


def _private_copy(policy_dir: Path, into: Path) -> Path:
    from agents.deploy.runtime import CARD_FILE, ONNX_FILE

    if not policy_dir.is_dir():
        raise SubmissionError(
            f"submit={str(policy_dir)!r}: not a directory; expected an exported policy "
            f"({CARD_FILE} + {ONNX_FILE})"
        )
    for f in (CARD_FILE, ONNX_FILE):
        src = policy_dir / f
        if not src.is_file() or src.is_symlink():
            raise SubmissionError(f"submit={str(policy_dir)!r}: {f} missing (or a link)")
        shutil.copyfile(src, into / f)
    return into


def _limit(memory_mb: int) -> Any:
    def apply() -> None:
        size = memory_mb * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (size, size))

    return apply


def submit(
    policy_dir: Path,
    name: str,
    *,
    protocol: str = "v1",
    results: Path = Path("results"),
    salt: str | None = None,
    seed: int | None = None,
    limits: Limits = Limits(),
    overrides: tuple[str, ...] = (),
) -> list[Path]:
    """Check and evaluate a submission; see the module docstring.

    Args:
        policy_dir: the submitted directory (``policy.json`` + ``policy.onnx``).
        name: the entry's name (its directory in the results layout).
        protocol: the protocol's name.
        results: the results directory.
        salt: the test set's salt (None: ``DATAOPS_GYM_SALT``).
        seed: the training seed to file it under (None: the card's, else 0).
        limits: size, node, time and memory limits.
        overrides: extra ``experiments.evaluate`` overrides (tests: ``days=``, ``episodes=``).

    Returns:
        The result files written, one per scenario.

    Raises:
        SubmissionError: the submission is refused or its evaluation failed; ``UsageError`` for
            bad arguments.
    """
    from agents.deploy.runtime import ONNX_FILE, PolicyError, load_policy

    check_name("name", name)
    proto = load_protocol(protocol)
    results = results.resolve()  # the evaluations run from the repository's root
    salt = salt or os.environ.get(SALT_ENV) or None
    if not salt:
        raise UsageError(
            f"protocol.salt: a submission is evaluated on the hidden test set; pass "
            f"protocol.salt=<secret> or set {SALT_ENV}"
        )
    written = []
    with tempfile.TemporaryDirectory(prefix="submission-") as tmp:
        (Path(tmp) / "policy").mkdir()
        copy = _private_copy(policy_dir, Path(tmp) / "policy")
        check_untrusted_onnx(copy / ONNX_FILE, limits)
        try:
            card = load_policy(copy).card
        except PolicyError as e:
            raise SubmissionError(f"submit={str(policy_dir)!r}: {e}") from None
        if card.role not in proto.roles:
            raise SubmissionError(f"submit: the card's role {card.role!r} is not a board role")
        env = {**os.environ, SALT_ENV: salt}
        for scenario in proto.role(card.role).all_scenarios:
            args = [sys.executable, "-m", "experiments.evaluate", f"agent=onnx:{copy}",
                    f"role={card.role}", f"scenario={scenario}", f"protocol={protocol}",
                    "split=test", "kind=submission", f"name={name}", f"results={results}",
                    f"hydra.run.dir={Path(tmp) / 'hydra' / scenario}", *overrides]  # fmt: skip
            if seed is not None:
                args.append(f"seed={seed}")
            try:
                r = subprocess.run(
                    args, cwd=_ROOT, env=env, capture_output=True, text=True,
                    timeout=limits.timeout_s, preexec_fn=_limit(limits.memory_mb),
                )  # fmt: skip
            except subprocess.TimeoutExpired:
                raise SubmissionError(
                    f"submit: the evaluation on {scenario} took more than {limits.timeout_s:g} s"
                ) from None
            if r.returncode != 0:
                last = (r.stderr.strip().splitlines() or ["(no message)"])[-1]
                raise SubmissionError(
                    f"submit: the evaluation on {scenario} failed (exit {r.returncode}): {last}"
                )
            written.append(Path(r.stdout.strip().splitlines()[-1].rsplit(" -> ", 1)[1]))
    return written
