"""A training task: token vocabulary, train and test arrays, and seeded batches over them."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from attnlab._random import check_seed, next_seed
from attnlab._validation import at_least, bool_array, flag

IGNORE = -100
"""The target of a position that does not count (``functional.cross_entropy``'s ignore_index)."""

KINDS = ("lm", "seq2seq", "tagging", "classify")
SPLITS = ("train", "test")


@dataclass(frozen=True, eq=False)
class Rows:
    """Rows of a task's arrays: model inputs, per-position (or per-row) targets, and for
    encoder-decoder tasks the encoder's source; ``key_mask`` is True at real tokens."""

    inputs: np.ndarray
    targets: np.ndarray
    source: np.ndarray | None = None
    key_mask: np.ndarray | None = None

    def __post_init__(self) -> None:
        _int64(self.inputs, "inputs", (2,))
        n = self.inputs.shape[0]
        _int64(self.targets, "targets", (1, 2))
        if self.targets.shape not in (self.inputs.shape, (n,)):
            raise ValueError(
                f"targets: expected shape {self.inputs.shape} or ({n},), got {self.targets.shape}"
            )
        if self.source is not None:
            _int64(self.source, "source", (2,))
            if self.source.shape[0] != n:
                raise ValueError(
                    f"source: axis 0 (rows) has size {self.source.shape[0]}, expected {n}"
                )
        if self.key_mask is not None:
            bool_array(self.key_mask, "key_mask")
            if self.key_mask.shape != self.inputs.shape:
                raise ValueError(
                    f"key_mask: expected shape {self.inputs.shape}, got {self.key_mask.shape}"
                )

    def __len__(self) -> int:
        return self.inputs.shape[0]

    def take(self, rows: np.ndarray) -> Batch:
        """The batch of these row indices (fresh C-contiguous arrays)."""
        return Batch(
            inputs=self.inputs[rows],
            targets=self.targets[rows],
            source=None if self.source is None else self.source[rows],
            key_mask=None if self.key_mask is None else self.key_mask[rows],
        )


class Split(Rows):
    """A task's train or test rows (arrays may be read-only views, e.g. text windows)."""


class Batch(Rows):
    """A slice of a Split: what a model trains on in one step."""


def _int64(x: object, name: str, ndims: tuple[int, ...]) -> None:
    if not isinstance(x, np.ndarray) or x.dtype != np.int64:
        got = x.dtype if isinstance(x, np.ndarray) else type(x).__name__
        raise TypeError(f"{name}: expected a NumPy int64 array, got {got}")
    if x.ndim not in ndims:
        expected = " or ".join(map(str, ndims))
        raise ValueError(f"{name}: expected {expected} dimensions, got shape {x.shape}")


@dataclass(frozen=True, eq=False)
class Task:
    """A synthetic task: a vocabulary of token strings (id i <-> ``vocab[i]``), train and
    test splits, and what a model needs to know to fit it.

    ``kind`` is "lm" (decoder-only next-token prediction: ``targets[t]`` is the token after
    ``inputs[t]``), "seq2seq" (``source`` feeds the encoder, ``inputs`` the decoder, starting
    with ``bos_id``), "tagging" (one label per input token) or "classify" (one label per row,
    targets of shape (N,)). Targets equal to ``IGNORE`` do not count. ``num_classes`` is the
    output size: ``len(vocab)`` for lm/seq2seq, ``len(labels)`` for tagging/classify.
    ``separator`` joins tokens in ``decode`` (" " for symbols, "" for characters).
    ``position_masks`` names (T,) bool masks over input positions that some tasks expose (the
    induction task's repeated half).
    """

    name: str
    kind: str
    vocab: tuple[str, ...]
    train: Split
    test: Split
    num_classes: int
    labels: tuple[str, ...] | None = None
    pad_id: int | None = None
    bos_id: int | None = None
    eos_id: int | None = None
    sep_id: int | None = None
    separator: str = " "
    position_masks: Mapping[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind: expected one of {KINDS}, got {self.kind!r}")
        distinct = len(set(self.vocab)) == len(self.vocab)
        if not distinct or not all(isinstance(token, str) for token in self.vocab):
            raise ValueError("vocab: expected distinct token strings")
        classes = len(self.vocab) if self.kind in ("lm", "seq2seq") else len(self.labels or ())
        if self.num_classes != classes:
            raise ValueError(
                f"num_classes: expected {classes} for kind {self.kind!r}, got {self.num_classes}"
            )
        for split in (self.train, self.test):
            if (split.source is not None) != (self.kind == "seq2seq"):
                raise ValueError("source: expected a source array exactly when kind is 'seq2seq'")
            if (split.targets.ndim == 1) != (self.kind == "classify"):
                raise ValueError("targets: expected shape (N,) exactly when kind is 'classify'")
        if self.train.inputs.shape[1:] != self.test.inputs.shape[1:]:
            raise ValueError(
                f"test: inputs' block size {self.test.inputs.shape[1]} differs from train's "
                f"{self.train.inputs.shape[1]}"
            )
        if self.kind == "seq2seq" and self.bos_id is None:
            raise ValueError("bos_id: a seq2seq task needs a decoder start token")

    @property
    def block_size(self) -> int:
        """T, the length of every input row."""
        return self.train.inputs.shape[1]

    def split(self, split: str = "train") -> Split:
        """The "train" or "test" Split."""
        if split not in SPLITS:
            raise ValueError(f"split: expected 'train' or 'test', got {split!r}")
        return self.train if split == "train" else self.test

    def batches(
        self,
        batch_size: int,
        *,
        seed: int | None = None,
        split: str = "train",
        shuffle: bool = True,
        drop_last: bool = False,
    ) -> Iterator[Batch]:
        """One epoch over ``split`` in batches: every row once, in an order fixed by ``seed``
        (None: drawn from attnlab's global seed, see ``al.manual_seed``); the last batch is
        smaller unless ``drop_last``."""
        rows = self.split(split)
        batch_size = positive_int(batch_size, "batch_size")
        shuffle = flag(shuffle, "shuffle")
        drop_last = flag(drop_last, "drop_last")
        seed = None if seed is None else check_seed(seed)
        n = len(rows)
        if shuffle:
            order = np.random.default_rng(next_seed() if seed is None else seed).permutation(n)
        else:
            order = np.arange(n)
        stop = n - n % batch_size if drop_last else n
        return (rows.take(order[i : i + batch_size]) for i in range(0, stop, batch_size))

    def sample(
        self, batch_size: int, *, seed: int | np.random.Generator, split: str = "train"
    ) -> Batch:
        """``batch_size`` distinct rows of ``split`` drawn at random (by ``seed``, an int or a
        NumPy Generator to draw from)."""
        rows = self.split(split)
        batch_size = positive_int(batch_size, "batch_size")
        if batch_size > len(rows):
            raise ValueError(
                f"batch_size: {batch_size} exceeds the {len(rows)} rows of the {split} split"
            )
        if not isinstance(seed, np.random.Generator):
            seed = np.random.default_rng(check_seed(seed))
        return rows.take(np.sort(seed.choice(len(rows), batch_size, replace=False)))

    def tokens(self, ids: Sequence[int] | np.ndarray) -> list[str]:
        """The token string of each id in a 1-D sequence (labels for pictures)."""
        ids = np.asarray(ids)
        if ids.size and not np.issubdtype(ids.dtype, np.integer):
            raise TypeError(f"ids: expected integer token ids, got dtype {ids.dtype}")
        if ids.ndim != 1:
            raise ValueError(f"ids: expected 1 dimension, got shape {ids.shape}")
        bad = (ids < 0) | (ids >= len(self.vocab))
        if bad.any():
            raise ValueError(
                f"ids: {int(ids[bad][0])} is not a token id in [0, {len(self.vocab)}) "
                f"(select counted targets with task.counted before decoding)"
            )
        return [self.vocab[i] for i in ids.tolist()]

    def decode(self, ids: Sequence[int] | np.ndarray) -> str:
        """The tokens of ``ids`` joined by ``separator``, specials such as "<sep>" included."""
        return self.separator.join(self.tokens(ids))

    def encode(self, text: str | Sequence[str]) -> np.ndarray:
        """Token ids (int64) of ``text``: a string (split on whitespace, or into characters when
        ``separator`` is "") or a list of token strings."""
        if isinstance(text, str):
            text = list(text) if self.separator == "" else text.split()
        lookup = self._ids
        unknown = [t for t in text if t not in lookup]
        if unknown:
            raise ValueError(f"text: token {unknown[0]!r} is not in the vocabulary")
        return np.array([lookup[t] for t in text], dtype=np.int64)

    @cached_property
    def _ids(self) -> dict[str, int]:
        return {token: i for i, token in enumerate(self.vocab)}

    def counted(self, split: str = "test") -> np.ndarray:
        """Bool mask of the targets that count (``targets != IGNORE``), the shape of targets."""
        return self.split(split).targets != IGNORE

    def __repr__(self) -> str:
        def size(rows: Split) -> str:
            return "x".join(map(str, rows.inputs.shape))

        return (
            f"Task({self.name!r}, kind={self.kind!r}, train={size(self.train)}, "
            f"test={size(self.test)}, vocab={len(self.vocab)}, classes={self.num_classes})"
        )


def symbols(n: int) -> tuple[str, ...]:
    """Token strings "0", "1", ..., str(n - 1): id i is the symbol of value i."""
    return tuple(str(i) for i in range(n))


def positive_int(x: object, name: str, minimum: int = 1) -> int:
    """``x`` as an int >= ``minimum`` (1 by default): TypeError for non-ints, ValueError below."""
    return at_least(x, name, minimum)


__all__ = ["IGNORE", "Batch", "Split", "Task"]
