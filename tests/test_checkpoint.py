"""Checkpoints (checkpoint.py): bitwise round trips of every exported layer, every model and the
optimizers' states, resuming training, load_model, the arguments' errors, and every kind of
broken or hostile file (through the header checks of _safetensors_header.py)."""

import hashlib
import json
import os
import stat
import threading
import warnings

import numpy as np
import pytest
import safetensors.numpy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import attnlab as al
from attnlab import _random, _rebuild

nn = al.nn


def assert_bitwise(a, b):
    """Same names, dtypes, shapes and bytes (NaN payloads and the sign of zero included)."""
    assert list(a) == list(b)
    for k in a:
        assert a[k].dtype == b[k].dtype and a[k].shape == b[k].shape, k
        assert a[k].tobytes() == b[k].tobytes(), k


def sorted_dict(d):
    return {k: d[k] for k in sorted(d)}


def randomized(module, seed=0):
    """``module`` with every parameter random (no zero or one left from an initializer)."""
    rng = np.random.default_rng(seed)
    for p in module.parameters():
        p.data[...] = rng.standard_normal(p.shape)
    return module


# ---- every exported layer ----------------------------------------------------------------


def encoder_layer(**kw):
    return nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, **kw)


def decoder_layer(**kw):
    return nn.TransformerDecoderLayer(8, 2, 16, dropout=0.0, **kw)


LAYERS = {
    "ALiBi": lambda: nn.ALiBi(4),
    "Dropout": lambda: nn.Dropout(0.25),
    "Embedding": lambda: nn.Embedding(10, 4, padding_idx=0),
    "GELU": lambda: nn.GELU("tanh"),
    "Identity": lambda: nn.Identity(),
    "LayerNorm": lambda: nn.LayerNorm((3, 4), eps=1e-6, bias=False),
    "LearnedPositionalEmbedding": lambda: nn.LearnedPositionalEmbedding(8, 4),
    "Linear": lambda: nn.Linear(4, 3),
    "Linear-no-bias": lambda: nn.Linear(4, 3, bias=False),
    "ModuleDict": lambda: nn.ModuleDict({"proj": nn.Linear(3, 2), "act": nn.ReLU()}),
    "ModuleList": lambda: nn.ModuleList([nn.Linear(3, 2), nn.LayerNorm(2)]),
    "MultiheadAttention": lambda: nn.MultiheadAttention(8, 2, kdim=5, vdim=6, add_bias_kv=True),
    "MultiheadAttention-gqa-rotary": lambda: nn.MultiheadAttention(
        8, 4, num_kv_heads=2, positions="rotary", bias=False
    ),
    "MultiheadAttention-module-positions": lambda: nn.MultiheadAttention(
        8, 2, positions=nn.RelativePositionBias(2, num_buckets=8, max_distance=16)
    ),
    "RMSNorm": lambda: nn.RMSNorm(4, eps=1e-6),
    "ReLU": lambda: nn.ReLU(),
    "RelativePositionBias": lambda: nn.RelativePositionBias(2, 8, 16, bidirectional=False),
    "RotaryEmbedding": lambda: nn.RotaryEmbedding(8, rotary_dim=4, interleaved=True),
    "Sequential": lambda: nn.Sequential(nn.Linear(4, 5), nn.SiLU(), nn.Linear(5, 2)),
    "SiLU": lambda: nn.SiLU(),
    "SinusoidalPositionalEncoding": lambda: nn.SinusoidalPositionalEncoding(8, 16, base=100.0),
    "SwiGLU": lambda: nn.SwiGLU(),
    "Transformer": lambda: nn.Transformer(8, 2, 1, 2, 16, dropout=0.0, activation="gelu"),
    "TransformerDecoder": lambda: nn.TransformerDecoder(
        decoder_layer(norm_first=True), 2, nn.LayerNorm(8)
    ),
    "TransformerDecoderLayer": lambda: decoder_layer(activation="gelu"),
    "TransformerEncoder": lambda: nn.TransformerEncoder(encoder_layer(), 2),
    "TransformerEncoderLayer": lambda: encoder_layer(
        activation="swiglu", norm_first=True, positions="alibi"
    ),
}


def test_every_exported_layer_is_covered():
    covered = {type(make()) for make in LAYERS.values()}
    exported = {cls for name, cls in _rebuild.CLASSES.items() if name.startswith("attnlab.nn.")}
    assert exported - covered == set()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", list(LAYERS))
def test_every_layer_round_trips_bitwise(tmp_path, name, dtype):
    module = randomized(LAYERS[name]().to(dtype))
    path = tmp_path / "layer.safetensors"
    al.save(module, path)
    checkpoint = al.load(path)
    assert_bitwise(checkpoint.state_dict, sorted_dict(module.state_dict()))
    assert checkpoint.model_class == "attnlab.nn." + type(module).__name__
    rebuilt = al.load_model(path)
    assert type(rebuilt) is type(module)
    assert_bitwise(rebuilt.state_dict(), module.state_dict())
    assert [b.dtype for b in rebuilt.buffers()] == [b.dtype for b in module.buffers()]
    assert repr(rebuilt) == repr(module)  # the same structure and options


def test_a_rebuilt_encoder_computes_what_the_saved_one_did(tmp_path, rng):
    module = (
        randomized(nn.TransformerEncoder(encoder_layer(norm_first=True), 2, nn.LayerNorm(8)))
        .double()
        .eval()
    )
    al.save(module, tmp_path / "enc.safetensors")
    rebuilt = al.load_model(tmp_path / "enc.safetensors").eval()
    x = rng.standard_normal((2, 5, 8))
    key_mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool)
    out = module(al.tensor(x), key_mask=key_mask).data
    assert out.tobytes() == rebuilt(al.tensor(x), key_mask=key_mask).data.tobytes()


# ---- models -------------------------------------------------------------------------------

MODELS = {
    "GPT-learned": lambda: al.models.GPT(11, 9, n_layer=2, n_head=2, d_model=8),
    "GPT-rotary": lambda: al.models.GPT(
        11, 9, n_layer=1, n_head=2, d_model=8, positions="rotary", tie_weights=False
    ),
    "GPT-alibi": lambda: al.models.GPT(
        11, 9, n_layer=1, n_head=2, d_model=8, positions="alibi", mlp=False
    ),
    "GPT-d_ff": lambda: al.models.GPT(11, 9, n_layer=1, n_head=4, d_model=8, d_ff=12, dropout=0.1),
    "EncoderClassifier-cls": lambda: al.models.EncoderClassifier(
        11, 3, max_len=9, n_layer=1, n_head=2, d_model=8
    ),
    "EncoderClassifier-mean-sinusoidal": lambda: al.models.EncoderClassifier(
        11,
        3,
        max_len=9,
        n_layer=1,
        n_head=2,
        d_model=8,
        pooling="mean",
        positions="sinusoidal",
        activation="relu",
    ),
    "EncoderClassifier-per-token": lambda: al.models.EncoderClassifier(
        11, 3, max_len=9, n_layer=2, n_head=2, d_model=8, pooling="none", d_ff=10
    ),
    "Seq2Seq-sinusoidal": lambda: al.models.Seq2Seq(
        11, 7, max_len=9, n_layer=1, n_head=2, d_model=8
    ),
    "Seq2Seq-learned": lambda: al.models.Seq2Seq(
        11, 7, max_len=9, n_layer=2, n_head=2, d_model=8, positions="learned", activation="relu"
    ),
}


def outputs(model, rng):
    idx = rng.integers(0, 7, (2, 6))
    with al.no_grad():
        if isinstance(model, al.models.Seq2Seq):
            return model(idx, idx[:, :4]).data
        return model(idx).data


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", list(MODELS))
def test_every_model_round_trips_bitwise(tmp_path, name, dtype):
    al.manual_seed(0)
    model = randomized(MODELS[name]().to(dtype)).eval()
    path = tmp_path / "model.safetensors"
    al.save(model, path, step=7)
    checkpoint = al.load(path)
    assert checkpoint.step == 7 and checkpoint.optimizer_state is None
    assert checkpoint.config == {k: v for k, v in model.spec().args.items() if k != "dtype"}
    assert checkpoint.config == {k: getattr(model.config, k) for k in checkpoint.config}
    rebuilt = al.load_model(checkpoint).eval()
    assert type(rebuilt) is type(model) and rebuilt.config == model.config
    assert_bitwise(rebuilt.state_dict(), model.state_dict())
    rng = np.random.default_rng(1)
    assert outputs(model, rng).tobytes() == outputs(rebuilt, np.random.default_rng(1)).tobytes()


def test_tied_weights_stay_tied(tmp_path):
    model = randomized(MODELS["GPT-learned"]())
    al.save(model, tmp_path / "gpt.safetensors")
    rebuilt = al.load_model(tmp_path / "gpt.safetensors")
    assert rebuilt.lm_head.weight is rebuilt.wte.weight


def test_load_model_draws_nothing_from_the_global_generator(tmp_path):
    al.save(MODELS["Seq2Seq-learned"](), tmp_path / "m.safetensors")
    al.manual_seed(3)
    expected = _random.generator().bit_generator.state
    al.load_model(tmp_path / "m.safetensors")
    assert _random.generator().bit_generator.state == expected


# ---- optimizers and resuming --------------------------------------------------------------

OPTIMIZERS = {
    "SGD": lambda ps: al.optim.SGD(ps, lr=0.1),
    "SGD-momentum": lambda ps: al.optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=1e-3),
    "SGD-nesterov": lambda ps: al.optim.SGD(ps, lr=0.1, momentum=0.5, nesterov=True),
    "Adam": lambda ps: al.optim.Adam(ps, lr=1e-2, betas=(0.8, 0.99), amsgrad=True),
    "AdamW": lambda ps: al.optim.AdamW(ps, lr=1e-2, weight_decay=0.1),
    "AdamW-groups": lambda ps: al.optim.AdamW(
        [{"params": ps[:3], "lr": 1e-3}, {"params": ps[3:], "weight_decay": 0.0}]
    ),
}


def train_step(model, optimizer, step):
    """One step on a batch (and dropout seed) fixed by the step number."""
    rng = np.random.default_rng(step)
    idx = rng.integers(0, 11, (4, 9))
    al.manual_seed(1000 + step)
    logits = model(idx[:, :-1])
    loss = al.functional.cross_entropy(logits.reshape(-1, 11), idx[:, 1:].reshape(-1))
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_optimizer_state_round_trips_bitwise(tmp_path, name, dtype):
    al.manual_seed(0)
    model = MODELS["GPT-learned"]().to(dtype)
    optimizer = OPTIMIZERS[name](list(model.parameters()))
    for step in range(3):
        train_step(model, optimizer, step)
    al.save(model, tmp_path / "run.safetensors", optimizer=optimizer, step=3)
    checkpoint = al.load(tmp_path / "run.safetensors")
    saved = optimizer.state_dict()
    assert checkpoint.optimizer_state["param_groups"] == [
        {k: list(v) if isinstance(v, tuple) else v for k, v in g.items()}
        for g in saved["param_groups"]
    ]
    assert sorted(checkpoint.optimizer_state["state"]) == sorted(saved["state"])
    for i, entry in saved["state"].items():
        loaded = checkpoint.optimizer_state["state"][i]
        assert sorted(loaded) == sorted(entry)
        for key, value in entry.items():
            if isinstance(value, np.ndarray):
                assert loaded[key].dtype == dtype and loaded[key].tobytes() == value.tobytes()
            else:
                assert loaded[key] == value
    rebuilt = al.load_model(checkpoint)
    restored = OPTIMIZERS[name](list(rebuilt.parameters()))
    restored.load_state_dict(checkpoint.optimizer_state)
    train_step(model, optimizer, 3)
    train_step(rebuilt, restored, 3)
    assert_bitwise(rebuilt.state_dict(), model.state_dict())


@pytest.mark.parametrize("dropout", [0.0, 0.2])
def test_resuming_from_a_checkpoint_continues_bitwise_as_if_never_stopped(tmp_path, dropout):
    """Model, optimizer and step from the file; the schedule resumes at the step (torch's
    ``last_epoch``); batches and dropout seeds follow the step number."""

    def schedule(optimizer, last_epoch=-1):
        return al.optim.WarmupCosine(
            optimizer, warmup_steps=2, total_steps=6, last_epoch=last_epoch
        )

    def fresh():
        al.manual_seed(0)
        model = al.models.GPT(11, 9, n_layer=2, n_head=2, d_model=8, dropout=dropout)
        optimizer = al.optim.AdamW(model.parameters(), lr=1e-2)
        return model, optimizer, schedule(optimizer)

    def train(model, optimizer, lr_schedule, steps):
        for step in steps:
            train_step(model, optimizer, step)
            lr_schedule.step()

    model, optimizer, lr_schedule = fresh()
    train(model, optimizer, lr_schedule, range(6))

    first, first_optimizer, first_schedule = fresh()
    train(first, first_optimizer, first_schedule, range(3))
    al.save(first, tmp_path / "step3.safetensors", optimizer=first_optimizer, step=3)
    lrs_at_the_save = first_schedule.get_last_lr()
    del first, first_optimizer, first_schedule

    checkpoint = al.load(tmp_path / "step3.safetensors")
    resumed = al.load_model(checkpoint)
    resumed_optimizer = al.optim.AdamW(resumed.parameters())
    resumed_optimizer.load_state_dict(checkpoint.optimizer_state)
    resumed_schedule = schedule(resumed_optimizer, last_epoch=checkpoint.step - 1)
    assert resumed_schedule.get_last_lr() == lrs_at_the_save
    train(resumed, resumed_optimizer, resumed_schedule, range(checkpoint.step, 6))
    assert resumed_optimizer.param_groups[0]["lr"] == optimizer.param_groups[0]["lr"]
    assert_bitwise(resumed.state_dict(), model.state_dict())


def test_resuming_with_the_rng_state_draws_the_dropout_masks_of_the_uninterrupted_run(tmp_path):
    """Seeded once: each step's dropout masks come from the global generator, whose state the
    checkpoint carries (rng=True); without it, the resumed run draws other masks."""

    def step(model, optimizer, i):
        idx = np.random.default_rng(i).integers(0, 11, (4, 9))  # the batch: fixed by the step
        logits = model(idx[:, :-1])
        loss = al.functional.cross_entropy(logits.reshape(-1, 11), idx[:, 1:].reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    def fresh():
        al.manual_seed(0)
        model = al.models.GPT(11, 9, n_layer=2, n_head=2, d_model=8, dropout=0.3)
        return model, al.optim.AdamW(model.parameters(), lr=1e-2)

    model, optimizer = fresh()
    for i in range(6):
        step(model, optimizer, i)

    first, first_optimizer = fresh()
    for i in range(3):
        step(first, first_optimizer, i)
    path = tmp_path / "step3.safetensors"
    al.save(first, path, optimizer=first_optimizer, step=3, rng=True)
    del first, first_optimizer

    def resume(rng):
        al.manual_seed(12345)  # another process: the generator is anywhere
        checkpoint = al.load(path, rng=rng)
        resumed = al.load_model(checkpoint)
        resumed_optimizer = al.optim.AdamW(resumed.parameters())
        resumed_optimizer.load_state_dict(checkpoint.optimizer_state)
        for i in range(checkpoint.step, 6):
            step(resumed, resumed_optimizer, i)
        return resumed.state_dict()

    assert_bitwise(resume(rng=True), model.state_dict())
    assert resume(rng=False)["wte.weight"].tobytes() != model.state_dict()["wte.weight"].tobytes()


def test_the_rng_state_is_saved_only_when_asked_and_load_model_restores_it(tmp_path):
    al.manual_seed(7)
    model = al.models.GPT(11, 9, n_layer=1, n_head=2, d_model=8)
    state = al.get_rng_state()
    al.save(model, tmp_path / "with.safetensors", rng=True)
    al.save(model, tmp_path / "without.safetensors")
    assert al.load(tmp_path / "with.safetensors").rng_state == state
    assert al.load(tmp_path / "without.safetensors").rng_state is None
    al.manual_seed(8)
    al.load_model(tmp_path / "with.safetensors", rng=True)
    assert al.get_rng_state() == state
    al.manual_seed(8)
    other = al.get_rng_state()
    al.load(tmp_path / "with.safetensors")  # rng=False: the generator is left alone
    assert al.get_rng_state() == other
    for load in (al.load, al.load_model):
        with pytest.raises(al.CheckpointError, match="without.safetensors: holds no RNG state"):
            load(tmp_path / "without.safetensors", rng=True)
        with pytest.raises(TypeError, match="rng: expected a bool, got str"):
            load(tmp_path / "with.safetensors", rng="yes")
    assert al.get_rng_state() == other
    with pytest.raises(TypeError, match="rng: expected a bool, got int"):
        al.save(model, tmp_path / "x.safetensors", rng=1)


# ---- what save accepts --------------------------------------------------------------------


def test_a_state_dict_saves_and_loads_but_does_not_rebuild(tmp_path):
    arrays = {
        "w": np.arange(6, dtype=np.float64).reshape(2, 3),
        "ids": np.arange(3),
        "flags": np.array([True, False]),
        "half": np.ones(2, np.float16),
        "t": al.tensor(np.ones(2, np.float32)),
    }
    al.save(arrays, tmp_path / "sd.safetensors")
    checkpoint = al.load(tmp_path / "sd.safetensors")
    expected = {k: (v.data if isinstance(v, al.Tensor) else v) for k, v in arrays.items()}
    assert_bitwise(checkpoint.state_dict, sorted_dict(expected))
    assert checkpoint.model_class is None and checkpoint.config is None
    assert all(a.flags.writeable for a in checkpoint.state_dict.values())
    with pytest.raises(al.CheckpointError, match="names no model class.*load_state_dict"):
        al.load_model(tmp_path / "sd.safetensors")
    # any safetensors reader sees the weights
    plain = safetensors.numpy.load_file(tmp_path / "sd.safetensors")
    np.testing.assert_array_equal(plain["w"], arrays["w"])


def test_a_module_of_your_own_saves_its_weights_only(tmp_path):
    class Mine(nn.Module):
        def __init__(self):
            super().__init__()
            self.proj = nn.Linear(3, 2)

    module = Mine()
    al.save(module, tmp_path / "mine.safetensors")
    checkpoint = al.load(tmp_path / "mine.safetensors")
    assert checkpoint.model_class is None
    again = Mine()
    again.load_state_dict(checkpoint.state_dict)
    assert_bitwise(again.state_dict(), module.state_dict())


def test_a_layer_with_a_function_argument_needs_building_by_hand(tmp_path):
    layer = nn.TransformerEncoderLayer(8, 2, 16, activation=al.functional.silu)
    al.save(layer, tmp_path / "layer.safetensors")
    checkpoint = al.load(tmp_path / "layer.safetensors")
    assert checkpoint.model_class == "attnlab.nn.TransformerEncoderLayer"
    assert checkpoint.config is None
    with pytest.raises(al.CheckpointError, match="saved without a config.*function"):
        al.load_model(checkpoint)


def test_save_rejects_bad_arguments(tmp_path):
    model = nn.Linear(2, 2)
    path = tmp_path / "x.safetensors"
    with pytest.raises(TypeError, match="obj: expected an attnlab.nn.Module or a mapping"):
        al.save([np.ones(2)], path)
    with pytest.raises(TypeError, match="path: expected a str or os.PathLike, got int"):
        al.save(model, 3)
    with pytest.raises(TypeError, match="step: expected an int, got float"):
        al.save(model, path, step=1.5)
    with pytest.raises(ValueError, match="step: expected an int >= 0, got -1"):
        al.save(model, path, step=-1)
    with pytest.raises(TypeError, match="optimizer: expected an attnlab.optim.Optimizer"):
        al.save(model, path, optimizer={"lr": 1})
    other = al.optim.SGD(nn.Linear(2, 2).parameters(), lr=0.1)
    with pytest.raises(
        ValueError,
        match="optimizer: param group 0, position 0 holds a parameter that is not the model's",
    ):
        al.save(model, path, optimizer=other)
    odd = al.optim.SGD(model.parameters(), lr=0.1)
    odd.param_groups[0]["schedule"] = lambda step: 1.0
    with pytest.raises(
        TypeError,
        match=r"param_groups\[0\]\['schedule'\] is a function, which "
        "has no JSON form",
    ):
        al.save(model, path, optimizer=odd)
    with pytest.raises(TypeError, match=r"obj\['o'\]: dtype object cannot be stored"):
        al.save({"o": np.array([None])}, path)
    with pytest.raises(TypeError, match=r"obj\['c'\]: dtype complex128 cannot be stored"):
        al.save({"c": np.ones(2, complex)}, path)
    with pytest.raises(TypeError, match=r"obj\['l'\]: expected an ndarray, got list"):
        al.save({"l": [1.0]}, path)
    with pytest.raises(ValueError, match="'__optimizer__/x' cannot name a tensor"):
        al.save({"__optimizer__/x": np.ones(1)}, path)
    assert list(tmp_path.iterdir()) == []  # nothing was written


def test_save_and_load_warn_about_nan_and_inf(tmp_path):
    model = nn.Linear(2, 2)
    model.weight.data[0, 0] = np.nan
    model.bias.data[1] = np.inf
    with pytest.warns(
        RuntimeWarning,
        match=r"attnlab.save: NaN or Inf in 'weight', 'bias'; "
        "the checkpoint is written",
    ):
        al.save(model, tmp_path / "nan.safetensors")
    with pytest.warns(
        RuntimeWarning,
        match=r"attnlab.load: .*nan.safetensors: NaN or Inf in "
        "'bias', 'weight'",
    ):
        checkpoint = al.load(tmp_path / "nan.safetensors")
    assert_bitwise(checkpoint.state_dict, sorted_dict(model.state_dict()))


def test_paths_and_files_that_cannot_be_read(tmp_path):
    with pytest.raises(FileNotFoundError):
        al.load(tmp_path / "missing.safetensors")
    with pytest.raises(TypeError, match="path: expected a str or os.PathLike, got bytes"):
        al.load(b"abc")
    with pytest.raises(TypeError, match="source: expected a str or os.PathLike, got dict"):
        al.load_model({"w": np.ones(2)})
    with pytest.raises(al.CheckpointError, match="not a regular file"):
        al.load(tmp_path)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    errors = []
    reader = threading.Thread(
        target=lambda: errors.append(pytest.raises(al.CheckpointError, al.load, fifo)), daemon=True
    )
    reader.start()
    reader.join(10)
    assert not reader.is_alive() and errors and errors[0].match("not a regular file")


# ---- atomic writes -----------------------------------------------------------------------


@pytest.mark.parametrize("failure", ["write", "fsync", "replace"])
def test_a_save_that_fails_midway_leaves_the_previous_file(tmp_path, monkeypatch, failure):
    path = tmp_path / "model.safetensors"
    model = randomized(nn.Linear(64, 64))
    al.save(model, path, step=1)
    before = path.read_bytes()
    model.weight.data[...] = 0

    def fail(*args, **kwargs):
        raise OSError(28, "No space left on device")

    from attnlab import _atomic

    if failure == "write":
        real_open = open

        class HalfWriter:
            def __init__(self, f):
                self.f = f

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                self.f.close()

            def write(self, data):
                self.f.write(data[: len(data) // 2])
                self.f.flush()
                fail()

        monkeypatch.setattr(
            _atomic, "open", lambda *a, **k: HalfWriter(real_open(*a, **k)), raising=False
        )
    else:
        monkeypatch.setattr(os, failure, fail)
    with pytest.raises(OSError, match="No space left"):
        al.save(model, path, step=2)
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["model.safetensors"]  # no temporary file left
    assert path.read_bytes() == before
    assert al.load(path).step == 1


def test_a_save_onto_a_folder_fails_and_leaves_nothing(tmp_path):
    (tmp_path / "taken").mkdir()
    with pytest.raises(OSError):
        al.save(nn.Linear(2, 2), tmp_path / "taken")
    assert os.listdir(tmp_path) == ["taken"]


def test_a_saved_file_has_the_usual_permissions(tmp_path):
    umask = os.umask(0o022)
    try:
        al.save(nn.Linear(2, 2), tmp_path / "m.safetensors")
    finally:
        os.umask(umask)
    assert stat.S_IMODE(os.stat(tmp_path / "m.safetensors").st_mode) == 0o644


# ---- broken and hostile files ------------------------------------------------------------


def raw_file(path, header, data=b"", length=None):
    """A safetensors-shaped file: header (an object to dump, or the text itself) and data."""
    text = header if isinstance(header, (str, bytes)) else json.dumps(header)
    text = text.encode() if isinstance(text, str) else text
    n = len(text) if length is None else length
    path.write_bytes(n.to_bytes(8, "little") + text + data)
    return path


def metadata(data=b"", **extra):
    return {"format_version": "1", "sha256": hashlib.sha256(data).hexdigest(), **extra}


def tensor(dtype="F32", shape=(2,), offsets=(0, 8)):
    return {"dtype": dtype, "shape": list(shape), "data_offsets": list(offsets)}


# A real state (ints of 38 digits, below 2**128) that the cases below edit.
RNG_STATE = json.dumps(np.random.default_rng(0).bit_generator.state, separators=(",", ":"))

HEADERS = {  # name: (header, data, what the error says)
    "not an object": ([1, 2], b"", "the header is a JSON list, not an object"),
    "not JSON": ("{'w': 1}", b"", "the header is not valid JSON"),
    "NaN": ('{"__metadata__": {}, "w": NaN}', b"", "holds NaN, which is not JSON"),
    "deep nesting": ("[" * 100_000 + "]" * 100_000, b"", "nests too deeply"),
    "huge int": (
        '{"__metadata__": {}, "w": ' + "9" * 5000 + "}",
        b"",
        "the header is not valid JSON .Exceeds the limit",
    ),
    "duplicate tensor": (
        f'{{"__metadata__": {json.dumps(metadata(bytes(8)))}, '
        f'"w": {json.dumps(tensor())}, "w": {json.dumps(tensor())}}}',
        bytes(8),
        "holds the key 'w' twice",
    ),
    "duplicate metadata key": (
        '{"__metadata__": {"format_version": "1", "format_version": "1"}}',
        b"",
        "holds the key 'format_version' twice",
    ),
    "metadata of numbers": ({"__metadata__": {"step": 3}}, b"", "not a map of strings"),
    "missing field": (
        {"__metadata__": metadata(bytes(8)), "w": {"dtype": "F32", "shape": [2]}},
        bytes(8),
        "tensor 'w': expected exactly the fields",
    ),
    "extra field": (
        {"__metadata__": metadata(bytes(8)), "w": {**tensor(), "x": 1}},
        bytes(8),
        "expected exactly the fields dtype, shape and data_offsets",
    ),
    "unknown dtype": (
        {"__metadata__": metadata(bytes(8)), "w": tensor(dtype="F31")},
        bytes(8),
        "tensor 'w': unknown dtype 'F31'",
    ),
    "bfloat16": (
        {"__metadata__": metadata(bytes(4)), "w": tensor("BF16", (2,), (0, 4))},
        bytes(4),
        "unknown dtype 'BF16'",
    ),
    "float shape": (
        {"__metadata__": metadata(bytes(8)), "w": tensor(shape=[2.0])},
        bytes(8),
        r"shape \[2.0\] is not a list of ints",
    ),
    "bool shape": (
        {"__metadata__": metadata(bytes(8)), "w": tensor(shape=[True, 2])},
        bytes(8),
        "is not a list of ints",
    ),
    "negative dim": (
        {"__metadata__": metadata(bytes(8)), "w": tensor(shape=[-2, -1])},
        bytes(8),
        r"shape \[-2, -1\] has a negative dimension",
    ),
    "too many dims": (
        {"__metadata__": metadata(bytes(4)), "w": tensor(shape=[1] * 40, offsets=(0, 4))},
        bytes(4),
        "has 40 dimensions, more than 32",
    ),
    "offsets not a pair": (
        {"__metadata__": metadata(bytes(8)), "w": tensor(offsets=[0])},
        bytes(8),
        "data_offsets .0. is not a pair of ints",
    ),
    "offsets backwards": (
        {"__metadata__": metadata(bytes(8)), "w": tensor(offsets=(8, 0))},
        bytes(8),
        "is not an interval",
    ),
    "negative offset": (
        {"__metadata__": metadata(bytes(8)), "w": tensor(offsets=(-8, 0))},
        bytes(8),
        "is not an interval",
    ),
    "offsets past the end": (
        {"__metadata__": metadata(bytes(8)), "w": tensor(offsets=(0, 2**62))},
        bytes(8),
        r"run past the end of the data \(8 bytes\)",
    ),
    "giant shape": (
        {"__metadata__": metadata(bytes(8)), "w": tensor(shape=[2**40, 2**40])},
        bytes(8),
        "takes 4835703278458516698824704 bytes, but data_offsets "
        r"\[0, 8\] hold 8",
    ),
    "shape disagrees": (
        {"__metadata__": metadata(bytes(12)), "w": tensor(shape=(2, 2), offsets=(0, 12))},
        bytes(12),
        r"shape \[2, 2\] of dtype F32 takes 16 bytes, but "
        r"data_offsets \[0, 12\] hold 12",
    ),
    "overlap": (
        {
            "__metadata__": metadata(bytes(12)),
            "a": tensor(offsets=(0, 8)),
            "b": tensor(offsets=(4, 12)),
        },
        bytes(12),
        "overlap those of tensor 'a'",
    ),
    "gap": (
        {
            "__metadata__": metadata(bytes(16)),
            "a": tensor(offsets=(0, 8)),
            "b": tensor(offsets=(12, 20)),
        },
        bytes(20),
        "leave bytes 8 to 12 of the data",
    ),
    "trailing bytes": (
        {"__metadata__": metadata(bytes(12)), "a": tensor()},
        bytes(12),
        "holds 12 bytes, but the tensors cover 8",
    ),
    "no metadata": ({"w": tensor()}, bytes(8), "no format_version: not an attnlab checkpoint"),
    "newer version": (
        {"__metadata__": metadata(format_version="2")},
        b"",
        "format version 2 is newer than this attnlab reads .1.: update attnlab",
    ),
    "version zero": (
        {"__metadata__": metadata(format_version="0")},
        b"",
        "unknown format version 0",
    ),
    "version text": (
        {"__metadata__": metadata(format_version="1.0")},
        b"",
        "format_version '1.0' is not a version number",
    ),
    "no checksum": (
        {"__metadata__": {"format_version": "1"}},
        b"",
        "sha256 None is not a SHA-256 in hex",
    ),
    "checksum mismatch": (
        {"__metadata__": metadata(bytes(8)), "w": tensor()},
        np.ones(2, np.float32).tobytes(),
        "checksum mismatch",
    ),
    "class by import path": (
        {"__metadata__": metadata(**{"class": "os.system"})},
        b"",
        "class: 'os.system' is not one of attnlab's models or layers",
    ),
    "the base class": (
        {"__metadata__": metadata(**{"class": "attnlab.nn.Module"})},
        b"",
        "'attnlab.nn.Module' is not one of attnlab's",
    ),
    "nested class": (
        {
            "__metadata__": metadata(
                **{
                    "class": "attnlab.nn.TransformerEncoder",
                    "config": json.dumps(
                        {
                            "encoder_layer": {"__module__": "subprocess.Popen", "config": {}},
                            "num_layers": 1,
                        }
                    ),
                }
            )
        },
        b"",
        "'subprocess.Popen' is not one of attnlab's",
    ),
    "nested without config": (
        {
            "__metadata__": metadata(
                **{
                    "class": "attnlab.nn.Sequential",
                    "config": json.dumps({"modules": [{"__module__": "attnlab.nn.ReLU"}]}),
                }
            )
        },
        b"",
        r"config\['modules'\]\[0\]: a module is described by exactly",
    ),
    "config without class": (
        {"__metadata__": metadata(config="{}")},
        b"",
        "config is not a JSON object with a class",
    ),
    "config not an object": (
        {"__metadata__": metadata(config="[1]", **{"class": "attnlab.nn.ReLU"})},
        b"",
        "config is not a JSON object",
    ),
    "config not JSON": (
        {"__metadata__": metadata(config="{", **{"class": "attnlab.nn.ReLU"})},
        b"",
        "config is not valid JSON",
    ),
    "dtype": (
        {"__metadata__": metadata(dtype="float16")},
        b"",
        "dtype 'float16' is not float32 or float64",
    ),
    "negative step": ({"__metadata__": metadata(step="-1")}, b"", "step '-1' is not an int"),
    **{
        f"rng_state {name}": ({"__metadata__": metadata(rng_state=text)}, b"", message)
        for name, (text, message) in {
            "not JSON": ("{", "rng_state is not valid JSON"),
            "list": ("[]", "rng_state: expected a dict from get_rng_state, got list"),
            "generator": (
                RNG_STATE.replace("PCG64", "MT19937"),
                "rng_state: bit_generator 'MT19937' is not 'PCG64'",
            ),
            "increment": (
                RNG_STATE.replace('"inc":', '"inc":9'),
                r"rng_state\['state'\]\['inc'\]: expected an int in",
            ),
            "float": (
                RNG_STATE.replace('"uinteger":0', '"uinteger":0.5'),
                r"rng_state\['uinteger'\]: expected an int, got float",
            ),
        }.items()
    },
    "optimizer not JSON": (
        {"__metadata__": metadata(optimizer="{")},
        b"",
        "optimizer is not valid JSON",
    ),
    "optimizer fields": (
        {"__metadata__": metadata(optimizer='{"state": {}}')},
        b"",
        "optimizer is not a JSON object of class, param_groups and state",
    ),
    "optimizer groups": (
        {
            "__metadata__": metadata(
                optimizer='{"class": "SGD", "param_groups": [{"params": [-1]}], "state": {}}'
            )
        },
        b"",
        "param_groups is not a list of groups",
    ),
    "optimizer indices": (
        {
            "__metadata__": metadata(
                optimizer='{"class": "SGD", "param_groups": [], "state": {"01": {}}}'
            )
        },
        b"",
        "state is not a map of parameter indices",
    ),
    "optimizer tensor of nothing": (
        {
            "__metadata__": metadata(
                bytes(8), optimizer='{"class": "SGD", "param_groups": [], "state": {"0": {}}}'
            ),
            "__optimizer__/state/1/momentum_buffer": tensor(),
        },
        bytes(8),
        "tensor '__optimizer__/state/1/momentum_buffer' is not the state of one",
    ),
    "optimizer tensor twice": (
        {
            "__metadata__": metadata(
                bytes(8), optimizer='{"class": "SGD", "param_groups": [], "state": {"0": {"m": 1}}}'
            ),
            "__optimizer__/state/0/m": tensor(),
        },
        bytes(8),
        "is not the state of one",
    ),
    "optimizer tensor alone": (
        {"__metadata__": metadata(bytes(8)), "__optimizer__/state/0/m": tensor()},
        bytes(8),
        "is an optimizer's, but the metadata has no optimizer",
    ),
}


@pytest.mark.parametrize("case", list(HEADERS))
def test_a_broken_header_is_refused_with_what_is_wrong(tmp_path, case):
    header, data, message = HEADERS[case]
    path = raw_file(tmp_path / "bad.safetensors", header, data)
    with pytest.raises(al.CheckpointError, match=message):
        al.load(path)


def test_a_well_formed_raw_file_loads(tmp_path):
    """The raw files above differ from this one in one field each."""
    data = np.arange(2, dtype=np.float32).tobytes()
    path = raw_file(
        tmp_path / "ok.safetensors", {"__metadata__": metadata(data), "w": tensor()}, data
    )
    assert al.load(path).state_dict["w"].tolist() == [0.0, 1.0]


@pytest.mark.parametrize(
    "size, length, message",
    [
        (0, None, "the file is truncated: 0 bytes"),
        (5, None, "the file is truncated: 5 bytes"),
        (8, 2**63, "the header length 9223372036854775808 exceeds the limit of 100000000"),
        (8, 100, "the header length 100 runs past the end of the file .8 bytes."),
    ],
)
def test_truncated_files_and_impossible_lengths(tmp_path, size, length, message):
    path = tmp_path / "short.safetensors"
    path.write_bytes(
        ((length or 0).to_bytes(8, "little") if length is not None else b"\x10" * 8)[:size]
    )
    with pytest.raises(al.CheckpointError, match=message):
        al.load(path)


def test_a_header_that_is_not_utf8(tmp_path):
    path = raw_file(tmp_path / "bin.safetensors", b'{"\xff": 1}')
    with pytest.raises(al.CheckpointError, match="the header is not UTF-8 text"):
        al.load(path)


def saved_gpt(path, **kw):
    model = al.models.GPT(11, 9, n_layer=1, n_head=2, d_model=8, **kw)
    al.save(model, path, optimizer=al.optim.SGD(model.parameters(), lr=0.1, momentum=0.9))
    return path


def rewrite_metadata(path, **changes):
    """The checkpoint at ``path`` with metadata entries changed (None removes one): the data
    and its checksum stay valid, as they would in a file a stranger edited."""
    with open(path, "rb") as f:
        data = f.read()
    n = int.from_bytes(data[:8], "little")
    meta = json.loads(data[8 : 8 + n])["__metadata__"]
    for key, value in changes.items():
        if value is None:
            meta.pop(key, None)
        else:
            meta[key] = value
    tensors = {k: np.array(v) for k, v in safetensors.numpy.load(data).items()}
    path.write_bytes(safetensors.numpy.save(tensors, metadata=meta))
    return path


def test_the_checksum_is_right_whatever_the_other_metadata_says(tmp_path):
    model = randomized(nn.Linear(3, 2))
    optimizer = al.optim.SGD(model.parameters(), lr=0.1)
    optimizer.param_groups[0]["note"] = '"sha256":"' + "0" * 64 + '"'  # the placeholder's text
    al.save(model, tmp_path / "m.safetensors", optimizer=optimizer)
    checkpoint = al.load(tmp_path / "m.safetensors")
    assert checkpoint.optimizer_state["param_groups"][0]["note"].endswith("0" * 64 + '"')
    data = (tmp_path / "m.safetensors").read_bytes()
    start = 8 + int.from_bytes(data[:8], "little")
    assert checkpoint.metadata["sha256"] == hashlib.sha256(data[start:]).hexdigest()


def test_the_checksum_catches_a_flipped_bit_in_the_data(tmp_path):
    path = saved_gpt(tmp_path / "gpt.safetensors")
    data = bytearray(path.read_bytes())
    data[-3] ^= 0x10
    path.write_bytes(bytes(data))
    with pytest.raises(al.CheckpointError, match="checksum mismatch: the tensor data's SHA-256"):
        al.load(path)


def test_a_file_truncated_anywhere_is_refused(tmp_path):
    data = saved_gpt(tmp_path / "gpt.safetensors").read_bytes()
    cut = tmp_path / "cut.safetensors"
    for size in range(0, len(data), max(1, len(data) // 97)):
        cut.write_bytes(data[:size])
        with pytest.raises(al.CheckpointError, match="truncated|runs past|checksum|cover"):
            al.load(cut)


@pytest.mark.parametrize(
    "config, message",
    [
        (
            {"vocab_size": 10**10},
            "a parameter of 80000000000 numbers in 1 arrays exceeds what is "
            "left of the allocation limit",
        ),
        ({"n_layer": 10**7}, "exceeds what is left of the allocation limit"),
        ({"d_model": 2**20, "n_head": 1}, "exceeds what is left of the allocation limit"),
        ({"vocab_size": "11"}, "does not build attnlab.models.GPT: vocab_size: expected an int"),
        ({"positions": "sideways"}, "positions: expected one of"),
        ({"undo": True}, "unexpected keyword argument 'undo'"),
        (
            {"d_model": 16},
            r"the weights do not fit the attnlab.models.GPT its config builds: "
            r"load_state_dict for GPT: .*'wte.weight': shape \(11, 8\) does not "
            r"match the module's \(11, 16\)",
        ),
    ],
)
def test_load_model_refuses_a_config_that_does_not_make_the_saved_model(tmp_path, config, message):
    path = saved_gpt(tmp_path / "gpt.safetensors")
    saved = al.load(path).config
    rewrite_metadata(path, config=json.dumps({**saved, **config}))
    with pytest.raises(al.CheckpointError, match=message):
        al.load_model(path)


@pytest.mark.parametrize(
    "name, config",
    [
        (
            "attnlab.models.Seq2Seq",
            {"src_vocab_size": 5, "tgt_vocab_size": 5, "max_len": 10**9, "d_model": 8, "n_head": 2},
        ),
        ("attnlab.nn.SinusoidalPositionalEncoding", {"d_model": 64, "max_len": 10**9}),
        ("attnlab.nn.ALiBi", {"num_heads": 10**10}),
        (
            "attnlab.nn.TransformerEncoder",
            {
                "encoder_layer": {
                    "__module__": "attnlab.nn.TransformerEncoderLayer",
                    "config": {"d_model": 4, "nhead": 1, "dim_feedforward": 4},
                },
                "num_layers": 10**7,
            },
        ),
    ],
)
def test_a_config_cannot_allocate_more_than_its_file_holds(tmp_path, name, config):
    path = saved_gpt(tmp_path / "gpt.safetensors")
    rewrite_metadata(path, **{"class": name, "config": json.dumps(config)})
    with pytest.raises(al.CheckpointError, match="exceeds what is left of the allocation limit"):
        al.load_model(path)


def test_a_plain_safetensors_file_is_not_a_checkpoint(tmp_path):
    path = tmp_path / "plain.safetensors"
    safetensors.numpy.save_file({"w": np.ones(2, np.float32)}, path)
    with pytest.raises(
        al.CheckpointError, match="not an attnlab checkpoint .a plain safetensors file reads with"
    ):
        al.load(path)


def test_unknown_metadata_entries_are_kept(tmp_path):
    path = rewrite_metadata(saved_gpt(tmp_path / "gpt.safetensors"), note="fine-tuned")
    assert al.load(path).metadata["note"] == "fine-tuned"
    assert isinstance(al.load_model(path), al.models.GPT)


# ---- fuzzing: any bytes load or raise CheckpointError ------------------------------------


def load_anything(path):
    """What the fuzz target does with a file: load it, and rebuild the model it names."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # NaN weights are a finding of no one's
        try:
            checkpoint = al.load(path)
            if checkpoint.model_class is not None and checkpoint.config is not None:
                al.load_model(checkpoint)
        except al.CheckpointError:
            pass


@pytest.fixture(scope="module")
def valid_file(tmp_path_factory):
    al.manual_seed(0)
    path = tmp_path_factory.mktemp("seed") / "seed.safetensors"
    model = al.models.GPT(7, 5, n_layer=1, n_head=2, d_model=4)
    optimizer = al.optim.Adam(model.parameters(), lr=0.1)
    train = np.arange(10).reshape(2, 5) % 7
    loss = al.functional.cross_entropy(model(train).reshape(-1, 7), train.reshape(-1))
    loss.backward()
    optimizer.step()
    al.save(model, path, optimizer=optimizer, step=1, rng=True)
    return path.read_bytes()


@pytest.fixture(scope="module")
def fuzz_path(tmp_path_factory):
    """One file that each example overwrites."""
    return tmp_path_factory.mktemp("fuzz") / "f.safetensors"


edits = st.lists(
    st.one_of(
        st.tuples(st.just("set"), st.integers(0, 2**16), st.integers(0, 255)),
        st.tuples(st.just("cut"), st.integers(0, 2**16)),
        st.tuples(st.just("insert"), st.integers(0, 2**16), st.binary(min_size=1, max_size=16)),
        st.tuples(st.just("length"), st.integers(0, 2**64 - 1)),
    ),
    min_size=1,
    max_size=4,
)


def edited(data, ops):
    data = bytearray(data)
    for op in ops:
        if op[0] == "set" and data:
            data[op[1] % len(data)] = op[2]
        elif op[0] == "cut":
            del data[op[1] % (len(data) + 1) :]
        elif op[0] == "insert":
            data[op[1] % (len(data) + 1) : op[1] % (len(data) + 1)] = op[2]
        elif op[0] == "length":
            data[:8] = op[1].to_bytes(8, "little")
    return bytes(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=edits)
def test_fuzz_edited_checkpoints(fuzz_path, valid_file, ops):
    fuzz_path.write_bytes(edited(valid_file, ops))
    load_anything(fuzz_path)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_fuzz_rewritten_header_fields(fuzz_path, valid_file, data):
    """One field of the header (a tensor's entry, a metadata string, a config argument, a
    field of the RNG state) replaced by arbitrary JSON."""
    n = int.from_bytes(valid_file[:8], "little")
    header = json.loads(valid_file[8 : 8 + n])
    meta = header["__metadata__"]
    where = data.draw(st.sampled_from(["tensor", "field", "metadata", "config", "rng"]))
    value = data.draw(json_values)
    if where == "tensor":
        header[data.draw(st.sampled_from(sorted(header)))] = value
    elif where == "field":
        name = data.draw(st.sampled_from(sorted(k for k in header if k != "__metadata__")))
        header[name][data.draw(st.sampled_from(["dtype", "shape", "data_offsets"]))] = value
    elif where == "metadata":
        meta[data.draw(st.sampled_from(sorted(meta) + ["new"]))] = json.dumps(value)
    elif where == "config":
        config = json.loads(meta["config"])
        config[data.draw(st.sampled_from(sorted(config)))] = value
        meta["config"] = json.dumps(config)
    else:
        rng = json.loads(meta["rng_state"])
        fields = rng["state"] if data.draw(st.booleans()) else rng
        fields[data.draw(st.sampled_from(sorted(fields)))] = value
        meta["rng_state"] = json.dumps(rng)
    text = json.dumps(header).encode()
    fuzz_path.write_bytes(len(text).to_bytes(8, "little") + text + valid_file[8 + n :])
    load_anything(fuzz_path)


@settings(max_examples=100, deadline=None)
@given(blob=st.binary(max_size=256))
def test_fuzz_random_bytes(fuzz_path, blob):
    fuzz_path.write_bytes(blob)
    load_anything(fuzz_path)


def test_load_warns_about_nan_in_the_optimizers_state(tmp_path):
    model = nn.Linear(2, 2)
    optimizer = al.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model.weight.grad = np.full((2, 2), np.inf, np.float32)
    model.bias.grad = np.zeros(2, np.float32)
    optimizer.step()
    with pytest.warns(
        RuntimeWarning,
        match=r"NaN or Inf in 'weight', "
        r"'__optimizer__/state/0/momentum_buffer'",
    ):
        al.save(model, tmp_path / "inf.safetensors", optimizer=optimizer)
    with pytest.warns(
        RuntimeWarning,
        match=r"NaN or Inf in 'weight', "
        r"'__optimizer__/state/0/momentum_buffer'",
    ):
        al.load(tmp_path / "inf.safetensors")


def test_nothing_is_pickled_or_unpickled(tmp_path, monkeypatch):
    import pickle

    def refuse(*args, **kwargs):
        raise AssertionError("pickle was used")

    for name in ("dump", "dumps", "load", "loads", "Unpickler", "Pickler"):
        monkeypatch.setattr(pickle, name, refuse)
    model = al.models.GPT(11, 9, n_layer=1, n_head=2, d_model=8)
    optimizer = al.optim.Adam(model.parameters())
    train_step(model, optimizer, 0)
    al.save(model, tmp_path / "m.safetensors", optimizer=optimizer, step=1)
    checkpoint = al.load(tmp_path / "m.safetensors")
    al.load_model(checkpoint)
    al.optim.Adam(model.parameters()).load_state_dict(checkpoint.optimizer_state)
