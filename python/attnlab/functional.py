"""attnlab's functions over NumPy arrays, forward and backward (PyTorch's ``F``).

Arrays in, arrays out. The ``_backward`` functions are the raw kernels that autograd calls.
"""

from attnlab._attention import scaled_dot_product_attention, scaled_dot_product_attention_backward
from attnlab._linear import linear, linear_backward

__all__ = [
    "linear",
    "linear_backward",
    "scaled_dot_product_attention",
    "scaled_dot_product_attention_backward",
]
