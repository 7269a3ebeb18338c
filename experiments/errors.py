"""One-line errors for every entry point: ``<entry>: error: <message>`` on stderr, exit code 2.

A user's mistake — a bad scenario or pipeline file, an unknown scenario name, a policy that does
not fit its slot, a bad override value, an output directory that cannot be written — ends an
entry point with one line naming what was wrong and what was expected, never a traceback, and
before anything of the run is written (Hydra's own ``.hydra/`` record aside; a directory the user
named is never deleted). Every entry point uses this one module::

    @hydra.main(...)
    def main(cfg: DictConfig) -> None:
        with user_errors("simulate"):
            days = as_float(cfg, "days", allow_none=True)
            ...

    if __name__ == "__main__":
        run_entry("simulate", main)

``run_entry`` also checks, before Hydra starts, that a ``hydra.run.dir=<dir>`` given on the
command line can be created and written (Hydra itself would fail there with a traceback).

Exit codes: 2 for a user error (as ``argparse`` does); 1 for a service the run needs that is not
there (an unreachable tracking server: one line too) or a failure of the lab itself (a
traceback); 128 + n for a signal.
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn, Protocol, TypeVar

from omegaconf import OmegaConf

from agents.analytics.access_policy import AccessPolicyError
from agents.slots.resolve import SlotError
from envs.sim.faults import check_scenario
from scenarios import load_scenario
from scenarios.loader import ScenarioError

EXIT_USAGE = 2


class UsageError(ValueError):
    """A bad value on the command line: the message names the key, the value and what fits."""


USER_ERRORS: tuple[type[BaseException], ...] = (
    ScenarioError,
    AccessPolicyError,
    SlotError,
    UsageError,
)
"""The exceptions that mean "the input was wrong" (each carries a one-line message); an entry
point adds its own (``export`` adds the runtime's ``PolicyError``) through ``user_errors``."""


def fail(entry: str, message: str, code: int = EXIT_USAGE) -> NoReturn:
    """Print ``<entry>: error: <message>`` (one line) on stderr and exit with ``code`` (2)."""
    print(f"{entry}: error: {' '.join(str(message).split())}", file=sys.stderr)
    raise SystemExit(code)


@contextlib.contextmanager
def user_errors(entry: str, *extra: type[BaseException]) -> Iterator[None]:
    """Turn a user error (``USER_ERRORS`` and ``extra``) raised inside into ``fail(entry, ...)``."""
    try:
        yield
    except (*USER_ERRORS, *extra) as e:
        fail(entry, str(e))


def as_int(cfg: Any, key: str, *, minimum: int | None = None) -> int:
    """``cfg[key]`` as an int, or a ``UsageError`` naming the key and what was expected."""
    value = cfg.get(key)
    try:
        out = int(value)
        if isinstance(value, float) and value != out:
            raise ValueError
    except (TypeError, ValueError):
        raise UsageError(f"{key}={value!r}: expected an integer") from None
    if minimum is not None and out < minimum:
        raise UsageError(f"{key}={value!r}: expected an integer >= {minimum}")
    return out


def as_float(cfg: Any, key: str, *, allow_none: bool = False, positive: bool = False) -> Any:
    """``cfg[key]`` as a float (None kept if ``allow_none``), or a ``UsageError``."""
    value = cfg.get(key)
    if value is None and allow_none:
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise UsageError(
            f"{key}={value!r}: expected a number{' or null' if allow_none else ''}"
        ) from None
    if positive and not out > 0:
        raise UsageError(f"{key}={value!r}: expected a positive number")
    return out


class _ScenarioConfig(Protocol):
    @property
    def scenario(self) -> str: ...


_Config = TypeVar("_Config", bound=_ScenarioConfig)


def typed_config(
    entry: str, cfg: Any, parse: Callable[[dict[str, Any]], _Config], *, scenario: bool = True
) -> _Config:
    """The entry point's typed config from Hydra's ``cfg``, or a one-line user error.

    ``parse`` (a config class's ``from_mapping``) raises ``ValueError`` with a one-line message
    for a bad value; with ``scenario``, the config's ``scenario`` is loaded and checked
    (``envs.sim.faults.check_scenario``) too, so a bad scenario fails before anything is written.
    """
    plain = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(plain, dict)
    with user_errors(entry, ValueError):
        typed = parse({str(k): v for k, v in plain.items()})
    if scenario:
        with user_errors(entry):
            check_scenario(load_scenario(str(typed.scenario)))
    return typed


def _run_dir_override(argv: list[str]) -> str | None:
    for arg in argv:
        if arg.startswith(("hydra.run.dir=", "+hydra.run.dir=", "++hydra.run.dir=")):
            return arg.split("=", 1)[1]
    return None


def check_writable(directory: str | Path) -> None:
    """Refuse an output directory that cannot be created or written (a ``UsageError``).

    The directory is created as Hydra would create it; a probe file is written and removed.
    """
    d = Path(directory)
    try:
        d.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=d):
            pass
    except OSError as e:
        raise UsageError(
            f"hydra.run.dir={str(d)!r}: cannot be created or written ({e.strerror}); expected "
            "a writable directory"
        ) from None


def run_entry(entry: str, main: Callable[[], Any], argv: list[str] | None = None) -> None:
    """Run a Hydra ``main`` after checking a ``hydra.run.dir=`` override is writable."""
    args = sys.argv[1:] if argv is None else argv
    run_dir = _run_dir_override(args)
    if run_dir is not None:
        with user_errors(entry):
            check_writable(run_dir)
    main()
