"""attnlab.__version__ (_version.py): pyproject.toml's version, installed or from a source tree."""

import re
from importlib import metadata
from pathlib import Path

import pytest

import attnlab
from attnlab._version import UNKNOWN, version_of

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


def _source_tree(root: Path, pyproject: str | None) -> Path:
    """A tree laid out as the repository (pyproject.toml beside python/attnlab/)."""
    package = root / "python" / "attnlab"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    if pyproject is not None:
        (root / "pyproject.toml").write_text(pyproject)
    return package


def test_version_is_pyprojects():
    tomllib = pytest.importorskip("tomllib")
    with PYPROJECT.open("rb") as f:
        assert attnlab.__version__ == tomllib.load(f)["project"]["version"]


def test_version_is_pep_440():
    # PEP 440's canonical public versions, with an optional local part.
    assert re.fullmatch(
        r"\d+(\.\d+)*((a|b|rc)\d+)?(\.post\d+)?(\.dev\d+)?(\+[a-z0-9.]+)?", attnlab.__version__
    )


def test_a_source_tree_reads_its_own_pyproject_not_another_installed_copy(tmp_path):
    package = _source_tree(
        tmp_path,
        '[build-system]\nrequires = ["x"]\n\n[project]\n'
        'name = "attnlab"\nclassifiers = [\n  "A [b]",\n]\n'
        'version = "7.8.9rc1"\n\n[tool.other]\nversion = "1.0"\n',
    )
    assert version_of(package) == "7.8.9rc1"


def test_the_version_of_another_table_is_not_the_projects(tmp_path):
    package = _source_tree(
        tmp_path, '[project]\nname = "attnlab"\n\n[tool.other]\nversion = "1.0"\n'
    )
    assert version_of(package) == UNKNOWN


def test_a_tree_without_pyproject_or_metadata_is_unknown(tmp_path):
    assert version_of(_source_tree(tmp_path, None)) == UNKNOWN


def test_an_installed_attnlab_reads_its_metadata():
    try:
        dist = metadata.distribution("attnlab")
    except metadata.PackageNotFoundError:
        pytest.skip("no attnlab distribution installed (a PYTHONPATH-only run)")
    installed = Path(str(dist.locate_file("attnlab")))
    if not (installed / "__init__.py").is_file():
        pytest.skip("an editable install: its metadata holds no package directory")
    assert version_of(installed) == dist.version
