"""``experiments.figures``: every figure is a real PNG of sensible size, drawn deterministically."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from experiments.errors import UsageError
from experiments.figures import FIGURES, main, make_figures

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_size(path: Path) -> tuple[int, int]:
    """Width and height from the IHDR chunk (the first chunk of every PNG)."""
    head = path.read_bytes()[:24]
    assert head[:8] == PNG_SIGNATURE, f"{path.name} is not a PNG"
    assert head[12:16] == b"IHDR"
    width, height = struct.unpack(">II", head[16:24])
    return int(width), int(height)


@pytest.fixture(scope="module")
def drawn(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return make_figures(out=tmp_path_factory.mktemp("figures"))


def test_every_figure_is_a_png_of_sensible_size(drawn: list[Path]):
    assert [p.stem for p in drawn] == list(FIGURES)
    for path in drawn:
        width, height = _png_size(path)
        assert 800 <= width <= 2500 and 400 <= height <= 2500, (path.name, width, height)
        assert 20_000 < path.stat().st_size < 300_000, (path.name, path.stat().st_size)


def test_figures_are_deterministic(drawn: list[Path], tmp_path: Path):
    again = make_figures(out=tmp_path, only="incident_timeline")
    first = next(p for p in drawn if p.stem == "incident_timeline")
    assert again[0].read_bytes() == first.read_bytes()


def test_unknown_figure_is_refused_before_anything_is_written(tmp_path: Path, capsys):
    with pytest.raises(UsageError, match=r"only='dag'.*retail_dag"):
        make_figures(out=tmp_path / "out", only="dag")
    assert main(["--only=dag", f"--out={tmp_path / 'out'}"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "figures: error: only='dag'" in err
    assert not (tmp_path / "out").exists()
