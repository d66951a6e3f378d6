"""The global generator (_random.py): manual_seed, and its state saved and put back."""

import numpy as np
import pytest

import attnlab as al


def dropout_masks(n=3):
    """What the generator decides next: n dropout masks drawn with no seed of their own."""
    x = np.ones((4, 8))
    return [al.functional.dropout(x, 0.5, training=True) for _ in range(n)]


def test_set_rng_state_replays_what_followed_get_rng_state():
    al.manual_seed(5)
    dropout_masks(2)
    state = al.get_rng_state()
    expected = dropout_masks()
    dropout_masks(4)
    al.manual_seed(99)  # a new generator object: the state still goes into the one in use
    al.set_rng_state(state)
    for got, want in zip(dropout_masks(), expected, strict=True):
        assert got.tobytes() == want.tobytes()


def test_the_state_is_a_copy():
    al.manual_seed(0)
    state = al.get_rng_state()
    state["state"]["state"] = 1
    assert al.get_rng_state()["state"]["state"] != 1
    assert al.get_rng_state() == al.get_rng_state()


def good_state():
    al.manual_seed(0)
    return al.get_rng_state()


def changed(**fields):
    state = good_state()
    for key, value in fields.items():
        if key in ("inner_state", "inc"):
            state["state"]["state" if key == "inner_state" else "inc"] = value
        elif value is None:
            del state[key]
        else:
            state[key] = value
    return state


@pytest.mark.parametrize(
    "state, error, message",
    [
        ([1, 2], TypeError, "state: expected a dict from get_rng_state, got list"),
        (changed(uinteger=None), ValueError, r"state: expected the fields \['bit_generator'"),
        (changed(bit_generator="MT19937"), ValueError, "bit_generator 'MT19937' is not 'PCG64'"),
        (changed(state={"state": 1}), ValueError, r"state\['state'\]: expected a dict of"),
        (changed(inc=4), ValueError, r"state\['state'\]\['inc'\]: a PCG64 increment is odd"),
        (changed(inc=2**128 + 1), ValueError, r"\['inc'\]: expected an int in \[0, 0x1"),
        (changed(inner_state=-1), ValueError, r"\['state'\]\['state'\]: expected an int in"),
        (changed(inner_state=1.0), TypeError, r"\['state'\]\['state'\]: expected an int, got"),
        (changed(has_uint32=2), ValueError, r"state\['has_uint32'\]: expected an int in \[0, 0x2"),
        (changed(uinteger=True), TypeError, r"state\['uinteger'\]: expected an int, got bool"),
    ],
)
def test_a_state_that_is_not_pcg64s_is_refused_and_changes_nothing(state, error, message):
    al.manual_seed(1)
    before = al.get_rng_state()
    with pytest.raises(error, match=message):
        al.set_rng_state(state)
    assert al.get_rng_state() == before
