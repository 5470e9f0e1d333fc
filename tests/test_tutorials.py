"""The tutorials: every notebook in ``tutorials/`` runs headless without an error and draws its
plots, and the notebooks kept in the repository carry no outputs.

Each notebook runs in a fresh ``python3`` kernel of this interpreter (ipykernel provides the kernel
spec when it is installed in the same environment: ``pip install -e ".[test]"``), with its working
directory and ``TMPDIR`` in a temporary folder so that anything it writes lands there, and with a
budget of :data:`NOTEBOOK_TIMEOUT_S` seconds for all its cells together, so a notebook that hangs
fails instead of stalling the suite.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

TUTORIALS = Path(__file__).resolve().parents[1] / "tutorials"
NOTEBOOKS = sorted(TUTORIALS.glob("*.ipynb"))
#: Seconds all the cells of one notebook may take together (kernel start-up not included).
NOTEBOOK_TIMEOUT_S = 120
KERNEL = "python3"


def _notebook_tools():
    try:
        import nbclient
        import nbformat
    except ImportError as error:  # a missing test extra must fail loudly, not skip
        pytest.fail(f"the tutorial tests need nbclient, nbformat and ipykernel: "
                    f"pip install -e '.[test]' ({error})")
    return nbclient, nbformat


def test_there_are_tutorials() -> None:
    assert len(NOTEBOOKS) >= 7, f"expected the seven tutorials in {TUTORIALS}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_stored_without_outputs(path: Path) -> None:
    _, nbformat = _notebook_tools()
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    for number, cell in enumerate(notebook.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name}: cell {number} has outputs; strip them"
            assert cell.execution_count is None, \
                f"{path.name}: cell {number} has an execution count; strip the outputs"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_and_plots(path: Path, tmp_path: Path, monkeypatch) -> None:
    nbclient, nbformat = _notebook_tools()
    monkeypatch.setenv("MPLBACKEND", "Agg")  # inherited by the kernel; notebooks ask for inline
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # temporary folders of a notebook land here too
    notebook = nbformat.read(path, as_version=4)
    deadline = time.monotonic() + NOTEBOOK_TIMEOUT_S

    def remaining(_cell) -> int:  # the notebook's budget left for this cell
        return max(1, int(deadline - time.monotonic()))

    client = nbclient.NotebookClient(notebook, kernel_name=KERNEL, timeout=NOTEBOOK_TIMEOUT_S,
                                     timeout_func=remaining,
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError (with the cell and traceback) on any error
    images = [output for cell in notebook.cells if cell.cell_type == "code"
              for output in cell.outputs if "image/png" in output.get("data", {})]
    assert images, f"{path.name} drew no plot"
