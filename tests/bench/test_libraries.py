"""attnlab.bench.libraries: attnlab's call right after another library's."""

from attnlab.bench.libraries import after_impl, after_rows


def test_after_rows_time_attnlab_after_each_library(torch):
    rows = after_rows(True, torch)
    shape = "(8, 4, 128, 32)"
    assert [row.name for row in rows] == [
        f"forward {shape} right after numpy matmul",
        f"forward {shape} right after torch sdpa",
        f"forward {shape} in single calls alternating with numpy matmul",
        f"forward {shape} in single calls alternating with torch sdpa",
    ]
    assert [row.single_calls for row in rows] == [False, False, True, True]
    for row, library in zip(rows, ["numpy matmul", "torch sdpa"] * 2):
        # The same call twice: in the steady state, and each time after the library's.
        assert row.impls["attnlab"] is row.impls[after_impl(library)]
        assert set(row.before) == {after_impl(library)}
        assert row.before[after_impl(library)]() is not None
        assert row.target == f"{after_impl(library)} <= 1.3x attnlab (steady state)"


def test_without_torch_only_numpy_is_the_other_library():
    assert [row.name for row in after_rows(True, None)] == [
        "forward (8, 4, 128, 32) right after numpy matmul",
        "forward (8, 4, 128, 32) in single calls alternating with numpy matmul",
    ]
