"""A real token-tagging task built offline: every word of Python standard-library source,
labelled by its ``tokenize`` category, in a pretrained model's subword tokens."""

from __future__ import annotations

import builtins
import importlib.util
import io
import keyword
import tokenize
from typing import Any

import numpy as np

from attnlab._validation import at_least
from attnlab.data.task import IGNORE, Split, Task, positive_int

TAGS = ("keyword", "name", "builtin", "number", "string", "operator", "comment")
# Modules whose source trains, and others, never seen in training, whose source tests.
TRAIN_MODULES = (
    "textwrap",
    "shlex",
    "fractions",
    "heapq",
    "calendar",
    "difflib",
    "fnmatch",
    "glob",
    "graphlib",
    "pprint",
    "reprlib",
    "sched",
    "statistics",
    "string",
    "queue",
    "contextlib",
)
TEST_MODULES = ("dataclasses", "copy", "linecache", "operator", "bisect")
_BUILTINS = frozenset(dir(builtins))
_SKIPPED = {
    tokenize.NEWLINE,
    tokenize.NL,
    tokenize.INDENT,
    tokenize.DEDENT,
    tokenize.ENDMARKER,
    tokenize.ENCODING,
    tokenize.ERRORTOKEN,
}


def _tag(token: tokenize.TokenInfo) -> str | None:
    """The category of one token, or None for layout tokens (newlines, indents)."""
    kind = token.type
    if kind in _SKIPPED:
        return None
    if kind == tokenize.NAME:
        if keyword.iskeyword(token.string):
            return "keyword"
        return "builtin" if token.string in _BUILTINS else "name"
    if kind == tokenize.NUMBER:
        return "number"
    if kind == tokenize.COMMENT:
        return "comment"
    if kind == tokenize.OP:
        return "operator"
    return "string"  # STRING, and the f-string parts of Python 3.12+


def tagged_lines(source: str) -> list[tuple[list[str], list[int]]]:
    """Each non-empty physical line of ``source`` as (words, tag ids into TAGS): the text of
    every token split at whitespace, each piece taking its token's tag (a comment's or a
    docstring's every word is "comment" or "string")."""
    lines: dict[int, tuple[list[str], list[int]]] = {}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        tag = _tag(token)
        if tag is None:
            continue
        for offset, text in enumerate(token.string.split("\n")):
            words = text.split()
            if words:
                row = lines.setdefault(token.start[0] + offset, ([], []))
                row[0].extend(words)
                row[1].extend([TAGS.index(tag)] * len(words))
    return [lines[n] for n in sorted(lines)]


def _module_source(name: str, argument: str) -> str:
    if not isinstance(name, str):
        raise TypeError(f"{argument}: expected module names (str), got {type(name).__name__}")
    spec = importlib.util.find_spec(name)
    origin = None if spec is None else spec.origin
    if origin is None or not origin.endswith(".py"):
        raise ValueError(f"{argument}: the source of {name!r} is not available as a .py file")
    with open(origin, encoding="utf-8") as f:
        return f.read()


def _rows(tokenizer: Any, lines: list[tuple[list[str], list[int]]], block_size: int) -> Split:
    """Consecutive lines packed into rows of at most ``block_size`` tokens: [CLS], then each
    line's subwords followed by [SEP] (the line break, which the tokenizer drops: where a
    comment ends); the tag of each word on its first subword, IGNORE on the others (the NER
    recipe), on the specials and on the padding. A line longer than a row is cut."""
    encoding = tokenizer.encode_words([words for words, _ in lines])
    n = len(encoding.tokens[0])
    cls, sep = int(encoding.input_ids[0, 0]), int(encoding.input_ids[0, n - 1])
    width = block_size - 1  # after [CLS]
    rows: list[tuple[list[int], list[int]]] = []
    ids: list[int] = []
    targets: list[int] = []
    for i, (_, tags) in enumerate(lines):
        n = len(encoding.tokens[i])
        line_ids = encoding.input_ids[i, 1 : n - 1].tolist()[: width - 1] + [sep]
        word_ids = encoding.word_ids[i][1 : n - 1][: width - 1]
        line_targets = [
            tags[w] if j == 0 or w != word_ids[j - 1] else IGNORE for j, w in enumerate(word_ids)
        ] + [IGNORE]
        if len(ids) + len(line_ids) > width:
            rows.append((ids, targets))
            ids, targets = [], []
        ids += line_ids
        targets += line_targets
    if ids:
        rows.append((ids, targets))
    inputs = np.full((len(rows), block_size), tokenizer.pad_id, dtype=np.int64)
    labels = np.full((len(rows), block_size), IGNORE, dtype=np.int64)
    key_mask = np.zeros((len(rows), block_size), dtype=bool)
    for r, (row_ids, row_targets) in enumerate(rows):
        n = len(row_ids) + 1
        inputs[r, :n] = [cls] + row_ids
        labels[r, 1:n] = row_targets
        key_mask[r, :n] = True
    return Split(inputs=inputs, targets=labels, key_mask=key_mask)


def python_tags(
    tokenizer: Any,
    *,
    block_size: int = 64,
    n_train: int | None = None,
    n_test: int | None = None,
    train_modules: tuple[str, ...] = TRAIN_MODULES,
    test_modules: tuple[str, ...] = TEST_MODULES,
    seed: int = 0,
) -> Task:
    """Tag every word of real Python source by its ``tokenize`` category.

    The words come from the standard library's own .py files (``train_modules`` for
    training, other ``test_modules`` for testing, so the test split is source the model never
    saw); each physical line's tokens are split at whitespace into words, tagged keyword,
    name, builtin (a name in ``builtins``), number, string, operator or comment (TAGS).
    The words go through ``tokenizer`` (an :class:`attnlab.pretrained.Tokenizer`), as NER
    recipes do: a word's tag on its first subword token, ``IGNORE`` (-100) on the others;
    consecutive lines are packed into rows of ``block_size`` tokens, [CLS] first and [SEP]
    after each line (the line break, which the tokenizer drops). The text varies between
    Python versions and is fixed within one.

    kind "tagging": ``vocab`` is the tokenizer's, ``labels`` are TAGS, ``key_mask`` marks the
    real tokens. ``n_train`` / ``n_test`` keep that many rows (drawn by ``seed``; default
    all).
    """
    for method in ("encode_words", "vocab", "pad_id"):
        if not hasattr(tokenizer, method):
            raise TypeError(
                f"tokenizer: expected an attnlab.pretrained.Tokenizer, got "
                f"{type(tokenizer).__name__} (no {method})"
            )
    block_size = at_least(block_size, "block_size", 4)
    rng = np.random.default_rng(seed)
    splits = []
    for modules, argument, n, name in (
        (train_modules, "train_modules", n_train, "n_train"),
        (test_modules, "test_modules", n_test, "n_test"),
    ):
        if isinstance(modules, str) or not isinstance(modules, (tuple, list)) or not modules:
            raise TypeError(
                f"{argument}: expected a non-empty tuple of module names, got {modules!r}"
            )
        lines = [
            line for module in modules for line in tagged_lines(_module_source(module, argument))
        ]
        split = _rows(tokenizer, lines, block_size)
        if n is not None:
            n = positive_int(n, name)
            if n > len(split):
                raise ValueError(f"{name}: {n} exceeds the {len(split)} rows of these modules")
            keep = np.sort(rng.choice(len(split), n, replace=False))
            split = Split(
                inputs=split.inputs[keep],
                targets=split.targets[keep],
                key_mask=split.key_mask[keep],
            )
        splits.append(split)
    return Task(
        "python_tags",
        "tagging",
        tuple(tokenizer.vocab),
        splits[0],
        splits[1],
        num_classes=len(TAGS),
        labels=TAGS,
        pad_id=tokenizer.pad_id,
    )
