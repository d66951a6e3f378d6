"""Carrying a module across, once its counterpart is built: the two trees must pair up
submodule by submodule (same names, matching classes), then each pair's settings that no
constructor argument carried (a Dropout's p, a LayerNorm's eps, ...), its train/eval mode, the
weights (bitwise) and the ``requires_grad`` flags go from the source to the target."""

from __future__ import annotations

from typing import Any

import numpy as np

from attnlab import nn
from attnlab._validation import positive, real_number
from attnlab.interop import models as tm
from attnlab.interop._torch import nn as tnn
from attnlab.interop._torch import torch
from attnlab.interop.layers import CORRESPONDING
from attnlab.models import GPT, EncoderClassifier, Seq2Seq
from attnlab.models._embed import TokenEmbedding
from attnlab.models.gpt import MLP, Block

# (attnlab class, torch class) of every pair of submodules that may stand at the same name:
# the layers that convert on their own, and those that only stand inside them or in a model.
PAIRS = {(ours, theirs) for theirs, ours, _, _ in CORRESPONDING} | {
    (nn.Linear, tnn.modules.linear.NonDynamicallyQuantizableLinear),
    (nn.Dropout, tnn.Dropout),
    (nn.ModuleList, tnn.ModuleList),
    (nn.ReLU, tnn.ReLU),
    (nn.GELU, tnn.GELU),
    (nn.MultiheadAttention, tm.TorchCausalSelfAttention),
    (nn.RotaryEmbedding, tm.TorchRotary),
    (nn.ALiBi, tm.TorchALiBi),
    (GPT, tm.TorchGPT),
    (Block, tm.TorchBlock),
    (MLP, tm.TorchMLP),
    (TokenEmbedding, tm.TorchTokenEmbedding),
    (EncoderClassifier, tm.TorchEncoderClassifier),
    (Seq2Seq, tm.TorchSeq2Seq),
}

# The layers whose ``activation`` is a setting (checked by their builders), a module on one
# side and possibly a function on the other.
_ACTIVATION_HOLDERS = (
    nn.TransformerEncoderLayer,
    nn.TransformerDecoderLayer,
    tnn.TransformerEncoderLayer,
    tnn.TransformerDecoderLayer,
)


def _probability(value: Any, name: str) -> float:
    value = real_number(value, name)
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name}: expected 0 <= p < 1 (attnlab's dropout), got {value}")
    return value


def _approximate(value: Any, name: str) -> str:
    if value not in ("none", "tanh"):
        raise ValueError(f"{name}: expected 'none' or 'tanh', got {value!r}")
    return value


def _layer_norm_eps(value: Any, name: str) -> float:
    return positive(value, name + " (attnlab's layer_norm needs eps > 0)")


def _rotary(source: Any, name: str) -> dict[str, Any]:
    """A rotary module's settings, checked by attnlab's own RotaryEmbedding."""
    settings = {
        "base": source.base,
        "rotary_dim": source.rotary_dim,
        "interleaved": source.interleaved,
    }
    try:
        nn.RotaryEmbedding(source.dim, **settings)
    except (TypeError, ValueError) as e:
        raise type(e)(f"{name}: {e}") from None
    return settings


# attnlab class -> (attribute, its check) that each pair copies from source to target.
_SETTINGS = {
    nn.Dropout: (("p", _probability),),
    nn.LayerNorm: (("eps", _layer_norm_eps),),
    nn.MultiheadAttention: (("dropout", _probability),),
    nn.GELU: (("approximate", _approximate),),
}


def _class(module: Any) -> str:
    kind = type(module)
    return f"{kind.__module__}.{kind.__qualname__}"


def float_dtype(module: tnn.Module, where: str) -> Any:
    """The NumPy dtype of a torch module's floating parameters and buffers (float32 when it
    has none); TypeError for another dtype or a mix."""
    seen: dict[torch.dtype, str] = {}
    for name, t in [*module.named_parameters(), *module.named_buffers()]:
        if t.is_floating_point():
            seen.setdefault(t.dtype, name)
    for dtype, name in seen.items():
        if dtype not in (torch.float32, torch.float64):
            raise TypeError(
                f"{where}: {name!r} has dtype {dtype}; attnlab computes in float32 or "
                "float64 (convert the module with .float() or .double() first)"
            )
    if len(seen) > 1:
        raise TypeError(
            f"{where}: mixes float32 ({seen[torch.float32]!r}) and float64 "
            f"({seen[torch.float64]!r}) tensors; attnlab modules have one dtype"
        )
    return np.float64 if torch.float64 in seen else np.float32


def _pairs(
    ours: nn.Module, theirs: tnn.Module, where: str, from_torch: bool
) -> list[tuple[str, nn.Module, tnn.Module]]:
    """(path, attnlab module, torch module) at each name of both trees; TypeError naming the
    first submodule without a counterpart of a matching class."""
    a, t = dict(ours.named_modules()), dict(theirs.named_modules())
    source, target = (t, a) if from_torch else (a, t)
    out = []
    for name in [*source, *(n for n in target if n not in source)]:
        path = f"{where}.{name}" if name else where
        parent, _, last = name.rpartition(".")
        holder = source.get(parent, target.get(parent))
        if last == "activation" and isinstance(holder, _ACTIVATION_HOLDERS):
            continue
        if name not in source or name not in target:
            missing = "the torch module" if name not in t else "the attnlab module"
            found = source.get(name, target.get(name))
            raise TypeError(
                f"{path}: {_class(found)} has no counterpart in {missing} "
                f"({_class(theirs)} <-> {_class(ours)})"
            )
        if (type(a[name]), type(t[name])) not in PAIRS:
            raise TypeError(
                f"{path}: {_class(source[name])} is not a module attnlab converts "
                f"here (its counterpart would be {_class(target[name])})"
            )
        out.append((path, a[name], t[name]))
    return out


def _no_hooks(module: tnn.Module, path: str) -> None:
    if module._forward_hooks or module._forward_pre_hooks:
        raise ValueError(
            f"{path}: has forward hooks, which may change what it computes and "
            "attnlab cannot carry; remove them before converting"
        )


def _copy_settings(source: Any, target: Any, kind: type, path: str, from_torch: bool) -> None:
    for attr, check in _SETTINGS.get(kind, ()):
        value = getattr(source, attr)
        setattr(target, attr, check(value, f"{path}.{attr}") if from_torch else value)
    if kind is nn.RotaryEmbedding:
        for attr, value in _rotary(source, path).items():
            setattr(target, attr, value)
    target.training = source.training


def _state(ours: nn.Module, theirs: tnn.Module, where: str, from_torch: bool) -> None:
    """The weights, bitwise, through each side's strict load_state_dict."""
    try:
        if from_torch:
            ours.load_state_dict(
                {k: v.detach().cpu().numpy().copy() for k, v in theirs.state_dict().items()}
            )
        else:
            theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    except (RuntimeError, ValueError) as e:
        raise ValueError(
            f"{where}: the weights of {_class(theirs)} do not fit "
            f"{_class(ours)}, a layout attnlab cannot express: {e}"
        ) from None


def carry(source: Any, target: Any, where: str) -> None:
    """Checks that ``target`` (just built) pairs up with ``source`` and gives it source's
    settings, modes, weights and requires_grad flags."""
    from_torch = isinstance(source, tnn.Module)
    ours, theirs = (target, source) if from_torch else (source, target)
    for path, a, t in _pairs(ours, theirs, where, from_torch):
        if from_torch:
            _no_hooks(t, path)
        _copy_settings(t if from_torch else a, a if from_torch else t, type(a), path, from_torch)
    _state(ours, theirs, where, from_torch)
    sources = dict(source.named_parameters())
    for name, p in target.named_parameters():
        p.requires_grad_(bool(sources[name].requires_grad))
