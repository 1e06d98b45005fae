"""Reading a notebook only as far as needed: the first code cell's source, the metadata."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from project_kernels.notebook import first_code_cell_source, notebook_metadata


def saved(path: Path, cells: list[nbformat.NotebookNode], **metadata: object) -> Path:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = cells
    notebook.metadata.update(metadata)
    nbformat.write(notebook, path)
    return path


def test_the_first_code_cell_comes_after_markdown_and_raw_cells(tmp_path: Path) -> None:
    path = saved(
        tmp_path / "a.ipynb",
        [
            nbformat.v4.new_markdown_cell('# Title with "quotes" and \\ backslashes ]}'),
            nbformat.v4.new_raw_cell("raw {"),
            nbformat.v4.new_code_cell("# /// script\n# dependencies = ['x']\n# ///\nprint('é\\n')"),
            nbformat.v4.new_code_cell("second"),
        ],
    )
    assert (
        first_code_cell_source(path) == "# /// script\n# dependencies = ['x']\n# ///\nprint('é\\n')"
    )


def test_metadata_is_read_after_every_cell(tmp_path: Path) -> None:
    cell = nbformat.v4.new_code_cell("plot()")
    cell.outputs = [
        nbformat.v4.new_output("display_data", data={"image/png": "iVBOR" * 1000 + '\\"]}'}),
        nbformat.v4.new_output("stream", name="stdout", text=[f"line {i}\n" for i in range(100)]),
    ]
    wanted = {"project-kernels": {"environment": "gpu"}, "kernelspec": {"name": "python3"}}
    path = saved(tmp_path / "b.ipynb", [cell], **wanted)
    assert notebook_metadata(path) == json.loads(path.read_text())["metadata"]
    assert notebook_metadata(path)["project-kernels"] == {"environment": "gpu"}  # type: ignore[index]


def test_nothing_after_the_first_code_cell_is_read(tmp_path: Path) -> None:
    # The rest of the file is not even JSON: the reader must stop at the first code cell.
    head = '{"cells": [{"cell_type": "markdown", "metadata": {}, "source": ["hi"]},'
    code = '{"cell_type": "code", "outputs": [], "source": ["import this\\n", "x = 1"]}'
    path = tmp_path / "c.ipynb"
    path.write_bytes((head + code + ", <<< not JSON at all").encode() + b"\x00" * 1000)
    assert first_code_cell_source(path) == "import this\nx = 1"


def test_source_before_outputs_needs_no_outputs(tmp_path: Path) -> None:
    path = tmp_path / "d.ipynb"
    path.write_text('{"cells": [{"cell_type": "code", "source": "x", "outputs": [BROKEN')
    assert first_code_cell_source(path) == "x"


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"not json",
        b"[1, 2]",
        b'{"cells": "no"}',
        b'{"cells": [{"cell_type": "code"',
        b"\xff\xfe",
    ],
)
def test_what_is_not_a_notebook_reads_as_nothing(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "e.ipynb"
    path.write_bytes(content)
    assert first_code_cell_source(path) is None
    assert notebook_metadata(path) is None


def test_a_notebook_without_code_cells_or_metadata(tmp_path: Path) -> None:
    path = tmp_path / "f.ipynb"
    path.write_text('{"cells": [{"cell_type": "markdown", "source": ""}], "nbformat": 4}')
    assert first_code_cell_source(path) is None
    assert notebook_metadata(path) is None
    assert first_code_cell_source(tmp_path / "missing.ipynb") is None
