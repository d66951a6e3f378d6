"""Seeded tasks, synthetic or built from text that ships with Python: each
``al.data.tasks.<name>(...)`` returns a ``Task``."""

from attnlab.data.tasks.dyck import dyck
from attnlab.data.tasks.histogram import histogram
from attnlab.data.tasks.induction import induction
from attnlab.data.tasks.modular import modular_add
from attnlab.data.tasks.python_tags import python_tags
from attnlab.data.tasks.sequences import add, copy, reverse, sort
from attnlab.data.tasks.text import text

__all__ = [
    "add",
    "copy",
    "dyck",
    "histogram",
    "induction",
    "modular_add",
    "python_tags",
    "reverse",
    "sort",
    "text",
]
