"""BERT (Devlin et al. 2019) built from attnlab.nn's modules: embeddings (word + absolute
position + token type, LayerNorm), a stack of post-norm TransformerEncoderLayers, and the
optional pooler, with the semantics of Hugging Face's BertModel."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from attnlab import nn
from attnlab.models._embed import token_ids
from attnlab.nn.activation import GELU, ReLU
from attnlab.nn.attention import _key_mask
from attnlab.tensor import Tensor

# Hugging Face's hidden_act names -> attnlab's activation: "gelu" is the exact (erf) GELU,
# "gelu_new" and "gelu_pytorch_tanh" the tanh approximation.
_ACTIVATIONS = {"gelu": "none", "gelu_new": "tanh", "gelu_pytorch_tanh": "tanh", "relu": None}


@dataclass(frozen=True)
class BertConfig:
    """The fields of a BERT config.json that define the computation (Hugging Face's names and
    defaults)."""

    vocab_size: int = 30522
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    pad_token_id: int = 0

    @classmethod
    def from_dict(cls, config: dict, source: str = "config.json") -> BertConfig:
        """The config of a Hugging Face config.json; ValueError naming the field and value
        of anything this BERT cannot compute exactly (another model type or position
        embedding, a decoder, an unknown activation)."""
        model_type = config.get("model_type", "bert")
        if model_type != "bert":
            raise ValueError(
                f"{source}: model_type {model_type!r} is not supported (expected "
                "'bert': the BERT architecture)"
            )
        unsupported = {
            "position_embedding_type": ("absolute",),
            "is_decoder": (False,),
            "add_cross_attention": (False,),
        }
        for field_name, allowed in unsupported.items():
            value = config.get(field_name, allowed[0])
            if value not in allowed:
                raise ValueError(
                    f"{source}: {field_name} = {value!r} is not supported (expected {allowed[0]!r})"
                )
        values = {f.name: config[f.name] for f in fields(cls) if f.name in config}
        built = cls(**values)
        built.check(source)
        return built

    def check(self, source: str = "config") -> None:
        """ValueError naming the field and value of any size or setting out of range."""
        for name in (
            "vocab_size",
            "hidden_size",
            "num_hidden_layers",
            "num_attention_heads",
            "intermediate_size",
            "max_position_embeddings",
            "type_vocab_size",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(
                    f"{source}: {name} = {value!r} is not supported (expected an int >= 1)"
                )
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(
                f"{source}: hidden_size = {self.hidden_size} is not divisible by "
                f"num_attention_heads = {self.num_attention_heads}"
            )
        if self.hidden_act not in _ACTIVATIONS:
            raise ValueError(
                f"{source}: hidden_act = {self.hidden_act!r} is not supported "
                f"(expected one of {sorted(_ACTIVATIONS)})"
            )
        for name in ("hidden_dropout_prob", "attention_probs_dropout_prob"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
                raise ValueError(
                    f"{source}: {name} = {value!r} is not supported (expected a "
                    "probability in [0, 1))"
                )
        eps = self.layer_norm_eps
        if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not eps > 0:
            raise ValueError(
                f"{source}: layer_norm_eps = {eps!r} is not supported (expected a number > 0)"
            )


def _activation(hidden_act: str) -> nn.Module:
    approximate = _ACTIVATIONS[hidden_act]
    return ReLU() if approximate is None else GELU(approximate)


class BertEmbeddings(nn.Module):
    """word + absolute position + token type embeddings, then LayerNorm and dropout."""

    def __init__(self, config: BertConfig, *, dtype: Any = np.float32) -> None:
        super().__init__()
        c = config.hidden_size
        self.word_embeddings = nn.Embedding(config.vocab_size, c, config.pad_token_id, dtype=dtype)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, c, dtype=dtype)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, c, dtype=dtype)
        self.norm = nn.LayerNorm(c, config.layer_norm_eps, dtype=dtype)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, input_ids: np.ndarray, token_type_ids: np.ndarray) -> Tensor:
        t = input_ids.shape[1]
        x = self.word_embeddings(input_ids)  # (B, T, C)
        x = x + self.token_type_embeddings(token_type_ids)
        x = x + self.position_embeddings(np.arange(t))  # (T, C), broadcast over B
        return self.dropout(self.norm(x))


class BertPooler(nn.Module):
    """tanh(dense(hidden state of the first token)): BERT's ``pooler_output``."""

    def __init__(self, config: BertConfig, *, dtype: Any = np.float32) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size, dtype=dtype)

    def forward(self, hidden: Tensor) -> Tensor:  # (B, T, C) -> (B, C)
        return self.dense(hidden[:, 0]).tanh()


class BertModel(nn.Module):
    """A BERT encoder from attnlab.nn's modules, named so that ``al.record_attention`` gives one
    entry per layer: ``encoder.layers.<i>.self_attn``.

    Submodules: ``embeddings`` (BertEmbeddings), ``encoder`` (a TransformerEncoder of post-norm
    TransformerEncoderLayers with BERT's activation and ``layer_norm_eps``), and ``pooler``
    (BertPooler) when ``add_pooling_layer``. Dropout as BERT's: ``attention_probs_dropout_prob``
    on the attention weights, ``hidden_dropout_prob`` on the embeddings and on each block's
    output before its residual sum, none after the feed-forward activation (torch's layer
    has one there; it is set to 0). Built with random weights; :func:`load_bert` fills them.
    """

    def __init__(
        self, config: BertConfig, *, add_pooling_layer: bool = True, dtype: Any = np.float32
    ) -> None:
        super().__init__()
        if not isinstance(config, BertConfig):
            raise TypeError(f"config: expected a BertConfig, got {type(config).__name__}")
        config.check()
        self.config = config
        self.embeddings = BertEmbeddings(config, dtype=dtype)
        layer = nn.TransformerEncoderLayer(
            config.hidden_size,
            config.num_attention_heads,
            config.intermediate_size,
            config.hidden_dropout_prob,
            activation=_activation(config.hidden_act),
            layer_norm_eps=config.layer_norm_eps,
            norm_first=False,
            dtype=dtype,
        )
        layer.self_attn.dropout = config.attention_probs_dropout_prob
        layer.dropout = nn.Dropout(0.0)
        self.encoder = nn.TransformerEncoder(layer, config.num_hidden_layers)
        self.add_module("pooler", BertPooler(config, dtype=dtype) if add_pooling_layer else None)

    def forward(
        self,
        input_ids: np.ndarray | Tensor,
        *,
        key_mask: np.ndarray | None = None,
        token_type_ids: np.ndarray | None = None,
    ) -> Tensor:
        """The last hidden state (B, T, C).

        Args:
            input_ids: (B, T) integer token ids in [0, vocab_size), T <= max_position_embeddings.
            key_mask: (B, T) bool or 0/1 ints, True/1 = real token (the tokenizer's
                attention_mask); padding is never attended to. None: every token is real.
            token_type_ids: (B, T) segment ids in [0, type_vocab_size); None: all 0.
        """
        cfg = self.config
        ids = token_ids(input_ids, "input_ids", cfg.vocab_size)
        b, t = ids.shape
        if t > cfg.max_position_embeddings:
            raise ValueError(
                f"input_ids: {t} tokens exceed max_position_embeddings="
                f"{cfg.max_position_embeddings} (truncate the text)"
            )
        if token_type_ids is None:
            types = np.zeros((b, t), dtype=np.int64)
        else:
            types = token_ids(
                token_type_ids, "token_type_ids", cfg.type_vocab_size, "type_vocab_size"
            )
            if types.shape != (b, t):
                raise ValueError(
                    f"token_type_ids: expected input_ids' shape {(b, t)}, got {types.shape}"
                )
        key_mask = None if key_mask is None else _key_mask(key_mask, "key_mask", b, t)
        x = self.embeddings(ids, types)  # (B, T, C)
        return self.encoder(x, key_mask=key_mask)

    def pool(self, hidden: Tensor) -> Tensor:
        """BERT's pooler output (B, C) from the last hidden state (B, T, C)."""
        if self.pooler is None:
            raise ValueError(
                "pool: this model has no pooler (built with add_pooling_layer=False "
                "or loaded from weights without pooler.dense)"
            )
        return self.pooler(hidden)

    def extra_repr(self) -> str:
        c = self.config
        return (
            f"layers={c.num_hidden_layers}, heads={c.num_attention_heads}, "
            f"hidden={c.hidden_size}, vocab={c.vocab_size}"
        )
