"""python -m attnlab demo (the README's main command, _demo.py): trains, prints accuracy and
examples, writes the pictures and views, rejects bad arguments, and says which extra to install
when matplotlib is missing. matplotlib is the demo's own need (scripts/run.sh installs it), so
these tests do not skip without it: a skip there is how a demo that could not draw went unseen."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

import attnlab
from attnlab.__main__ import main
from attnlab._demo import run

# What the README promises the reverse demo writes (a heads picture per layer).
PROMISED = {
    "layers.png",
    "training.png",
    "head_view.html",
    "model_view.html",
    "timeline.html",
    "neuron_view.html",
    "heads_blocks_0_attn.png",
    "heads_blocks_1_attn.png",
}


def test_demo_trains_reverse_and_writes_every_picture(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--no-progress"]) == 0
    out = capsys.readouterr().out
    accuracy = float(out.split("test token accuracy ")[1].split("%")[0])
    assert accuracy >= 99.0
    names = {p.name for p in tmp_path.iterdir()}
    assert PROMISED <= names
    for name in names:
        head = (tmp_path / name).read_bytes()[:8]
        assert head.startswith(b"\x89PNG") if name.endswith(".png") else b"<!" in head
    assert str(tmp_path.resolve()) in out


@pytest.mark.parametrize("task", ["copy", "induction", "sort"])
def test_demo_runs_every_task_briefly(tmp_path, capsys, task):
    assert (
        main(["demo", "--task", task, "--steps", "5", "--out", str(tmp_path), "--no-progress"]) == 0
    )
    assert "test token accuracy" in capsys.readouterr().out
    assert {"head_view.html", "model_view.html", "timeline.html", "neuron_view.html"} <= {
        p.name for p in tmp_path.iterdir()
    }


@pytest.mark.parametrize(
    "argv, message",
    [
        (["demo", "--task", "nope"], "invalid choice: 'nope'"),
        (["demo", "--steps", "0"], "--steps: expected at least 1"),
        (["demo", "--steps", "x"], "invalid int value"),
        (["demo", "--seed", "-1"], "--seed: expected a non-negative int"),
    ],
)
def test_demo_rejects_bad_arguments(capsys, argv, message):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2 and message in capsys.readouterr().err


def test_the_readme_command_writes_every_promised_file(tmp_path):
    """`python -m attnlab demo --steps N` in a fresh interpreter, as run.sh and CI run it."""
    package_root = Path(attnlab.__file__).resolve().parents[1]  # the tree under test
    env = {**os.environ, "PYTHONPATH": str(package_root)}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "attnlab",
            "demo",
            "--steps",
            "5",
            "--out",
            "pictures",
            "--no-progress",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    listed = done.stdout.split(" files to ")[1].split("done in")[0].splitlines()[1:]
    assert {line.strip() for line in listed} == PROMISED
    for name in PROMISED:
        assert (tmp_path / "pictures" / name).stat().st_size > 0, name


def test_without_matplotlib_the_demo_names_the_extra_before_training(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # what `import matplotlib` fails on
    with pytest.raises(SystemExit) as e:
        main(["demo", "--out", str(tmp_path / "pictures"), "--no-progress"])
    assert e.value.code == 1
    captured = capsys.readouterr()
    assert 'matplotlib, which is not installed: pip install "attnlab[viz]"' in captured.err
    assert "training" not in captured.out and not (tmp_path / "pictures").exists()
    with pytest.raises(ImportError, match=r'pip install "attnlab\[viz\]"'):
        run(out=tmp_path / "pictures", progress=False)
