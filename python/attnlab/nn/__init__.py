"""attnlab.nn: layers and models as torch.nn, batch-first, over attnlab Tensors.

Parameter and submodule names are torch.nn's, so a torch module's state_dict converted to
NumPy loads into the equivalent attnlab module (``load_state_dict``) and back.
"""

from attnlab.nn import init
from attnlab.nn.activation import GELU, ReLU, SiLU
from attnlab.nn.attention import MultiheadAttention
from attnlab.nn.container import ModuleDict, ModuleList, Sequential
from attnlab.nn.dropout import Dropout
from attnlab.nn.embedding import Embedding
from attnlab.nn.feedforward import SwiGLU
from attnlab.nn.kv_cache import KVCache
from attnlab.nn.linear import Identity, Linear
from attnlab.nn.module import Module, ModuleSpec
from attnlab.nn.normalization import LayerNorm, RMSNorm
from attnlab.nn.parameter import Parameter
from attnlab.nn.positional import (
    ALiBi,
    LearnedPositionalEmbedding,
    RelativePositionBias,
    RotaryEmbedding,
    SinusoidalPositionalEncoding,
)
from attnlab.nn.recording import AttentionRecord, RecordsAttention, record_attention
from attnlab.nn.transformer import Transformer
from attnlab.nn.transformer_decoder import TransformerDecoder, TransformerDecoderLayer
from attnlab.nn.transformer_encoder import TransformerEncoder, TransformerEncoderLayer

__all__ = [
    "ALiBi",
    "AttentionRecord",
    "Dropout",
    "Embedding",
    "GELU",
    "Identity",
    "KVCache",
    "LayerNorm",
    "LearnedPositionalEmbedding",
    "Linear",
    "Module",
    "ModuleDict",
    "ModuleList",
    "ModuleSpec",
    "MultiheadAttention",
    "Parameter",
    "RMSNorm",
    "ReLU",
    "RecordsAttention",
    "RelativePositionBias",
    "RotaryEmbedding",
    "Sequential",
    "SiLU",
    "SinusoidalPositionalEncoding",
    "SwiGLU",
    "Transformer",
    "TransformerDecoder",
    "TransformerDecoderLayer",
    "TransformerEncoder",
    "TransformerEncoderLayer",
    "init",
    "record_attention",
]
