"""attnlab: attention you can see.

Scaled dot-product attention, positional encodings and transformer layers over NumPy arrays,
forward and backward, computed by a runtime-dispatched SIMD C++ core.

>>> import numpy as np, attnlab as al
>>> q = k = v = np.random.default_rng(0).standard_normal((2, 4, 16, 8), dtype=np.float32)
>>> out, weights = al.functional.scaled_dot_product_attention(q, k, v, return_weights=True)
>>> weights.shape
(2, 4, 16, 16)
"""

# tensor first: functional's ops and autograd's Functions are built on the Tensor class.
from attnlab.tensor import Tensor, cat, from_numpy, stack, tensor, where  # isort: skip
from attnlab import (
    arch,
    autograd,
    data,
    functional,
    interop,
    interpret,
    models,
    nn,
    optim,
    pretrained,
    teaching,
    viz,
)
from attnlab._memory import empty_cache
from attnlab._random import get_rng_state, manual_seed, set_rng_state
from attnlab._threads import get_num_threads, set_num_threads
from attnlab._version import __version__
from attnlab.autograd import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from attnlab.checkpoint import Checkpoint, CheckpointError, load, load_model, save
from attnlab.nn.recording import record_attention
from attnlab.teaching import check
from attnlab.train import History, evaluate, fit

__all__ = [
    "Checkpoint",
    "CheckpointError",
    "History",
    "Tensor",
    "arch",
    "autograd",
    "cat",
    "check",
    "data",
    "empty_cache",
    "enable_grad",
    "evaluate",
    "fit",
    "from_numpy",
    "functional",
    "nn",
    "get_num_threads",
    "get_rng_state",
    "interop",
    "interpret",
    "is_grad_enabled",
    "load",
    "load_model",
    "manual_seed",
    "models",
    "no_grad",
    "optim",
    "pretrained",
    "record_attention",
    "save",
    "set_grad_enabled",
    "set_num_threads",
    "set_rng_state",
    "stack",
    "teaching",
    "tensor",
    "viz",
    "where",
    "__version__",
]
