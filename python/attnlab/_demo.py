"""The main demo: two hand-built attention heads on a sentence, their weights as a table, and
the fused kernel timed against the same attention written in NumPy."""

from __future__ import annotations

import time
import zlib

import numpy as np

import attnlab as al
from attnlab._bench import numpy_attention

SENTENCE = "the cat sat on the mat and the dog sat on the rug".split()


def _word_vectors(words: list[str], dim: int) -> np.ndarray:
    """A fixed random unit vector per distinct word (the same word gets the same vector)."""
    rows = [np.random.default_rng(zlib.crc32(w.encode())).standard_normal(dim) for w in words]
    x = np.array(rows)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def heads(words: list[str], dim: int = 16) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """q, k, v (1, 2, L, dim): head 0 matches equal words, head 1 looks one token back."""
    n = len(words)
    words_v = _word_vectors(words, dim)
    # pe(a) . pe(b) depends only on a - b and peaks at a = b; a small base keeps neighbours apart.
    pe = al.functional.sinusoidal_positional_encoding(n + 1, dim, base=10.0, dtype=np.float64)
    q = np.stack([8.0 * words_v, 8.0 * pe[:n]])       # (H, L, D)
    k = np.stack([words_v, pe[1:]])                    # head 1: q_i . k_j peaks at j = i - 1
    v = np.stack([words_v, words_v])
    return q[None], k[None], v[None]                   # (B, H, L, D)


def _table(weights: np.ndarray, words: list[str]) -> str:
    width = max(len(w) for w in words) + 1
    head = " " * width + "".join(f"{w[:5]:>6}" for w in words)
    rows = [f"{q:<{width}}" + "".join(f"{x:6.2f}" for x in row) for q, row in zip(words, weights)]
    return "\n".join([head] + rows)


def _median_seconds(fn, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def run(timing: bool = True) -> None:
    print(f"attnlab {al.__version__}: kernels on {al.arch.current()}, {al.get_num_threads()} threads")
    q, k, v = heads(SENTENCE)
    _, weights = al.functional.scaled_dot_product_attention(
        q, k, v, is_causal=True, return_weights=True)
    titles = ["head 0: attends to earlier copies of the same word",
              "head 1: attends to the previous token"]
    for h, title in enumerate(titles):
        print(f"\n{title} (rows: queries, columns: keys, causal)")
        print(_table(weights[0, h], SENTENCE))
    if not timing:
        return
    shape = (4, 8, 1024, 64)
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal(shape, dtype=np.float32) for _ in range(3))
    fused = _median_seconds(lambda: al.functional.scaled_dot_product_attention(q, k, v))
    reference = _median_seconds(lambda: numpy_attention(q, k, v))
    print(f"\nforward {shape} float32, median of 3: attnlab {fused * 1e3:.1f} ms, "
          f"NumPy (matmul, softmax, matmul) {reference * 1e3:.1f} ms, "
          f"ratio {reference / fused:.2f}x")
