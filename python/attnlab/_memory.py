"""The core's memory cache, seen from Python."""

from attnlab import _core


def empty_cache() -> int:
    """Hand back to the system the memory the core keeps for reuse (freed scratch and dropped
    attention-weights arrays, at most 256 MiB), as ``torch.cuda.empty_cache()`` does.

    Returns:
        The number of bytes released.
    """
    held = _core.workspace_cached_bytes()
    _core.workspace_trim()
    return held
