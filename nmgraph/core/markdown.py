"""Markdown tables, written the same way by every report (mapping, energy, studies, profiles)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["escape", "table"]


def escape(cell: Any) -> str:
    """``cell`` as the text of one table cell: ``|`` escaped, line breaks turned into spaces."""
    return str(cell).replace("|", "\\|").replace("\n", " ")


def table(header: Sequence[Any], rows: Iterable[Sequence[Any]], *, pad: bool = False) -> str:
    """A markdown table (no trailing newline); ``pad`` aligns the columns for reading as text.

    Each cell is ``str(cell)``, escaped (see :func:`escape`); rows shorter than the header are
    filled with empty cells.
    """
    cells = [[escape(cell) for cell in header]]
    cells += [[escape(cell) for cell in row] + [""] * (len(header) - len(row)) for row in rows]
    if pad:
        widths = [max(len(row[column]) for row in cells) for column in range(len(header))]
        cells = [[cell.ljust(width) for cell, width in zip(row, widths)] for row in cells]
        rule = "|" + "|".join("-" * (width + 2) for width in widths) + "|"
    else:
        rule = "|" + "|".join("---" for _ in header) + "|"
    lines = ["| " + " | ".join(row) + " |" for row in cells]
    lines.insert(1, rule)
    return "\n".join(lines)
