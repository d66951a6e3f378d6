"""Every ```python block of README.md and docs/**/*.md runs verbatim, so that no snippet can rot:
each file's blocks in order in one namespace (a later block uses an earlier one's names, as a
reader does), in a temporary working directory (what a block saves lands there), with warnings
as errors as everywhere in the suite. A failure points at the Markdown file's own line."""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# A block opened by ```python at the start of a line, up to the ``` line that closes it.
FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.DOTALL | re.MULTILINE)


def python_blocks(path: Path) -> list[tuple[int, str]]:
    """(the line number of its first line, its source) for each ```python block of ``path``."""
    text = path.read_text(encoding="utf-8")
    return [(text.count("\n", 0, m.start(1)) + 1, m.group(1)) for m in FENCE.finditer(text)]


DOCUMENTS = [
    path
    for path in (ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md")))
    if python_blocks(path)
]


def imported_modules(tree: ast.Module) -> set[str]:
    """The top-level packages that ``tree`` imports by name."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_the_readme_has_blocks_to_run():
    assert ROOT / "README.md" in DOCUMENTS  # else the test below would check nothing of it


def test_blocks_are_found_with_their_lines(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("text\n```python\na = 1\n```\n```bash\nls\n```\n\n```python\nb = a\n```\n")
    assert python_blocks(page) == [(3, "a = 1\n"), (10, "b = a\n")]


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda path: path.relative_to(ROOT).as_posix())
def test_python_blocks_run_verbatim(path, tmp_path, monkeypatch):
    # Each block keeps its lines' numbers in the file, for tracebacks.
    trees = [
        ast.parse("\n" * (line - 1) + source, str(path)) for line, source in python_blocks(path)
    ]
    for module in sorted(set().union(*map(imported_modules, trees)) - {"attnlab"}):
        pytest.importorskip(module)  # torch and the like: installed by the test extras in CI
    matplotlib = pytest.importorskip("matplotlib")  # the blocks' plots, through attnlab.viz
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "__main__"}
    try:
        for tree in trees:
            exec(compile(tree, str(path), "exec"), namespace)
    finally:
        plt.close("all")
