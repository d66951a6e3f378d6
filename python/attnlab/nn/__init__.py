"""attnlab.nn: layers and models as torch.nn, batch-first, over attnlab Tensors.

Parameter and submodule names are torch.nn's, so a torch module's state_dict converted to
NumPy loads into the equivalent attnlab module (``load_state_dict``) and back.
"""

from attnlab.nn import init
from attnlab.nn.activation import GELU, ReLU, SiLU
from attnlab.nn.container import ModuleDict, ModuleList, Sequential
from attnlab.nn.dropout import Dropout
from attnlab.nn.embedding import Embedding
from attnlab.nn.linear import Identity, Linear
from attnlab.nn.module import Module
from attnlab.nn.normalization import LayerNorm, RMSNorm
from attnlab.nn.parameter import Parameter

__all__ = [
    "Dropout", "Embedding", "GELU", "Identity", "LayerNorm", "Linear", "Module", "ModuleDict",
    "ModuleList", "Parameter", "RMSNorm", "ReLU", "Sequential", "SiLU", "init",
]
