"""SentenceEncoder: a sentence-transformers folder (modules.json: Transformer, Pooling,
Normalize) run on attnlab, texts in, one float32 vector per text out."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from attnlab._validation import at_least
from attnlab.autograd import no_grad
from attnlab.pretrained.folder import model_folder, read_json, read_object
from attnlab.pretrained.pooling import Pooling
from attnlab.pretrained.tokenizer import Encoding, Tokenizer, texts_list
from attnlab.pretrained.weights import load_bert

_TRANSFORMER = "sentence_transformers.models.Transformer"
_POOLING = "sentence_transformers.models.Pooling"
_NORMALIZE = "sentence_transformers.models.Normalize"
# With progress=None, a bar appears from this many batches on.
_BAR_FROM_BATCHES = 8


class SentenceEncoder:
    """The sentence embedding model of a sentence-transformers folder, without torch.

    Reads modules.json: a Transformer module (a BERT, :func:`load_bert`, with its
    tokenizer.json and sentence_bert_config.json), a Pooling module (its config.json) and,
    when listed, Normalize (unit L2 norm). Texts longer than ``max_seq_length`` tokens
    (sentence_bert_config.json) are truncated as sentence-transformers truncates them.

    Attributes: ``model`` (the BertModel; ``al.record_attention(encoder.model)`` records its
    heads), ``tokenizer``, ``pooling``, ``normalize``, ``max_seq_length``, ``dim``.
    """

    def __init__(self, path: str | os.PathLike, *, dtype: Any = np.float32) -> None:
        folder = model_folder(path)
        modules = read_json(folder, "modules.json", "the sentence-transformers pipeline")
        if not isinstance(modules, list) or not all(isinstance(m, dict) for m in modules):
            raise ValueError("modules.json: expected a JSON list of module objects")
        kinds = [m.get("type") for m in modules]
        for kind in kinds:
            if kind not in (_TRANSFORMER, _POOLING, _NORMALIZE):
                raise ValueError(
                    f"modules.json: module type {kind!r} is not supported (expected "
                    "a Transformer, then Pooling, then optionally Normalize)"
                )
        if kinds not in ([_TRANSFORMER, _POOLING], [_TRANSFORMER, _POOLING, _NORMALIZE]):
            raise ValueError(
                f"modules.json: the modules {kinds} are not supported (expected a "
                "Transformer, then Pooling, then optionally Normalize)"
            )
        transformer = _module_folder(folder, modules[0])
        pooling = _module_folder(folder, modules[1])
        settings = (
            read_object(
                transformer,
                "sentence_bert_config.json",
                "the Transformer module's settings",
                optional=True,
            )
            or {}
        )
        self.model = load_bert(transformer, dtype=dtype)
        limit = settings.get("max_seq_length") or self.model.config.max_position_embeddings
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 2:
            raise ValueError(
                f"sentence_bert_config.json: max_seq_length = {limit!r} is not "
                "supported (expected an int >= 2)"
            )
        self.max_seq_length = min(limit, self.model.config.max_position_embeddings)
        self.do_lower_case = settings.get("do_lower_case", False) is True
        self.tokenizer = Tokenizer(transformer, max_length=self.max_seq_length)
        config_path = str(Path(modules[1].get("path", "")) / "config.json")
        self.pooling = Pooling.from_config(
            read_object(pooling, "config.json", "the Pooling module's settings"), config_path
        )
        self.normalize = len(modules) == 3
        self.dim = self.model.config.hidden_size * len(self.pooling.modes)

    def tokenize(self, texts: str | Sequence[str]) -> Encoding:
        """Token ids, key mask and tokens of ``texts``, as :meth:`encode` feeds them to the model
        (lowercased first when sentence_bert_config.json says do_lower_case)."""
        texts = texts_list(texts)
        return self.tokenizer([t.lower() for t in texts] if self.do_lower_case else texts)

    def encode(
        self, texts: str | Sequence[str], batch_size: int = 32, progress: bool | None = None
    ) -> np.ndarray:
        """Sentence embeddings: (N, dim) for a list of N texts, (dim,) for one str (as
        sentence-transformers), in the model's dtype (float32 unless built with float64).

        Texts are tokenized first, then run longest first in batches of ``batch_size`` (so
        that each batch pads little), pooled, L2-normalised when the folder lists Normalize,
        and returned in the input's order. ``progress``: a tqdm bar (tqdm.auto), None = only
        for inputs of 8 batches or more. An empty list gives a (0, dim) array.
        """
        single = isinstance(texts, str)
        encoding = self.tokenize(texts)
        batch_size = at_least(batch_size, "batch_size", 1)
        if progress is not None and not isinstance(progress, bool):
            raise TypeError(f"progress: expected a bool or None, got {type(progress).__name__}")
        n = len(encoding)
        out = np.empty((n, self.dim), dtype=self.model.embeddings.word_embeddings.weight.dtype)
        order = np.argsort(-encoding.lengths, kind="stable")
        starts = range(0, n, batch_size)
        bar = _bar(len(starts), progress)
        try:
            for start in starts:
                rows = order[start : start + batch_size]
                out[rows] = self._embed(encoding.rows(rows))
                if bar is not None:
                    bar.update(1)
        finally:
            if bar is not None:
                bar.close()
        return out[0] if single else out

    @no_grad()
    def hidden_states(self, batch: Encoding) -> np.ndarray:
        """The model's last hidden state (B, T, C) of a tokenized batch, in eval mode (no
        dropout, as sentence-transformers encodes) with no graph; the mode is restored."""
        training = self.model.training
        self.model.eval()
        try:
            return self.model(
                batch.input_ids, key_mask=batch.key_mask, token_type_ids=batch.token_type_ids
            ).data
        finally:
            self.model.train(training)

    def _embed(self, batch: Encoding) -> np.ndarray:
        pooled = self.pooling(self.hidden_states(batch), batch.key_mask)  # (B, dim)
        if self.normalize:  # torch.nn.functional.normalize: x / max(||x||, 1e-12)
            pooled /= np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return pooled

    def __repr__(self) -> str:
        c = self.model.config
        norm = ", normalize" if self.normalize else ""
        return (
            f"SentenceEncoder(BERT {c.num_hidden_layers} layers x {c.num_attention_heads} "
            f"heads, dim={self.dim}, max_seq_length={self.max_seq_length}, "
            f"pooling={self.pooling.name}{norm})"
        )


def _module_folder(folder: Path, module: dict) -> Path:
    """The folder of a modules.json entry (its "path", relative to the model folder)."""
    relative = module.get("path", "")
    if (
        not isinstance(relative, str)
        or Path(relative).is_absolute()
        or ".." in Path(relative).parts
    ):
        raise ValueError(f"modules.json: path {relative!r} is not a folder inside the model")
    if not (folder / relative).is_dir():
        raise ValueError(
            f"modules.json: the folder {relative!r} of module {module.get('type')!r} is missing"
        )
    return folder / relative


def _bar(total: int, progress: bool | None):
    """A tqdm.auto bar over ``total`` batches, or None (not asked, or tqdm not installed)."""
    if progress is False or (progress is None and total < _BAR_FROM_BATCHES):
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=total, unit="batch", desc="encode")
