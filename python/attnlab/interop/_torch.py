"""PyTorch for the interop modules (convert, layers, models, transfer): they import it from
here, so that loading any of them without torch says what to install. attnlab.interop loads
them only when one of its functions or torch models is first used, so ``import attnlab`` never
imports torch."""

try:
    import torch
    from torch import nn
    from torch.nn import functional
except ImportError as e:
    raise ImportError(
        "attnlab.interop needs PyTorch (pip install torch); the rest of attnlab runs without it"
    ) from e

__all__ = ["functional", "nn", "torch"]
