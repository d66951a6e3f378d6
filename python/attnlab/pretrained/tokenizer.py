"""Tokenizer: a model's tokenizer.json through the ``tokenizers`` package, batches of token ids
as NumPy arrays (padding and truncation set here, explicitly), tokens back as strings."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from attnlab._validation import at_least
from attnlab.pretrained.folder import model_folder, read_object, required_file

TOKENIZER = "tokenizer.json"
# Hugging Face's model_max_length when a tokenizer sets none (int(1e30)): no limit.
_NO_LIMIT = 10**12


@dataclass(frozen=True, eq=False)
class Encoding:
    """A tokenized batch, padded on the right to its longest row.

    ``input_ids`` (B, T) int64, ``key_mask`` (B, T) bool (True = real token; the tokenizer's
    attention_mask), ``token_type_ids`` (B, T) int64; per row, its real ``tokens`` as strings
    (padding left out, so ``len(tokens[i])`` is row i's length) and ``word_ids`` (for each of
    those tokens the index of the word it comes from, None for [CLS]/[SEP]).
    """

    input_ids: np.ndarray
    key_mask: np.ndarray
    token_type_ids: np.ndarray
    tokens: list[list[str]]
    word_ids: list[list[int | None]]

    def __len__(self) -> int:
        return self.input_ids.shape[0]

    @property
    def lengths(self) -> np.ndarray:
        """(B,) the number of real tokens of each row."""
        return self.key_mask.sum(axis=1)

    def rows(self, index: Sequence[int] | np.ndarray | slice) -> Encoding:
        """The rows ``index`` selects, trimmed to their own longest row."""
        picked = np.arange(len(self))[index]
        tokens = [self.tokens[i] for i in picked]
        t = max((len(row) for row in tokens), default=0)
        return Encoding(
            self.input_ids[picked, :t],
            self.key_mask[picked, :t],
            self.token_type_ids[picked, :t],
            tokens,
            [self.word_ids[i] for i in picked],
        )


def texts_list(texts: Any, name: str = "texts") -> list[str]:
    """``texts`` (a str or a sequence of str) as a list; TypeError naming a non-str item's index."""
    if isinstance(texts, str):
        return [texts]
    if isinstance(texts, (bytes, dict, set)) or not isinstance(texts, (Sequence, np.ndarray)):
        raise TypeError(f"{name}: expected a str or a list of str, got {type(texts).__name__}")
    out = list(texts)
    for i, text in enumerate(out):
        if not isinstance(text, str):
            raise TypeError(f"{name}[{i}]: expected a str, got {type(text).__name__}")
    return out


class Tokenizer:
    """A Hugging Face fast tokenizer (tokenizer.json) read by the ``tokenizers`` package.

    Args:
        path: a model folder holding tokenizer.json, or the tokenizer.json file itself.
        max_length: the longest row in tokens, [CLS] and [SEP] included; longer texts are
            truncated at the end (Hugging Face's "longest_first", as sentence-transformers
            and ``transformers`` call it). Default: ``model_max_length`` of the folder's
            tokenizer_config.json when it sets one, else no limit.

    Whatever padding and truncation tokenizer.json itself asks for are replaced by these.
    """

    def __init__(self, path: str | os.PathLike, *, max_length: int | None = None) -> None:
        if isinstance(path, (str, os.PathLike)) and Path(path).is_file():
            file, folder = Path(path), Path(path).parent
        else:
            folder = model_folder(path)
            file = required_file(folder, TOKENIZER, "the tokenizer, read by the tokenizers package")
        try:
            from tokenizers import Tokenizer as RustTokenizer
        except ImportError:
            raise ImportError(
                "attnlab.pretrained reads tokenizer.json with the tokenizers "
                "package: pip install 'attnlab[pretrained]'"
            ) from None
        try:
            self._tokenizer = RustTokenizer.from_file(str(file))
        except Exception as e:  # tokenizers raises a bare Exception for a malformed file
            raise ValueError(
                f"{file.name}: not a tokenizer the tokenizers package can read ({e})"
            ) from None
        if max_length is None:
            config = read_object(folder, "tokenizer_config.json", "", optional=True) or {}
            limit = config.get("model_max_length")
            if isinstance(limit, int) and not isinstance(limit, bool) and 0 < limit < _NO_LIMIT:
                max_length = limit
        self.max_length = None if max_length is None else at_least(max_length, "max_length", 2)
        self.pad_id = self._pad_id(self._tokenizer.padding, file.name)
        self._tokenizer.no_padding()
        if self.max_length is None:
            self._tokenizer.no_truncation()
        else:
            self._tokenizer.enable_truncation(self.max_length, strategy="longest_first")

    def _pad_id(self, padding: dict | None, source: str) -> int:
        """The padding token's id: tokenizer.json's own padding setting, else "[PAD]" or "<pad>"."""
        if padding is not None:
            return int(padding["pad_id"])
        for token in ("[PAD]", "<pad>"):
            token_id = self._tokenizer.token_to_id(token)
            if token_id is not None:
                return token_id
        raise ValueError(f"{source}: no padding token ([PAD] or <pad>) and no padding setting")

    @property
    def vocab_size(self) -> int:
        return self._tokenizer.get_vocab_size()

    @cached_property
    def vocab(self) -> tuple[str, ...]:
        """The token string of every id, ``vocab[i]`` for id i."""
        by_id = self._tokenizer.get_vocab()
        out = [""] * self.vocab_size
        for token, i in by_id.items():
            out[i] = token
        return tuple(out)

    def __call__(self, texts: str | Sequence[str]) -> Encoding:
        """Tokenizes a text or a list of texts into one padded batch."""
        return self._batch(self._tokenizer.encode_batch(texts_list(texts)))

    def encode_words(self, words: Sequence[Sequence[str]]) -> Encoding:
        """Tokenizes texts already split into words (``is_split_into_words`` in
        ``transformers``): ``word_ids`` then index each row's words, for aligning word labels
        with subword tokens."""
        if isinstance(words, str) or not isinstance(words, Sequence):
            raise TypeError(f"words: expected a list of lists of str, got {type(words).__name__}")
        rows = []
        for i, row in enumerate(words):
            if isinstance(row, str):
                raise TypeError(f"words[{i}]: expected a list of str (one row's words), got str")
            rows.append(texts_list(row, f"words[{i}]"))
        return self._batch(self._tokenizer.encode_batch(rows, is_pretokenized=True))

    def _batch(self, encodings: list) -> Encoding:
        b = len(encodings)
        t = max((len(e.ids) for e in encodings), default=0)
        ids = np.full((b, t), self.pad_id, dtype=np.int64)
        types = np.zeros((b, t), dtype=np.int64)
        mask = np.zeros((b, t), dtype=bool)
        for i, e in enumerate(encodings):
            n = len(e.ids)
            ids[i, :n] = e.ids
            types[i, :n] = e.type_ids
            mask[i, :n] = e.attention_mask
        return Encoding(
            ids, mask, types, [e.tokens for e in encodings], [e.word_ids for e in encodings]
        )

    def __repr__(self) -> str:
        return f"Tokenizer(vocab_size={self.vocab_size}, max_length={self.max_length})"
