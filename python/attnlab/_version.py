"""attnlab's version, written in one place: pyproject.toml's ``[project] version``.

An installed attnlab (wheel, sdist, ``pip install .``) reads it from its package metadata. A
source tree imported through ``PYTHONPATH=python`` or an editable install has metadata that is
either absent or another copy's (the one in site-packages), so it reads the tree's own
pyproject.toml instead.
"""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

# The version line of pyproject.toml's [project] table: a table runs to the next line that
# opens one ("[name]" at the start of a line; an array's continuation lines are indented).
_PROJECT_TABLE = re.compile(r"^\[project\]\s*$(.*?)(?=^\[|\Z)", re.M | re.S)
_VERSION_LINE = re.compile(r"^version\s*=\s*[\"']([^\"']+)[\"']", re.M)

UNKNOWN = "0+unknown"


def _installed_version(package_dir: Path) -> str | None:
    """The metadata's version if the installed distribution is the one holding package_dir."""
    try:
        dist = metadata.distribution("attnlab")
    except metadata.PackageNotFoundError:
        return None
    installed = Path(str(dist.locate_file("attnlab"))).resolve()
    return dist.version if installed == package_dir.resolve() else None


def _source_tree_version(package_dir: Path) -> str | None:
    """The version in the pyproject.toml of the source tree holding package_dir (python/attnlab)."""
    pyproject = package_dir.resolve().parent.parent / "pyproject.toml"
    try:
        text = pyproject.read_text(encoding="utf-8")
    except OSError:
        return None
    table = _PROJECT_TABLE.search(text)
    line = _VERSION_LINE.search(table.group(1)) if table else None
    return line.group(1) if line else None


def version_of(package_dir: Path) -> str:
    """The version of the attnlab package in package_dir; "0+unknown" where nothing says."""
    return _installed_version(package_dir) or _source_tree_version(package_dir) or UNKNOWN


__version__ = version_of(Path(__file__).parent)
