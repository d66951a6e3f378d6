"""The path for users who outgrow one machine (issue 26, item 4): an attnlab GPT trained here
goes to torch, trains on there (on a GPU when there is one), comes back and is looked at with
record_attention and the views; DistributedDataParallel over two CPU processes (gloo) ends
with the same weights on both ranks; and the two example scripts run."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import attnlab as al
from attnlab.data.task import IGNORE
from torch_compare import close, same_arrays, to_numpy

torch = pytest.importorskip("torch")
from attnlab.interop import from_torch, to_torch  # noqa: E402

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def script_env(**extra):
    """The environment of a script run by a test: this tree's attnlab, one OpenMP thread per
    process (what torchrun sets too)."""
    return dict(
        os.environ, PYTHONPATH=str(Path(al.__file__).parents[1]), OMP_NUM_THREADS="1", **extra
    )


def test_gpt_trained_here_trains_on_in_torch_and_comes_back():
    task = al.data.tasks.reverse(length=4, vocab_size=6, seed=0)
    model = al.models.GPT(len(task.vocab), task.block_size, n_layer=2, n_head=2, d_model=32)
    al.fit(model, task, steps=10, batch_size=32, lr=1e-2, progress=False)
    loss_here = al.evaluate(model, task, max_samples=256)["loss"]

    device = "cuda" if torch.cuda.is_available() else "cpu"
    theirs = to_torch(model).to(device)
    optimizer = torch.optim.AdamW(theirs.parameters(), lr=1e-2)
    rng = np.random.default_rng(0)
    for _ in range(20):
        batch = task.sample(32, seed=rng)
        logits = theirs(torch.from_numpy(batch.inputs).to(device))
        targets = torch.from_numpy(batch.targets).to(device)
        loss = torch.nn.functional.cross_entropy(
            logits.flatten(0, 1), targets.flatten(), ignore_index=IGNORE
        )
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    theirs.eval()

    back = from_torch(theirs)
    assert type(back) is al.models.GPT and not back.training
    same_arrays(back.state_dict(), to_numpy({k: v.cpu() for k, v in theirs.state_dict().items()}))
    assert al.evaluate(back, task, max_samples=256)["loss"] < loss_here

    x = task.test.inputs[:4]
    with al.no_grad(), al.record_attention(back) as rec:
        logits = back(x)
    with torch.no_grad():
        close(logits, theirs(torch.from_numpy(x).to(device)))
    t = task.block_size
    assert list(rec) == ["blocks.0.attn", "blocks.1.attn"]
    assert rec["blocks.1.attn"].shape == (4, 2, t, t)
    np.testing.assert_allclose(rec["blocks.0.attn"].sum(axis=-1), 1.0, atol=1e-5)
    assert np.all(np.triu(rec["blocks.0.attn"], 1) == 0)  # causal, as trained in torch
    view = al.viz.model_view(rec, tokens=task.tokens(x[0]))
    assert "model view (2 layers x 2 heads)" in view.html


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ddp_on_two_cpu_processes_ends_with_the_same_weights_on_both(tmp_path):
    dist = torch.distributed
    if not dist.is_available() or not dist.is_gloo_available():
        pytest.skip("this torch build has no gloo backend")
    port = str(free_port())
    ranks = []
    for rank in range(2):
        env = script_env(
            RANK=str(rank),
            LOCAL_RANK=str(rank),
            WORLD_SIZE="2",
            LOCAL_WORLD_SIZE="2",
            MASTER_ADDR="127.0.0.1",
            MASTER_PORT=port,
            CUDA_VISIBLE_DEVICES="",
        )  # gloo on the CPU, as torchrun would run it
        ranks.append(
            subprocess.Popen(
                [
                    sys.executable,
                    str(EXAMPLES / "train_ddp.py"),
                    "--steps",
                    "4",
                    "--batch-size",
                    "16",
                    "--save",
                    str(tmp_path),
                    "--timeout",
                    "90",
                ],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    outputs = []
    try:
        for process in ranks:
            outputs.append(process.communicate(timeout=180)[0])
    finally:
        for process in ranks:
            process.kill()
    assert [p.returncode for p in ranks] == [0, 0], outputs
    assert "2 processes on cpu: test loss in attnlab" in outputs[0]
    start, rank0, rank1 = (
        dict(np.load(tmp_path / f"{name}.npz")) for name in ("initial", "rank0", "rank1")
    )
    same_arrays(rank0, rank1)
    assert any(not np.array_equal(rank0[k], start[k]) for k in start)  # they did train


def test_train_on_gpu_example_runs(tmp_path):
    html = tmp_path / "view.html"
    result = subprocess.run(
        [
            sys.executable,
            str(EXAMPLES / "train_on_gpu.py"),
            "--attnlab-steps",
            "5",
            "--torch-steps",
            "5",
            "--html",
            str(html),
        ],
        env=script_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("attnlab, 5 steps on the CPU: test loss ")
    assert lines[1].startswith("torch, 5 more steps on ")
    assert lines[2].startswith("largest logit difference, attnlab vs torch")
    assert "recorded 2 attention modules, 2 heads each" in lines[3]
    assert "model view (2 layers x 2 heads)" in html.read_text()
