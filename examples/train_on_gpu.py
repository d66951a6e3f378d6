"""Outgrowing the laptop: train an attnlab GPT here, go on training it in PyTorch on a GPU
(the CPU when there is none), and bring it back to look at its attention.

    python examples/train_on_gpu.py [--attnlab-steps 60] [--torch-steps 200] [--html view.html]

Needs torch (pip install torch). Prints the test loss after each part, checks that the model
back in attnlab computes what the torch one did, and records its attention.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from torch.nn import functional as F

import attnlab as al
from attnlab.data.task import IGNORE


def train_in_torch(model: torch.nn.Module, task: al.data.Task, steps: int, device: str) -> None:
    """AdamW on random training batches, every tensor on ``device``."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)
    rng = np.random.default_rng(1)
    model.train()
    for _ in range(steps):
        batch = task.sample(64, seed=rng)
        idx = torch.from_numpy(batch.inputs).to(device)
        targets = torch.from_numpy(batch.targets).to(device)
        logits = model(idx)  # (B, T, V)
        loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=IGNORE)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    model.eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attnlab-steps", type=int, default=60)
    parser.add_argument("--torch-steps", type=int, default=200)
    parser.add_argument("--html", help="save the model view of the attention to this file")
    args = parser.parse_args()

    task = al.data.tasks.reverse(length=6, vocab_size=8, seed=0)
    model = al.models.GPT(len(task.vocab), task.block_size, n_layer=2, n_head=2, d_model=64)
    al.fit(model, task, steps=args.attnlab_steps, lr=3e-3, progress=False)
    print(
        f"attnlab, {args.attnlab_steps} steps on the CPU: test loss "
        f"{al.evaluate(model, task)['loss']:.3f}"
    )

    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch_model = al.interop.to_torch(model).to(device)
    train_in_torch(torch_model, task, args.torch_steps, device)

    model = al.interop.from_torch(torch_model)  # weights copied back to the host
    print(
        f"torch, {args.torch_steps} more steps on {device}: test loss "
        f"{al.evaluate(model, task)['loss']:.3f}"
    )

    sample = task.test.inputs[:8]
    with torch.no_grad():
        expected = torch_model(torch.from_numpy(sample).to(device)).cpu().numpy()
    with al.no_grad(), al.record_attention(model) as rec:
        logits = model(sample).data
    gap = float(np.abs(logits - expected).max())
    print(f"largest logit difference, attnlab vs torch ({device}): {gap:.2e}")
    weights = rec["blocks.0.attn"]  # (B, H, T, T)
    row_sums = weights.sum(axis=-1)
    if gap > 1e-4 or not np.allclose(row_sums, 1.0, atol=1e-5):
        raise SystemExit("the model that came back does not compute what the torch one did")
    view = al.viz.model_view(rec, tokens=task.tokens(sample[0]))
    print(f"recorded {len(rec)} attention modules, {weights.shape[1]} heads each: {view!r}")
    if args.html:
        print(f"saved {view.save_html(args.html)}")


if __name__ == "__main__":
    main()
