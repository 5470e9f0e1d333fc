"""Every relative link of the documentation resolves inside the repository: the file exists and,
for ``file.md#anchor`` or ``#anchor``, the heading exists (GitHub's anchor rules).

Checked: README.md, BENCHMARKS.md, docs/*.md and the markdown cells of tutorials/*.ipynb.
External links (``http(s)://``, ``mailto:``) are not fetched.
"""

from __future__ import annotations

import json
import os
import re
from functools import cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

_FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.MULTILINE | re.DOTALL)
_CODE = re.compile(r"`[^`\n]*`")
_INLINE = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_REFERENCE = re.compile(r"^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+\"[^\"]*\")?\s*$", re.MULTILINE)
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$", re.MULTILINE)
_HTML_ANCHOR = re.compile(r"<a\s+(?:name|id)=\"([^\"]+)\"", re.IGNORECASE)


def _documents() -> list[Path]:
    paths = [REPO / "README.md", REPO / "BENCHMARKS.md", *sorted((REPO / "docs").glob("*.md")),
             *sorted((REPO / "tutorials").glob("*.ipynb"))]
    return [path for path in paths if path.is_file()]


@cache
def _markdown(path: Path) -> str:
    """The markdown of a file: the file itself, or a notebook's markdown cells joined."""
    text = path.read_text(encoding="utf-8")
    if path.suffix != ".ipynb":
        return text
    cells = json.loads(text)["cells"]
    return "\n\n".join("".join(cell["source"]) for cell in cells if cell["cell_type"] == "markdown")


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: markdown removed, lower case, punctuation other than ``-``
    and ``_`` dropped, spaces made ``-``."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link keeps its text
    text = re.sub(r"<[^>]+>", "", text)                          # inline HTML
    text = text.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


@cache
def anchors(path: Path) -> frozenset[str]:
    """The anchors of a markdown file (a repeated heading gets ``-1``, ``-2``, ...)."""
    text = _FENCE.sub("", _markdown(path))
    seen: dict[str, int] = {}
    found = set(_HTML_ANCHOR.findall(text))
    for _, title in _HEADING.findall(text):
        base = slug(title)
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return frozenset(found)


def links(path: Path) -> list[str]:
    """Relative link targets of a markdown file, outside code."""
    text = _CODE.sub("", _FENCE.sub("", _markdown(path)))
    targets = _INLINE.findall(text) + _REFERENCE.findall(text)
    return [t for t in targets if not re.match(r"^[a-z][a-z0-9+.-]*:", t, re.IGNORECASE)]


def broken_links(path: Path) -> list[str]:
    """What is wrong with each relative link of ``path`` that does not resolve."""
    problems = []
    for target in links(path):
        file_part, _, anchor = target.partition("#")
        linked = (path.parent / file_part).resolve() if file_part else path
        if not linked.exists():
            problems.append(f"{target}: no file {_shown(linked)}")
            continue
        if not linked.is_relative_to(REPO):
            problems.append(f"{target}: outside the repository")
            continue
        if anchor and linked.suffix in (".md", ".ipynb") and anchor not in anchors(linked):
            problems.append(f"{target}: no heading '#{anchor}' in {_shown(linked)}")
    return problems


def _shown(path: Path) -> str:
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


@pytest.mark.parametrize("path", _documents(), ids=lambda p: str(p.relative_to(REPO)))
def test_relative_links_resolve(path: Path) -> None:
    assert broken_links(path) == []


def test_the_checker_finds_broken_links(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text("# Other page\n\n## Section `two`: a.b\n", encoding="utf-8")
    page = tmp_path / "page.md"
    page.write_text("# Title\n\n## Same\n\n## Same\n\n"
                    "[ok](other.md) [ok](other.md#other-page) [ok](other.md#section-two-ab) "
                    "[ok](#same-1) [ok](https://example.org/x.md) `[code](missing.md)`\n\n"
                    "```\n[fenced](missing.md)\n```\n\n"
                    "[bad](missing.md) [bad](other.md#nope) [bad](#same-2)\n\n"
                    "[ref]: missing-too.md\n", encoding="utf-8")
    global REPO
    saved, REPO = REPO, tmp_path
    try:
        problems = broken_links(page)
    finally:
        REPO = saved
    assert problems == ["missing.md: no file missing.md",
                        "other.md#nope: no heading '#nope' in other.md",
                        "#same-2: no heading '#same-2' in page.md",
                        "missing-too.md: no file missing-too.md"]


def test_slugs_follow_github() -> None:
    assert slug("Energy and mapping studies") == "energy-and-mapping-studies"
    assert slug("The `nm.compile` passes (in order)") == "the-nmcompile-passes-in-order"
    assert slug("Sources: [Lava](https://lava-nc.org)") == "sources-lava"
    assert slug("snake_case and dashes - kept") == "snake_case-and-dashes---kept"


_TEXT_SUFFIXES = (".md", ".py", ".pyx", ".pxd", ".toml", ".ipynb", ".txt", ".in", ".cfg")
_NOTE = re.compile(r"\b([A-Z][A-Z0-9_]+\.md)\b")


def _tracked_text_files() -> list[Path]:
    """The repository's text sources (not the venv, build outputs or the fuzz corpus)."""
    skip = {".venv", "build", "out", ".git", "corpus", "__pycache__", ".hypothesis"}
    this = Path(__file__).resolve()
    found = [REPO / ".ci" / "run"]
    for folder, subfolders, names in os.walk(REPO):
        subfolders[:] = [name for name in subfolders
                         if name not in skip and not name.endswith(".egg-info")]
        found += [Path(folder, name) for name in names if name.endswith(_TEXT_SUFFIXES)]
    return [path for path in found if path.is_file() and path != this]


def test_notes_named_in_the_repository_are_in_it() -> None:
    """A file named like ``NAME.md`` anywhere in the sources exists in the repository, and no
    text points at numbered sections (``§``) of a document the repository does not have."""
    present = {path.name for path in REPO.glob("*.md")} | {path.name for path in
                                                          (REPO / "docs").glob("*.md")}
    missing = []
    for path in _tracked_text_files():
        text = path.read_text(encoding="utf-8", errors="replace")
        missing += [f"{path.relative_to(REPO)}: {name}" for name in _NOTE.findall(text)
                    if name not in present]
        if "\u00a7" in text:
            missing.append(f"{path.relative_to(REPO)}: a section sign (\u00a7)")
    assert missing == []


def test_supported_pythons_agree() -> None:
    """README's Python range, pyproject's requires-python and classifiers, and the versions
    .ci/run smoke-tests (the oldest and the newest) say the same."""
    try:
        import tomllib
    except ModuleNotFoundError:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    low, high = re.fullmatch(r">=3\.(\d+),<3\.(\d+)", project["requires-python"]).groups()
    minors = list(range(int(low), int(high)))
    classified = sorted(int(c.rsplit(".", 1)[1]) for c in project["classifiers"]
                        if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c))
    assert classified == minors
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert f"Python 3.{minors[0]} to 3.{minors[-1]}" in readme
    smoke = re.search(r'^SMOKE_VERSIONS="([^"]*)"', (REPO / ".ci" / "run").read_text(
        encoding="utf-8"), re.MULTILINE).group(1).split()
    assert smoke == [f"3.{minors[0]}", f"3.{minors[-1]}"]
