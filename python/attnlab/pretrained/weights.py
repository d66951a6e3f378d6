"""load_bert: a Hugging Face BERT folder (config.json + model.safetensors) -> a BertModel, the
weights read with the ``safetensors`` package's NumPy API (never a pickle) and renamed onto
attnlab.nn's names."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from attnlab.pretrained.bert import BertConfig, BertModel
from attnlab.pretrained.folder import model_folder, read_object
from attnlab.tensor import FLOAT_DTYPES

WEIGHTS = "model.safetensors"
INDEX = "model.safetensors.index.json"  # the weight map of a checkpoint split into shards
# Buffers that Hugging Face saves beside the weights and recomputes: not parameters.
_BUFFERS = ("embeddings.position_ids", "embeddings.token_type_ids")
_FLOATS = {"F16": np.float16, "F32": np.float32, "F64": np.float64}
# Norm parameters of checkpoints converted from TensorFlow: gamma = weight, beta = bias.
_NORM_NAMES = {"weight": "weight", "bias": "bias", "gamma": "weight", "beta": "bias"}
_LAYER = re.compile(r"encoder\.layer\.(\d+)\.(.+)")
# Per layer: Hugging Face's name (after "encoder.layer.<i>.") -> attnlab's (after
# "encoder.layers.<i>."), and for the query, key and value their rows of the packed in_proj.
_LAYER_NAMES = {
    "attention.self.query": ("self_attn.in_proj", 0),
    "attention.self.key": ("self_attn.in_proj", 1),
    "attention.self.value": ("self_attn.in_proj", 2),
    "attention.output.dense": ("self_attn.out_proj", None),
    "attention.output.LayerNorm": ("norm1", None),
    "intermediate.dense": ("linear1", None),
    "output.dense": ("linear2", None),
    "output.LayerNorm": ("norm2", None),
}
_TOP_NAMES = {
    "embeddings.word_embeddings": "embeddings.word_embeddings",
    "embeddings.position_embeddings": "embeddings.position_embeddings",
    "embeddings.token_type_embeddings": "embeddings.token_type_embeddings",
    "embeddings.LayerNorm": "embeddings.norm",
    "pooler.dense": "pooler.dense",
}


def attnlab_name(name: str) -> tuple[str, int | None] | None:
    """The attnlab parameter that a Hugging Face BertModel weight (without the "bert." prefix)
    fills, and for a query/key/value weight its third (0, 1, 2) of in_proj; None for a name
    that is not a BertModel weight."""
    module, _, leaf = name.rpartition(".")
    layer = _LAYER.fullmatch(module)
    if layer is not None:
        index, inner = layer.groups()
        if inner not in _LAYER_NAMES:
            return None
        target, part = _LAYER_NAMES[inner]
        prefix = f"encoder.layers.{int(index)}."
    elif module in _TOP_NAMES:
        target, part, prefix = _TOP_NAMES[module], None, ""
    else:
        return None
    norm = module.endswith("LayerNorm")
    if (leaf not in _NORM_NAMES) if norm else (leaf not in ("weight", "bias")):
        return None
    leaf = _NORM_NAMES[leaf]
    if target.endswith("in_proj"):
        return f"{prefix}{target}_{leaf}", part
    return f"{prefix}{target}.{leaf}", part


def load_bert(
    path: str | os.PathLike, *, dtype: Any = np.float32, strict: bool = True
) -> BertModel:
    """A BERT encoder from a Hugging Face folder, with no torch and no network.

    Reads ``config.json`` and ``model.safetensors`` (or the shards that
    ``model.safetensors.index.json`` lists) with the ``safetensors`` package's NumPy API;
    pickled ``pytorch_model.bin`` files are never read. Weight names are Hugging Face's
    (``embeddings.word_embeddings.weight``, ``encoder.layer.0.attention.self.query.weight``,
    ..., with or without the ``bert.`` prefix of the ``BertFor...`` models); the query, key
    and value weights of a layer become its ``self_attn.in_proj_weight``. The pooler is built
    when the file holds its weights.

    Args:
        path: the folder.
        dtype: float32 (default) or float64; float16/32/64 weights are converted to it, as
            ``transformers`` does with ``torch_dtype``.
        strict: True (default): a weight that is not part of BertModel (a task head such as
            ``cls.predictions.*``) is an error; False ignores those.

    Returns:
        A :class:`BertModel` in eval mode (as ``from_pretrained`` returns it); call
        ``.train()`` before fine-tuning to turn dropout on.

    Raises:
        ValueError: a missing folder or file, a config this BERT does not support (naming the
            field and value), a file safetensors cannot read, or weights that are missing,
            unexpected, mis-shaped or not floats (naming each key).
    """
    folder = model_folder(path)
    model_dtype = np.dtype(dtype)
    if model_dtype not in FLOAT_DTYPES:
        raise TypeError(f"dtype: expected float32 or float64, got {model_dtype}")
    if not isinstance(strict, bool):
        raise TypeError(f"strict: expected a bool, got {type(strict).__name__}")
    config = BertConfig.from_dict(read_object(folder, "config.json", "the model's config"))
    files = _weight_files(folder)
    shapes = {}  # name in the file -> (file, safetensors dtype, shape)
    for file in files:
        for key, (kind, shape) in _headers(file).items():
            shapes[key] = (file, kind, shape)
    prefixed = any(k.startswith("bert.") for k in shapes)
    entries = {(k[len("bert.") :] if prefixed and k.startswith("bert.") else k): k for k in shapes}
    model = BertModel(config, add_pooling_layer="pooler.dense.weight" in entries, dtype=model_dtype)
    expected = {name: array.shape for name, array in model.state_dict().items()}
    parts, problems = _match(entries, shapes, expected, strict, prefixed)
    if problems:
        where = ", ".join(f.name for f in files)
        raise ValueError(f"{where}: " + "; ".join(problems))
    arrays = _read(files, {stored: shapes[stored][0] for keys in parts.values() for stored in keys})
    state = {}
    for al_name, keys in parts.items():
        values = [arrays[key].astype(model_dtype, copy=False) for key in keys]
        state[al_name] = values[0] if len(values) == 1 else np.concatenate(values)
    model.load_state_dict(state)
    return model.eval()


def _match(
    entries: dict[str, str],
    shapes: dict[str, tuple],
    expected: dict[str, tuple],
    strict: bool,
    prefixed: bool,
) -> tuple[dict[str, list[str]], list[str]]:
    """For each attnlab parameter, the stored names that fill it (q, k, v in that order for
    in_proj), and every problem: unexpected keys (with ``strict``), unsupported dtypes,
    shapes that differ from the config's, missing keys."""
    parts: dict[str, list] = {}
    problems = []
    seen = set()
    for name, stored in entries.items():
        target = attnlab_name(name)
        if target is None or target[0] not in expected:
            if name not in _BUFFERS and strict:
                problems.append(
                    f"unexpected key {stored!r} (not a BertModel weight; strict=False ignores it)"
                )
            continue
        al_name, part = target
        seen.add(target)
        _, kind, shape = shapes[stored]
        want = expected[al_name]
        if part is not None:  # a third of in_proj's rows
            want = (want[0] // 3,) + want[1:]
        if kind not in _FLOATS:
            problems.append(f"{stored!r}: dtype {kind} is not supported (expected F16, F32 or F64)")
        elif tuple(shape) != want:
            problems.append(f"{stored!r}: shape {tuple(shape)} does not match the config's {want}")
        else:
            parts.setdefault(al_name, [None, None, None] if part is not None else [None])
            parts[al_name][part or 0] = stored
    for al_name in expected:
        thirds = (0, 1, 2) if al_name.endswith(("in_proj_weight", "in_proj_bias")) else (None,)
        problems += [
            f"missing key {_hf_name(al_name, part, prefixed)!r}"
            for part in thirds
            if (al_name, part) not in seen
        ]
    return parts, problems


def _hf_name(al_name: str, part: int | None, prefixed: bool) -> str:
    """The Hugging Face name of an attnlab parameter (its ``part`` third for in_proj)."""
    prefix = "bert." if prefixed else ""
    module, _, leaf = al_name.rpartition(".")
    if module.startswith("encoder.layers."):
        _, _, index, inner = module.split(".", 3)
        if leaf.startswith("in_proj_"):
            inner, leaf = (
                ("attention.self.query", "attention.self.key", "attention.self.value")[part],
                leaf[len("in_proj_") :],
            )
        else:
            inner = next(hf for hf, (al, _) in _LAYER_NAMES.items() if al == inner)
        return f"{prefix}encoder.layer.{index}.{inner}.{leaf}"
    return prefix + next(hf for hf, al in _TOP_NAMES.items() if al == module) + "." + leaf


def _weight_files(folder: Path) -> list[Path]:
    """model.safetensors, or the shards its index lists; ValueError when there are none."""
    single = folder / WEIGHTS
    if single.is_file():
        return [single]
    index = read_object(folder, INDEX, "the shard map", optional=True)
    if index is None:
        pickles = [p.name for p in folder.glob("*.bin")]
        hint = (
            (
                f" ({', '.join(pickles)} is a pickle, which attnlab never loads: convert it "
                "with safetensors)"
            )
            if pickles
            else ""
        )
        raise ValueError(f"{WEIGHTS}: missing from {str(folder)!r} (the model's weights){hint}")
    weight_map = index.get("weight_map")
    if not isinstance(weight_map, dict) or not weight_map:
        raise ValueError(f"{INDEX}: expected a non-empty 'weight_map' object")
    shards = []
    for name in dict.fromkeys(weight_map.values()):
        if (
            not isinstance(name, str)
            or Path(name).name != name
            or not name.endswith(".safetensors")
        ):
            raise ValueError(
                f"{INDEX}: weight_map names {name!r}, expected a .safetensors file "
                "in the same folder"
            )
        if not (folder / name).is_file():
            raise ValueError(f"{name}: missing from {str(folder)!r} (a shard {INDEX} lists)")
        shards.append(folder / name)
    return shards


def _safetensors():
    try:
        import safetensors
    except ImportError:
        raise ImportError(
            "load_bert reads weights with the safetensors package: pip install "
            "'attnlab[pretrained]' (or pip install safetensors)"
        ) from None
    return safetensors


def _headers(file: Path) -> dict[str, tuple[str, list[int]]]:
    """name -> (safetensors dtype string, shape) of every tensor, from the header alone."""
    safetensors = _safetensors()
    try:
        with safetensors.safe_open(file, framework="np") as f:
            out = {}
            for key in f.keys():
                view = f.get_slice(key)
                out[key] = (view.get_dtype(), view.get_shape())
            return out
    except safetensors.SafetensorError as e:
        raise ValueError(f"{file.name}: not a readable safetensors file ({e})") from None


def _read(files: list[Path], where: dict[str, Path]) -> dict[str, np.ndarray]:
    """The arrays of the keys ``where`` maps to their files, each file opened once."""
    safetensors = _safetensors()
    arrays = {}
    for file in files:
        key = None
        try:
            with safetensors.safe_open(file, framework="np") as f:
                for key in (k for k, owner in where.items() if owner == file):
                    arrays[key] = f.get_tensor(key)
        except safetensors.SafetensorError as e:
            raise ValueError(f"{file.name}: {key!r} could not be read ({e})") from None
    return arrays
