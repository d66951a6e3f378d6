"""attnlab's functions over NumPy arrays, forward and backward (PyTorch's ``F``).

Arrays in, arrays out. The ``_backward`` functions are the raw kernels that autograd calls.
"""

from attnlab._attention import scaled_dot_product_attention, scaled_dot_product_attention_backward

__all__ = ["scaled_dot_product_attention", "scaled_dot_product_attention_backward"]
