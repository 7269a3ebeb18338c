"""Console output shared by the entry points (rich tables)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table


def print_summary(summary: dict[str, Any], title: str) -> None:
    """Print a flat or one-level-nested summary dict as a two-column table."""
    table = Table(title=title, show_header=True, header_style="bold")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in summary.items():
        if isinstance(value, dict):
            text = ", ".join(f"{k}={v}" for k, v in value.items()) or "-"
        else:
            text = str(value)
        table.add_row(key, text)
    Console(width=120).print(table)


def print_scorecard(card: dict[str, Any], title: str) -> None:
    """Print a scorecard's aggregate metrics as a table (None shown as "-")."""
    table = Table(title=title, show_header=True, header_style="bold")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in card["aggregate"].items():
        if value is None:
            text = "-"
        elif isinstance(value, float):
            text = f"{value:.3f}" if abs(value) < 1000 else f"{value:,.0f}"
        else:
            text = str(value)
        table.add_row(key, text)
    Console(width=120).print(table)
