"""README.md's "A short tour" runs as written (in a temporary directory)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import matplotlib

README = Path(__file__).resolve().parents[1] / "README.md"


def _tour_code() -> str:
    text = README.read_text(encoding="utf-8")
    section = text.split("## A short tour", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "README's short tour has no python block"
    return match.group(1)


def test_short_tour_runs(tmp_path, capsys) -> None:
    matplotlib.use("Agg")
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        exec(compile(_tour_code(), "README.md (A short tour)", "exec"), {})
    finally:
        os.chdir(cwd)
    for name in ("tour.png", "tour-v.png", "tour.nmg", "tour.nms"):
        assert (tmp_path / name).exists(), name
