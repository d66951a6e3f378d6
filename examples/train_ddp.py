"""Train attnlab's GPT with PyTorch DistributedDataParallel, one process per GPU:

    torchrun --nproc_per_node=4 examples/train_ddp.py --steps 300

(on CPUs, the gloo backend: torchrun --nproc_per_node=2 examples/train_ddp.py). Every process
builds the GPT in attnlab, converts it with ``al.interop.to_torch`` and wraps it in DDP, which
starts every rank from rank 0's weights; each rank trains on batches of its own and DDP
averages the gradients, so all ranks hold the same weights after every step. Rank 0 brings the
model back with ``al.interop.from_torch`` and reports its test loss in attnlab.
"""

from __future__ import annotations

import argparse
import os
from datetime import timedelta
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.nn import functional as F
from torch.nn.parallel import DistributedDataParallel

import attnlab as al
from attnlab.data.task import IGNORE


def save_weights(model: torch.nn.Module, path: Path) -> None:
    np.savez(path, **{k: v.detach().cpu().numpy() for k, v in model.state_dict().items()})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=32, help="per process")
    parser.add_argument("--save", type=Path, help="folder for each rank's final weights (.npz)")
    parser.add_argument(
        "--timeout",
        type=float,
        default=120.0,
        help="seconds a collective may wait for the other ranks",
    )
    args = parser.parse_args()

    cuda = torch.cuda.is_available()
    dist.init_process_group("nccl" if cuda else "gloo", timeout=timedelta(seconds=args.timeout))
    rank, world = dist.get_rank(), dist.get_world_size()
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = torch.device("cuda", local_rank) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)

    task = al.data.tasks.reverse(length=6, vocab_size=8, seed=0)
    model = al.models.GPT(len(task.vocab), task.block_size, n_layer=2, n_head=2, d_model=64)
    torch_model = al.interop.to_torch(model).to(device)
    ddp = DistributedDataParallel(torch_model, device_ids=[local_rank] if cuda else None)
    if args.save and rank == 0:
        args.save.mkdir(parents=True, exist_ok=True)
        save_weights(torch_model, args.save / "initial.npz")  # what every rank starts from

    optimizer = torch.optim.AdamW(ddp.parameters(), lr=3e-3, weight_decay=0.01)
    rng = np.random.default_rng(1000 + rank)  # each rank draws batches of its own
    for step in range(args.steps):
        batch = task.sample(args.batch_size, seed=rng)
        idx = torch.from_numpy(batch.inputs).to(device)
        targets = torch.from_numpy(batch.targets).to(device)
        loss = F.cross_entropy(ddp(idx).flatten(0, 1), targets.flatten(), ignore_index=IGNORE)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()  # DDP averages the gradients over the ranks here
        optimizer.step()
        if rank == 0 and (step + 1) % max(args.steps // 5, 1) == 0:
            print(f"step {step + 1}: rank 0's training loss {loss.item():.3f}", flush=True)

    if args.save:
        save_weights(torch_model, args.save / f"rank{rank}.npz")
    if rank == 0:
        back = al.interop.from_torch(torch_model)
        print(
            f"{world} processes on {device.type}: test loss in attnlab "
            f"{al.evaluate(back, task)['loss']:.3f}",
            flush=True,
        )
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
