"""Pooling: token vectors (B, T, C) -> one vector per text, as sentence-transformers' Pooling
module computes it from its 1_Pooling/config.json."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# sentence-transformers' legacy flags in its order of concatenation, and each one's mode.
_FLAGS = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len_tokens",
    "pooling_mode_weightedmean_tokens": "weightedmean",
    "pooling_mode_lasttoken": "lasttoken",
}
MODES = tuple(_FLAGS.values())


@dataclass(frozen=True)
class Pooling:
    """The pooling ``modes`` (in MODES), whose results are concatenated in this order."""

    modes: tuple[str, ...] = ("mean",)

    def __post_init__(self) -> None:
        if not self.modes:
            raise ValueError("modes: expected at least one pooling mode")
        for mode in self.modes:
            if mode not in MODES:
                raise ValueError(f"modes: {mode!r} is not a pooling mode (expected one of {MODES})")

    @classmethod
    def from_config(cls, config: dict, source: str) -> Pooling:
        """The pooling of a sentence-transformers Pooling config: ``pooling_mode`` (a mode or
        a list of them), or the legacy ``pooling_mode_*_tokens`` flags (none set: mean)."""
        if "pooling_mode" in config:
            modes = config["pooling_mode"]
            modes = [modes] if isinstance(modes, str) else modes
            if not isinstance(modes, list) or not all(isinstance(m, str) for m in modes):
                raise ValueError(
                    f"{source}: pooling_mode = {config['pooling_mode']!r} is not "
                    f"supported (expected one of {MODES} or a list of them)"
                )
        else:
            modes = [mode for flag, mode in _FLAGS.items() if config.get(flag, False)] or ["mean"]
        try:
            return cls(tuple(modes))
        except ValueError as e:
            raise ValueError(f"{source}: pooling_mode = {modes!r} is not supported ({e})") from None

    def __call__(self, hidden: np.ndarray, key_mask: np.ndarray) -> np.ndarray:
        """hidden (B, T, C) and key_mask (B, T) bool, rows padded on the right -> (B, k C)."""
        weights = key_mask[..., None].astype(hidden.dtype)  # (B, T, 1)
        count = np.maximum(weights.sum(axis=1), 1e-9)  # (B, 1)
        lengths = key_mask.sum(axis=1)  # (B,)
        rows = np.arange(hidden.shape[0])
        out = []
        for mode in self.modes:
            if mode == "cls":
                out.append(hidden[:, 0])
            elif mode == "max":
                out.append(
                    np.where(key_mask[..., None], hidden, -np.inf).max(axis=1, initial=-np.inf)
                )
            elif mode in ("mean", "mean_sqrt_len_tokens"):
                total = np.einsum("btc,bt->bc", hidden, weights[..., 0])
                out.append(total / (count if mode == "mean" else np.sqrt(count)))
            elif mode == "weightedmean":  # position t (from 1) weighs t
                w = weights * np.arange(1, hidden.shape[1] + 1, dtype=hidden.dtype)[:, None]
                out.append((hidden * w).sum(axis=1) / np.maximum(w.sum(axis=1), 1e-9))
            else:  # lasttoken: the last real token (the last position of an empty row)
                last = np.where(lengths > 0, lengths - 1, hidden.shape[1] - 1)
                out.append(hidden[rows, last] * (lengths > 0)[:, None])
        return np.concatenate(out, axis=-1).astype(hidden.dtype, copy=False)

    @property
    def name(self) -> str:
        return "+".join(self.modes)
