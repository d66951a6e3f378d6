"""The main demo: train a small transformer on a synthetic task, show that it solved it, and
draw every attention head it learned (PNG pictures and self-contained HTML views)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np

import attnlab as al
from attnlab.data import Task


@dataclass(frozen=True)
class Recipe:
    """A task, a model for it and how long to train: each one reaches >= 99% test token
    accuracy with its default steps."""

    task: Callable[[int], Task]
    model: Callable[[Task], al.nn.Module]
    steps: int
    lr: float
    batch_size: int = 64


def _gpt(task: Task, **kw) -> al.nn.Module:
    return al.models.GPT(len(task.vocab), task.block_size, **kw)


RECIPES = {
    "reverse": Recipe(
        lambda seed: al.data.tasks.reverse(8, 10, seed=seed),
        lambda t: _gpt(t, n_layer=2, n_head=4, d_model=64),
        steps=300,
        lr=3e-3,
    ),
    "sort": Recipe(
        lambda seed: al.data.tasks.sort(8, 10, seed=seed),
        lambda t: _gpt(t, n_layer=2, n_head=4, d_model=64),
        steps=400,
        lr=3e-3,
    ),
    "copy": Recipe(
        lambda seed: al.data.tasks.copy(8, 10, format="seq2seq", seed=seed),
        lambda t: al.models.Seq2Seq(
            len(t.vocab), len(t.vocab), max_len=t.block_size + 1, n_layer=1, n_head=4, d_model=64
        ),
        steps=300,
        lr=3e-3,
    ),
    "induction": Recipe(
        lambda seed: al.data.tasks.induction(16, 16, seed=seed),
        lambda t: _gpt(t, n_layer=2, n_head=4, d_model=64, mlp=False),
        steps=1500,
        lr=3e-3,
    ),
}


def _examples(model: al.nn.Module, task: Task, count: int) -> list[tuple[str, str, str]]:
    """(prompt, the model's answer, the right answer) for the first test rows, decoded."""
    rows = task.test.take(np.arange(min(count, len(task.test))))
    counted = rows.targets != al.data.IGNORE
    out = []
    if task.kind == "seq2seq":
        answers = model.greedy_decode(rows.source, rows.targets.shape[1], bos_id=task.bos_id)
        for i in range(len(rows)):
            out.append(
                (task.decode(rows.source[i]), task.decode(answers[i]), task.decode(rows.targets[i]))
            )
        return out
    for i in range(len(rows)):
        first = int(np.argmax(counted[i]))  # the answer starts after input position `first`
        prompt = rows.inputs[i, : first + 1]
        n = int(counted[i].sum())
        generated = model.generate(prompt[None], n, temperature=0)[0, first + 1 :]
        out.append(
            (task.decode(prompt), task.decode(generated), task.decode(rows.targets[i][counted[i]]))
        )
    return out


def pyplot() -> ModuleType:
    """matplotlib.pyplot on the Agg backend (files only), which the pictures need: the demo
    asks for it before it trains, so that a missing extra costs a second, not the training."""
    try:
        import matplotlib
    except ImportError as error:
        raise ImportError(
            "the demo draws its pictures with matplotlib, which is not installed: "
            'pip install "attnlab[viz]"'
        ) from error
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _pictures(
    model: al.nn.Module, task: Task, history: al.History, out: Path, plt: ModuleType
) -> list[Path]:
    from attnlab import viz

    row = task.test.take(np.arange(1))
    tokens = task.tokens(row.inputs[0])
    key_tokens = task.tokens(row.source[0]) if task.kind == "seq2seq" else None
    with al.record_attention(model, qk=True) as rec, al.no_grad():
        model.eval()
        al.train.logits_of(model, task, row)
    written = []
    for name, weights in rec.items():
        cross = "multihead_attn" in name  # torch's name of a decoder's cross attention
        fig = viz.heads(weights, tokens, key_tokens if cross else None)
        fig.suptitle(name)
        written.append(out / f"heads_{name.replace('.', '_')}.png")
        fig.savefig(written[-1], dpi=110)
        plt.close(fig)
    self_attn = {n: w for n, w in rec.items() if "multihead_attn" not in n}
    fig = viz.layers(self_attn)
    written.append(out / "layers.png")
    fig.savefig(written[-1], dpi=110)
    plt.close(fig)
    fig = history.plot()
    written.append(out / "training.png")
    fig.savefig(written[-1], dpi=110)
    plt.close(fig)
    written.append(viz.head_view(self_attn, tokens).save(out / "head_view.html"))
    written.append(viz.model_view(self_attn, tokens).save(out / "model_view.html"))
    snapshot_tokens = task.tokens(history.snapshot_inputs[0])
    written.append(viz.timeline(history, snapshot_tokens).save(out / "timeline.html"))
    written.append(
        viz.neuron_view(rec, tokens, layer=list(self_attn)[0]).save(out / "neuron_view.html")
    )
    return written


def run(
    task: str = "reverse",
    steps: int | None = None,
    out: str | Path = "attnlab-demo",
    seed: int = 0,
    progress: bool = True,
) -> dict:
    """Trains the recipe for ``task``, prints accuracy and examples, writes the pictures to
    ``out``; returns the test metrics and the written paths."""
    recipe = RECIPES[task]
    plt = pyplot()
    start = time.perf_counter()
    print(
        f"attnlab {al.__version__}: kernels on {al.arch.current()}, {al.get_num_threads()} threads"
    )
    al.manual_seed(seed)
    data = recipe.task(seed)
    model = recipe.model(data)
    steps = recipe.steps if steps is None else steps
    print(
        f"task {data.name} ({data.kind}): {len(data.train)} training rows, e.g. "
        f"{data.decode(data.train.inputs[0])!r}"
    )
    print(
        f"model {type(model).__name__} with {model.num_parameters():,} parameters; "
        f"training {steps} steps of {recipe.batch_size}"
    )
    history = al.fit(
        model,
        data,
        steps=steps,
        batch_size=recipe.batch_size,
        lr=recipe.lr,
        snapshot_every=max(steps // 20, 1),
        seed=seed,
        progress=progress,
    )
    metrics = al.evaluate(model, data)
    print(
        f"\ntest token accuracy {metrics['accuracy']:.2%}, whole answers right "
        f"{metrics['sequence_accuracy']:.2%} ({history.seconds:.1f} s of training)"
    )
    for prompt, answer, right in _examples(model, data, 3):
        print(f"  {prompt}  ->  {answer}   {'ok' if answer == right else 'expected ' + right}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = _pictures(model, data, history, out, plt)
    print(f"\nwrote {len(written)} files to {out.resolve()}:")
    for path in written:
        print(f"  {path.name}")
    print(f"done in {time.perf_counter() - start:.1f} s")
    return {**metrics, "files": written, "history": history}
