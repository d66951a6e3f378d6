"""attnlab: attention you can see.

Scaled dot-product attention, positional encodings and transformer layers over NumPy arrays,
forward and backward, computed by a runtime-dispatched SIMD C++ core.

>>> import numpy as np, attnlab as al
>>> q = k = v = np.random.default_rng(0).standard_normal((2, 4, 16, 8), dtype=np.float32)
>>> out, weights = al.functional.scaled_dot_product_attention(q, k, v, return_weights=True)
>>> weights.shape
(2, 4, 16, 16)
"""

from attnlab import arch, functional, interpret, viz
from attnlab._memory import empty_cache
from attnlab._random import manual_seed
from attnlab._threads import get_num_threads, set_num_threads

__version__ = "0.1.0"

__all__ = [
    "arch",
    "empty_cache",
    "functional",
    "get_num_threads",
    "interpret",
    "manual_seed",
    "set_num_threads",
    "viz",
    "__version__",
]
