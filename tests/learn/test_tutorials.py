"""Every tutorial in tutorials/ executes as a Jupyter notebook (jupytext → nbclient, a real IPython kernel) and
ends with a figure. The ones that train on real datasets for minutes are marked slow (they still run in
`make test`). A new tutorial file is picked up automatically."""
from __future__ import annotations

from pathlib import Path

import pytest

jupytext = pytest.importorskip("jupytext", reason="pip install -e '.[dev]' installs jupytext")
nbclient = pytest.importorskip("nbclient", reason="pip install -e '.[dev]' installs nbclient + ipykernel")

REPO = Path(__file__).resolve().parents[2]
TUTORIALS = sorted((REPO / "tutorials").glob("[0-9]*.py"))
QUICK = {"01_perceptron_xor", "02_backprop_numpy", "03_convolution_pooling"}  # seconds, no dataset files


def test_the_learning_path_is_complete() -> None:
    assert [p.stem[:2] for p in TUTORIALS] == [f"{i:02d}" for i in range(1, len(TUTORIALS) + 1)]
    assert len(TUTORIALS) >= 7


@pytest.mark.parametrize("path", [pytest.param(p, id=p.stem, marks=() if p.stem in QUICK else pytest.mark.slow)
                                  for p in TUTORIALS])
def test_tutorial_executes_and_ends_with_a_figure(path: Path, tmp_path: Path) -> None:
    from nbclient.exceptions import CellExecutionError

    notebook = jupytext.read(path)
    # "python3" is ipykernel's own spec: a kernel on this interpreter, which inherits the test's environment
    # (SHENDU_HOME in a temp dir, SHENDU_DATA_MIRROR) and runs in tmp_path.
    client = nbclient.NotebookClient(notebook, timeout=1800, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    try:
        client.execute()
    except CellExecutionError as exc:
        pytest.fail(f"{path.name} failed:\n{str(exc)[-3000:]}")
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    last_outputs = code_cells[-1].get("outputs", [])
    assert any("image/png" in output.get("data", {}) for output in last_outputs), \
        f"{path.name}: its last cell shows no figure"
