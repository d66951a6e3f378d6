"""fit() and History (train.py): the loop, its evaluation and snapshots, its errors, and real
training runs of each model on the synthetic tasks (issue 11: each well under a minute)."""

import re

import numpy as np
import pytest

import attnlab as al
from attnlab.data import tasks
from attnlab.models import GPT, EncoderClassifier, Seq2Seq


def gpt_for(task, **kw):
    al.manual_seed(0)
    return GPT(len(task.vocab), task.block_size, **kw)


def test_fit_records_history_snapshots_and_restores_nothing_it_should_not(capsys):
    task = tasks.reverse(4, 5, n_train=300, n_test=50)
    model = gpt_for(task, n_layer=1, n_head=2, d_model=16)
    seen = []
    h = al.fit(
        model,
        task,
        steps=20,
        batch_size=16,
        eval_every=10,
        snapshot_every=10,
        progress=False,
        callback=lambda step, hist: seen.append(step),
    )
    assert h.steps == list(range(1, 21)) and len(h.loss) == len(h.lr) == 20
    assert seen == h.steps and h.eval_steps == [10, 20]
    assert [s for s, _ in h.snapshots] == [0, 10, 20]
    assert list(h.snapshots[0][1]) == ["blocks.0.attn"]
    timeline = h.timeline(example=1)
    assert [step for step, _ in timeline] == [0, 10, 20]
    assert list(timeline[0][1]) == ["blocks.0.attn"]
    assert timeline[0][1]["blocks.0.attn"].shape == (2, task.block_size, task.block_size)
    np.testing.assert_array_equal(
        timeline[2][1]["blocks.0.attn"], h.snapshots[2][1]["blocks.0.attn"][1]
    )
    assert h.lr[0] == 0.0 and max(h.lr) == pytest.approx(1e-3)  # warmup, then cosine down
    assert h.lr[-1] < h.lr[2]
    series = h.to_dict()
    assert [s for s, _ in series["test_accuracy"]] == [10, 20]
    assert model.training and not h.interrupted
    assert "History(steps=20" in repr(h)
    assert capsys.readouterr().out == ""  # progress=False prints nothing


def test_fit_stops_cleanly_on_keyboard_interrupt():
    task = tasks.copy(4, 5, n_train=200, n_test=20)
    model = gpt_for(task, n_layer=1, n_head=2, d_model=16)

    def interrupt(step, history):
        if step == 3:
            raise KeyboardInterrupt

    h = al.fit(model, task, steps=50, batch_size=8, progress=False, callback=interrupt)
    assert h.interrupted and h.steps == [1, 2, 3]


def test_evaluate_counts_only_the_positions_that_count():
    task = tasks.copy(4, 4, n_train=100, n_test=40)
    model = gpt_for(task, n_layer=1, n_head=1, d_model=8)
    result = al.evaluate(model, task)
    counted = task.counted()
    with al.no_grad():
        model.eval()
        pred = model(task.test.inputs).data.argmax(-1)
    assert result["accuracy"] == pytest.approx((pred == task.test.targets)[counted].mean())
    assert 0 <= result["sequence_accuracy"] <= result["accuracy"] + 1e-12


def test_fit_rejects_bad_arguments():
    task = tasks.copy(4, 4, n_train=50, n_test=10)
    model = gpt_for(task, n_layer=1, n_head=1, d_model=8)
    with pytest.raises(TypeError, match="model: expected an attnlab.nn.Module"):
        al.fit(object(), task)
    with pytest.raises(TypeError, match="task: expected an attnlab.data.Task"):
        al.fit(model, "copy")
    with pytest.raises(ValueError, match="batch_size: expected an int >= 1, got 0"):
        al.fit(model, task, batch_size=0)
    with pytest.raises(ValueError, match="lr: expected a number >= 0, got -1.0"):
        al.fit(model, task, lr=-1.0, progress=False)
    with pytest.raises(ValueError, match="clip_grad_norm: expected a number > 0 or None"):
        al.fit(model, task, clip_grad_norm=0.0)


# ---- real training ------------------------------------------------------------------------


def test_gpt_learns_reverse():
    task = tasks.reverse(8, 10)
    model = gpt_for(task, n_layer=2, n_head=4, d_model=64)
    al.fit(model, task, steps=300, lr=3e-3, progress=False)
    assert al.evaluate(model, task)["accuracy"] >= 0.99


def test_gpt_learns_sort():
    task = tasks.sort(8, 10)
    model = gpt_for(task, n_layer=2, n_head=4, d_model=64)
    al.fit(model, task, steps=400, lr=3e-3, progress=False)
    assert al.evaluate(model, task)["accuracy"] >= 0.99


def test_seq2seq_learns_copy():
    task = tasks.copy(8, 10, format="seq2seq")
    al.manual_seed(0)
    model = Seq2Seq(
        len(task.vocab),
        len(task.vocab),
        max_len=task.block_size + 1,
        n_layer=1,
        n_head=4,
        d_model=64,
    )
    al.fit(model, task, steps=300, lr=3e-3, progress=False)
    assert al.evaluate(model, task)["accuracy"] >= 0.99
    decoded = model.greedy_decode(task.test.source[:50], task.block_size, bos_id=task.bos_id)
    assert (decoded == task.test.targets[:50]).mean() >= 0.99


def test_attention_only_gpt_learns_induction():
    task = tasks.induction(16, 16)
    model = gpt_for(task, n_layer=2, n_head=4, d_model=64, mlp=False)
    al.fit(model, task, steps=1500, lr=3e-3, progress=False)
    with al.no_grad():
        model.eval()
        pred = model(task.test.inputs).data.argmax(-1)
    second_half = task.position_masks["repeated"]
    assert (pred == task.test.targets)[:, second_half].mean() > 0.95


def test_encoder_classifier_learns_histogram_per_token():
    task = tasks.histogram()
    al.manual_seed(0)
    model = EncoderClassifier(
        len(task.vocab),
        task.num_classes,
        max_len=task.block_size,
        n_layer=2,
        n_head=4,
        d_model=64,
        pooling="none",
    )
    al.fit(model, task, steps=800, lr=3e-3, progress=False)
    assert al.evaluate(model, task)["accuracy"] >= 0.95


def test_fit_in_a_notebook_leaves_a_summary_line(tmp_path, monkeypatch):
    """In Jupyter the progress widget is replaced by a line of text when training ends, so a
    saved notebook shows a summary, not "Error displaying widget" or a stale "0/20"."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    for needed in ("ipykernel", "ipywidgets", "tqdm"):
        pytest.importorskip(needed)
    from jupyter_kernel import KERNEL, kernel_environment

    for name, value in kernel_environment(tmp_path / "jupyter").items():
        monkeypatch.setenv(name, value)
    code = (
        "import attnlab as al\n"
        "task = al.data.tasks.reverse(4, 5, n_train=100, n_test=10)\n"
        "model = al.models.GPT(len(task.vocab), task.block_size, n_layer=1, n_head=2,\n"
        "                      d_model=16)\n"
        "history = al.fit(model, task, steps=20, batch_size=8, eval_every=10)"
    )
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    nbclient.NotebookClient(
        notebook, kernel_name=KERNEL, timeout=300, resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    outputs = notebook.cells[0].outputs
    widget = "application/vnd.jupyter.widget-view+json"
    assert not [o for o in outputs if widget in o.get("data", {})]
    summaries = [o["data"]["text/plain"] for o in outputs if o.get("output_type") == "display_data"]
    assert len(summaries) == 1, outputs
    assert re.fullmatch(
        r"fit: 20/20 steps in \d+\.\d s, loss \d\.\d{4}, test_acc \d\.\d{3}", summaries[0]
    )
