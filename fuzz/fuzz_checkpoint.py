"""Atheris target: attnlab.load and attnlab.load_model on files made from the fuzz bytes.

Each input is a whole file (the bytes as they are), or a valid checkpoint (a small GPT with
its Adam state and RNG state, made once at start) edited as the bytes choose: bytes set, cut
or inserted, the 8-byte header length replaced, or one header field (a tensor's dtype, shape
or offsets, a metadata string, a config argument, a part of the optimizer's JSON or of the
RNG state) replaced by a value from the bytes, the rest of the file kept valid. A file must
load (and rebuild, when it names a model) or raise attnlab.CheckpointError; any other
exception, a sanitizer report, a crash, a hang or an allocation past the limit is a finding.

Run it with ``./scripts/run.sh fuzz [seconds]``, which runs it after fuzz_functional.py, each
for half the time; extra arguments after the file are libFuzzer's.
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from typing import Any

import atheris
import numpy as np

from harness import attnlab, fuzz

VALUES: tuple[Any, ...] = (
    None,
    True,
    False,
    0,
    1,
    -1,
    3,
    2**31,
    2**53 + 1,
    2**63,
    2**64,
    -(2**63),
    0.5,
    -0.0,
    1e308,
    "",
    "F32",
    "F64",
    "I64",
    "BF16",
    "1",
    "2",
    "attnlab.nn.Linear",
    "attnlab.models.GPT",
    "os.system",
    [],
    {},
    [0],
    [0, 0],
    [1, 2, 3],
    [-1],
    [2**62, 2**62],
    [0, 2**64],
    {"__module__": "attnlab.nn.ReLU", "config": {}},
    {"__module__": "attnlab.nn.Linear", "config": {"in_features": 4, "out_features": 2**40}},
    {"__module__": "builtins.eval", "config": {}},
)


def seed_checkpoint() -> bytes:
    """A small trained GPT with its Adam state, a step and the RNG state, as saved."""
    attnlab.manual_seed(0)
    model = attnlab.models.GPT(7, 5, n_layer=1, n_head=2, d_model=4)
    optimizer = attnlab.optim.Adam(model.parameters(), lr=0.1)
    batch = np.arange(10).reshape(2, 5) % 7
    loss = attnlab.functional.cross_entropy(model(batch).reshape(-1, 7), batch.reshape(-1))
    loss.backward()
    optimizer.step()
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "seed.safetensors")
        attnlab.save(model, path, optimizer=optimizer, step=1, rng=True)
        with open(path, "rb") as f:
            return f.read()


SEED = seed_checkpoint()
HEADER_LENGTH = int.from_bytes(SEED[:8], "little")
HEADER = json.loads(SEED[8 : 8 + HEADER_LENGTH])
DATA = SEED[8 + HEADER_LENGTH :]


def value(fdp: atheris.FuzzedDataProvider) -> Any:
    kind = fdp.ConsumeIntInRange(0, 7)
    if kind == 0:
        return fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 16))
    if kind == 1:
        return fdp.ConsumeIntInRange(-(2**64), 2**64)
    if kind == 2:
        return [value(fdp) for _ in range(fdp.ConsumeIntInRange(0, 3))]
    return VALUES[fdp.ConsumeIntInRange(0, len(VALUES) - 1)]


def edited_bytes(fdp: atheris.FuzzedDataProvider) -> bytes:
    data = bytearray(SEED)
    for _ in range(fdp.ConsumeIntInRange(1, 4)):
        op, at = fdp.ConsumeIntInRange(0, 3), fdp.ConsumeIntInRange(0, len(data))
        if op == 0 and at < len(data):
            data[at] = fdp.ConsumeIntInRange(0, 255)
        elif op == 1:
            del data[at:]
        elif op == 2:
            data[at:at] = fdp.ConsumeBytes(fdp.ConsumeIntInRange(1, 16))
        else:
            data[:8] = fdp.ConsumeIntInRange(0, 2**64 - 1).to_bytes(8, "little")
    return bytes(data)


def edited_header(fdp: atheris.FuzzedDataProvider) -> bytes:
    header = json.loads(json.dumps(HEADER))
    meta = header["__metadata__"]
    names = sorted(k for k in header if k != "__metadata__")
    where = fdp.ConsumeIntInRange(0, 5)
    if where == 0:
        name = names[fdp.ConsumeIntInRange(0, len(names) - 1)]
        field = ("dtype", "shape", "data_offsets")[fdp.ConsumeIntInRange(0, 2)]
        header[name][field] = value(fdp)
    elif where == 1:
        keys = sorted(meta)
        meta[keys[fdp.ConsumeIntInRange(0, len(keys) - 1)]] = json.dumps(value(fdp))
    elif where == 2:
        config = json.loads(meta["config"])
        keys = sorted(config) + ["extra"]
        config[keys[fdp.ConsumeIntInRange(0, len(keys) - 1)]] = value(fdp)
        meta["config"] = json.dumps(config)
    elif where == 3:
        optimizer = json.loads(meta["optimizer"])
        group = optimizer["param_groups"][0]
        keys = sorted(group)
        group[keys[fdp.ConsumeIntInRange(0, len(keys) - 1)]] = value(fdp)
        optimizer["state"][str(value(fdp))] = {"step": value(fdp)}
        meta["optimizer"] = json.dumps(optimizer)
    elif where == 4:
        rng = json.loads(meta["rng_state"])
        fields = rng["state"] if fdp.ConsumeBool() else rng  # PCG64's state and inc, or the rest
        keys = sorted(fields)
        fields[keys[fdp.ConsumeIntInRange(0, len(keys) - 1)]] = value(fdp)
        meta["rng_state"] = json.dumps(rng)
    else:
        header[str(value(fdp))] = value(fdp)
    text = json.dumps(header).encode()
    return len(text).to_bytes(8, "little") + text + DATA


FOLDER = tempfile.mkdtemp(prefix="fuzz_checkpoint_")
PATH = os.path.join(FOLDER, "input.safetensors")


def test_one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    kind = fdp.ConsumeIntInRange(0, 2)
    if kind == 0:
        contents = fdp.ConsumeBytes(fdp.remaining_bytes())
    elif kind == 1:
        contents = edited_bytes(fdp)
    else:
        contents = edited_header(fdp)
    with open(PATH, "wb") as f:
        f.write(contents)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # NaN weights load, with a warning
        try:
            checkpoint = attnlab.load(PATH)
            if checkpoint.model_class is not None and checkpoint.config is not None:
                attnlab.load_model(checkpoint)
        except attnlab.CheckpointError:
            pass


if __name__ == "__main__":
    fuzz(test_one_input)
