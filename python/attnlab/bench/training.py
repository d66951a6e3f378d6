"""The training rows: one AdamW step, the autograd layer's per-op overhead, GPT training steps
beside the same model in torch, and the time al.fit takes to solve a task."""

from __future__ import annotations

import time
from types import SimpleNamespace

import numpy as np

import attnlab as al
from attnlab.bench.timing import Row

F = al.functional


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


def optimizer_rows(quick: bool, torch) -> list[Row]:
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


def autograd_rows(quick: bool, torch) -> list[Row]:
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


def training_rows(quick: bool, torch) -> list[Row]:
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
