"""attnlab's functions over NumPy arrays, forward and backward (PyTorch's ``F``).

Arrays in, arrays out. The ``_backward`` functions are the raw kernels that autograd calls.
"""

from attnlab.functional.activation import (
    gelu,
    gelu_backward,
    relu,
    relu_backward,
    silu,
    silu_backward,
)
from attnlab.functional.attention import (
    AttentionStats,
    scaled_dot_product_attention,
    scaled_dot_product_attention_backward,
)
from attnlab.functional.dropout import dropout, dropout_backward
from attnlab.functional.embedding import (
    embedding,
    embedding_backward,
    relative_position_bias,
    relative_position_bias_backward,
)
from attnlab.functional.linear import linear, linear_backward
from attnlab.functional.loss import cross_entropy, cross_entropy_backward
from attnlab.functional.matmul import matmul, matmul_backward
from attnlab.functional.norm import layer_norm, layer_norm_backward, rms_norm, rms_norm_backward
from attnlab.functional.positional import (
    alibi_bias,
    alibi_slopes,
    relative_position_bucket,
    rope,
    rope_backward,
    sinusoidal_positional_encoding,
    sliding_window,
)
from attnlab.functional.softmax import log_softmax, log_softmax_backward, softmax, softmax_backward

__all__ = [
    "AttentionStats",
    "alibi_bias",
    "alibi_slopes",
    "cross_entropy",
    "cross_entropy_backward",
    "dropout",
    "dropout_backward",
    "embedding",
    "embedding_backward",
    "gelu",
    "gelu_backward",
    "layer_norm",
    "layer_norm_backward",
    "linear",
    "linear_backward",
    "log_softmax",
    "log_softmax_backward",
    "matmul",
    "matmul_backward",
    "relative_position_bias",
    "relative_position_bias_backward",
    "relative_position_bucket",
    "relu",
    "relu_backward",
    "rms_norm",
    "rms_norm_backward",
    "rope",
    "rope_backward",
    "scaled_dot_product_attention",
    "scaled_dot_product_attention_backward",
    "silu",
    "silu_backward",
    "sinusoidal_positional_encoding",
    "sliding_window",
    "softmax",
    "softmax_backward",
]
