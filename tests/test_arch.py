"""Runtime dispatch: which arches exist, forcing one, and that no SIMD leaks past its arch."""

import platform
import re
import shutil
import subprocess
import threading

import numpy as np
import pytest

import attnlab as al
from attnlab import _core

BASELINE = {"x86_64": "sse2", "AMD64": "sse2", "aarch64": "neon64", "arm64": "neon64"}


def test_available_lists_best_first_and_ends_with_the_baseline():
    names = al.arch.available()
    assert names[-1] == BASELINE[platform.machine()]
    assert len(set(names)) == len(names)
    assert al.arch.current() == names[0]


def test_force_switches_and_restores_even_nested():
    names = al.arch.available()
    with al.arch.force(names[-1]):
        assert al.arch.current() == names[-1]
        with al.arch.force(names[0]):
            assert al.arch.current() == names[0]
        assert al.arch.current() == names[-1]
    assert al.arch.current() == names[0]


def test_force_restores_after_an_exception():
    names = al.arch.available()
    with pytest.raises(RuntimeError, match="inside"):
        with al.arch.force(names[-1]):
            raise RuntimeError("inside")
    assert al.arch.current() == names[0]


def test_force_rejects_unknown_and_non_string_names():
    with pytest.raises(ValueError, match=r"name: arch 'avx9000' is not available here"):
        with al.arch.force("avx9000"):
            pass
    with pytest.raises(TypeError, match="name: expected a str, got int"):
        with al.arch.force(3):
            pass


def test_every_arch_computes_the_same_attention(rng):
    q, k, v = (rng.standard_normal((2, 3, 17, 9)) for _ in range(3))
    results = []
    for name in al.arch.available():
        with al.arch.force(name):
            results.append(al.functional.scaled_dot_product_attention(q, k, v))
    for other in results[1:]:
        np.testing.assert_allclose(other, results[0], rtol=0, atol=1e-13)


def _functions_using_wide_registers(disassembly: str) -> dict[str, set[str]]:
    """Function name -> the SIMD extensions its instructions need beyond the baseline."""
    found: dict[str, set[str]] = {}
    name = None
    for line in disassembly.splitlines():
        header = re.match(r"^[0-9a-f]+ <(.*)>:$", line)
        if header:
            name = header.group(1)
            continue
        fields = line.split("\t")
        if name is None or len(fields) < 2:
            continue
        text = fields[1]
        if "zmm" in text or re.search(r"%k[1-7]\b", text):
            found.setdefault(name, set()).add("avx512")
        elif "ymm" in text or text.split(" ")[0].startswith("v"):  # VEX encoding needs AVX
            found.setdefault(name, set()).add("avx")
    return found


def _local_functions(symbol_table: str) -> set[str]:
    """The functions `nm -C` lists as local (type t): private to the file compiled into them."""
    names = set()
    for line in symbol_table.splitlines():
        parts = line.split(" ", 2)
        if len(parts) == 3 and parts[1] == "t":
            names.add(parts[2])
    return names


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="x86-64 encoding check")
def test_avx_instructions_appear_only_in_their_arch_kernels():
    """A wheel built here must run on any x86-64: AVX only in the avx2/avx512f kernel code.
    A function the linker may merge across files (global or weak: an inline or template
    function without its arch in its name) must be baseline code, or a call from a baseline
    file could land in a copy compiled for AVX. A local one (such as xtensor's error helpers,
    which the optimizer updates of each arch compile for themselves) runs only from its own
    arch's file."""
    tools = {name: shutil.which(name) for name in ("objdump", "nm")}
    assert all(tools.values()), "objdump and nm (binutils) are needed for this check"
    text = subprocess.run(
        [tools["objdump"], "-d", "--no-show-raw-insn", "-C", _core.__file__],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    local = _local_functions(
        subprocess.run(
            [tools["nm"], "-C", "--defined-only", _core.__file__],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    used = _functions_using_wide_registers(text)
    assert any("avx512f" in f for f in used), "the avx512f kernels should use AVX-512"
    assert any("avx2" in f for f in used), "the avx2 kernels should use AVX"
    assert any("avx512f::adam_chunk" in f for f, isa in used.items() if "avx512" in isa), (
        "the avx512f optimizer updates should use AVX-512"
    )
    leaks = {
        f: isa
        for f, isa in used.items()
        if f not in local and not ("avx512" in f or ("avx2" in f and isa == {"avx"}))
    }
    assert not leaks, f"SIMD beyond the baseline outside its arch kernels: {sorted(leaks)[:5]}"


def test_peak_gflops_validation():
    with pytest.raises(TypeError, match="threads"):
        al.arch.peak_gflops(1.5)
    with pytest.raises(ValueError, match="threads"):
        al.arch.peak_gflops(0)


@pytest.mark.skipif("avx512f" not in al.arch.available(), reason="needs AVX-512 beside SSE2")
def test_peak_gflops_is_the_current_arch_s():
    """Forced to SSE2 (4 float lanes, no FMA), the FMA loop runs at a fraction of AVX-512's
    (16 lanes, FMA): at most half of it even on a loaded machine."""
    wide = al.arch.peak_gflops(1)
    with al.arch.force("sse2"):
        narrow = al.arch.peak_gflops(1)
    assert narrow < wide / 2, (narrow, wide)


@pytest.mark.skipif(len(al.arch.available()) < 2, reason="needs two arches")
def test_force_from_another_thread_mid_call_keeps_each_call_on_one_arch():
    """Each attention call takes its kernels once: packing and tiles agree on the K/V layout
    (which differs per arch) while another thread keeps switching the forced arch."""
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal((2, 4, 300, 24)) for _ in range(3))
    expected = al.functional.scaled_dot_product_attention(q, k, v)
    q32, k32, v32 = (x.astype(np.float32) for x in (q, k, v))
    stop = threading.Event()

    def switch():
        while not stop.is_set():
            for arch in al.arch.available():
                _core.force_arch(arch)
        _core.force_arch("")

    switcher = threading.Thread(target=switch)
    switcher.start()
    try:
        for _ in range(60):
            out = al.functional.scaled_dot_product_attention(q32, k32, v32)
            np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-5)
    finally:
        stop.set()
        switcher.join()
    assert al.arch.current() == al.arch.available()[0]
