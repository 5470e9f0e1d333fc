"""The one markdown table writer of every report."""

from __future__ import annotations

from nmgraph.core import markdown


def test_table_escapes_pipes_and_line_breaks() -> None:
    text = markdown.table(("name", "note"), [("a|b", "two\nlines"), (3, None)])
    assert text.splitlines() == ["| name | note |", "|---|---|", "| a\\|b | two lines |",
                                 "| 3 | None |"]


def test_padded_table_aligns_columns_and_fills_short_rows() -> None:
    lines = markdown.table(("case", "cores"), [("brunel", 12), ("x",)], pad=True).splitlines()
    assert lines == ["| case   | cores |", "|--------|-------|", "| brunel | 12    |",
                     "| x      |       |"]
    assert len({len(line) for line in lines}) == 1
