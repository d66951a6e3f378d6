"""A Hugging Face model folder: its path checked once, and its JSON files read with errors that
name the file."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def model_folder(path: Any, name: str = "path") -> Path:
    """``path`` (str or os.PathLike) as an existing folder; TypeError/ValueError naming it."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(
            f"{name}: expected a folder path (str or os.PathLike), got {type(path).__name__}"
        )
    folder = Path(path)
    if not folder.is_dir():
        what = "is a file, not a folder" if folder.exists() else "does not exist"
        raise ValueError(
            f"{name}: {str(folder)!r} {what} (expected a Hugging Face model folder "
            "with config.json and model.safetensors)"
        )
    return folder


def required_file(folder: Path, relative: str, what: str) -> Path:
    """``folder / relative``, which must be a file; ValueError naming it and what it holds."""
    path = folder / relative
    if not path.is_file():
        raise ValueError(f"{relative}: missing from {str(folder)!r} ({what})")
    return path


def read_json(folder: Path, relative: str, what: str, *, optional: bool = False) -> Any:
    """The JSON value of ``folder / relative`` (None when ``optional`` and the file is absent);
    ValueError naming the file when it is missing or not valid JSON."""
    if optional and not (folder / relative).is_file():
        return None
    path = required_file(folder, relative, what)
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{relative}: not valid JSON ({e})") from None


def read_object(folder: Path, relative: str, what: str, *, optional: bool = False) -> dict | None:
    """As :func:`read_json`, for a file that must hold a JSON object."""
    value = read_json(folder, relative, what, optional=optional)
    if value is not None and not isinstance(value, dict):
        raise ValueError(f"{relative}: expected a JSON object, got {type(value).__name__}")
    return value
