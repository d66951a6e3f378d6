"""python -m attnlab demo (the README's main command, _demo.py): trains, prints accuracy and
examples, writes the pictures and views, rejects bad arguments."""

import pytest

from attnlab.__main__ import main


def test_demo_trains_reverse_and_writes_every_picture(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    assert main(["demo", "--out", str(tmp_path), "--no-progress"]) == 0
    out = capsys.readouterr().out
    accuracy = float(out.split("test token accuracy ")[1].split("%")[0])
    assert accuracy >= 99.0
    names = {p.name for p in tmp_path.iterdir()}
    assert {"layers.png", "training.png", "head_view.html", "model_view.html", "timeline.html",
            "neuron_view.html", "heads_blocks_0_attn.png", "heads_blocks_1_attn.png"} <= names
    for name in names:
        head = (tmp_path / name).read_bytes()[:8]
        assert head.startswith(b"\x89PNG") if name.endswith(".png") else b"<!" in head
    assert str(tmp_path.resolve()) in out


@pytest.mark.parametrize("task", ["copy", "induction", "sort"])
def test_demo_runs_every_task_briefly(tmp_path, capsys, task):
    pytest.importorskip("matplotlib")
    assert main(["demo", "--task", task, "--steps", "5", "--out", str(tmp_path), "--no-progress"]) == 0
    assert "test token accuracy" in capsys.readouterr().out
    assert {"head_view.html", "model_view.html", "timeline.html", "neuron_view.html"} <= {
        p.name for p in tmp_path.iterdir()}


@pytest.mark.parametrize("argv, message", [
    (["demo", "--task", "nope"], "invalid choice: 'nope'"),
    (["demo", "--steps", "0"], "--steps: expected at least 1"),
    (["demo", "--steps", "x"], "invalid int value"),
    (["demo", "--seed", "-1"], "--seed: expected a non-negative int"),
])
def test_demo_rejects_bad_arguments(capsys, argv, message):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2 and message in capsys.readouterr().err
