"""Every notebook in notebooks/ runs end to end, and is committed clean.

Each notebook is executed by nbclient in a fresh IPython kernel started from this interpreter
(a kernelspec written to a temporary JUPYTER_PATH, so a user's own "python3" kernelspec, which
may point at another Python without attnlab, is never picked up). The kernel inherits this
process's environment, with the directory of the attnlab these tests import put first on
PYTHONPATH (the kernel runs in a temporary directory), plus ATTNLAB_NOTEBOOK_QUICK=1, which
notebooks read in their first code cell to choose smaller step counts: in CI every cell runs,
shortened, and nothing is skipped. The default for a user (the variable unset) is the full notebook.
Matplotlib draws with the inline backend (non-interactive; figures become PNG outputs).
"""

import json
import os
import re
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
import attnlab  # noqa: E402  (after the skips: the kernel must import this very package)

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
PATHS = sorted(NOTEBOOKS.glob("*.ipynb"))
NAME = re.compile(r"^\d\d_[a-z0-9]+(_[a-z0-9]+)*\.ipynb$")
KERNEL = "attnlab-notebooks"
# The longest a cell may take in quick mode on 2 shared cores; a hang fails instead of
# stalling CI.
CELL_TIMEOUT_S = 180


@pytest.fixture(scope="session")
def kernel_path(tmp_path_factory):
    """A JUPYTER_PATH holding a kernelspec that runs ipykernel on this very interpreter."""
    root = tmp_path_factory.mktemp("jupyter")
    spec = root / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": f"attnlab tests ({sys.executable})",
                "language": "python",
            }
        )
    )
    return root


def test_notebooks_exist():
    assert PATHS, f"no notebook in {NOTEBOOKS}"


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_notebook_is_clean(path):
    """Named NN_topic.ipynb, valid nbformat 4, and committed without outputs or counts."""
    assert NAME.match(path.name), f"{path.name}: expected a name like 01_topic.ipynb"
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, f"{path.name}: no code cell"
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name}: cell {i} has outputs; clear them"
            assert cell.execution_count is None, f"{path.name}: cell {i} has an execution count"


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_notebook_runs(path, kernel_path, tmp_path, monkeypatch):
    """Every cell runs without error (quick mode); outputs go nowhere near the repository."""
    monkeypatch.setenv("JUPYTER_PATH", str(kernel_path))
    package_root = str(Path(attnlab.__file__).resolve().parent.parent)
    monkeypatch.setenv(
        "PYTHONPATH",
        os.pathsep.join(
            [package_root] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
        ),
    )
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")  # jupyter_core's migration warning
    monkeypatch.setenv("ATTNLAB_NOTEBOOK_QUICK", "1")
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb,
        kernel_name=KERNEL,
        timeout=CELL_TIMEOUT_S,
        allow_errors=False,
        resources={"metadata": {"path": str(tmp_path)}},  # the kernel's working directory
    )
    client.execute()  # raises CellExecutionError, naming the cell, on any error
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        assert cell.execution_count is not None, f"{path.name}: cell {i} did not run"
        # A warning is a defect the reader would see (and pytest's -W error would fail on).
        stderr = [o.text for o in cell.outputs if o.output_type == "stream" and o.name == "stderr"]
        assert not stderr, f"{path.name}: cell {i} wrote to stderr: {''.join(stderr)[:500]}"
