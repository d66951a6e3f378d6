"""``python -m attnlab bench --quick``: runs end to end and reports every row and impl."""

import json

import pytest

import attnlab as al
from attnlab.__main__ import main


def test_quick_json(capsys):
    assert main(["bench", "--quick", "--json", "--rounds", "1", "--threads", "1"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["info"]["threads"] == 1 and report["info"]["peak_gflops"] > 0
    rows = {r["row"] for r in report["results"]}
    assert any(name.startswith("forward + backward") for name in rows)
    assert any(name.startswith("linear") for name in rows)
    for block in ("layer_norm", "gelu", "cross_entropy"):
        assert any(name.startswith(block) for name in rows)
    for r in report["results"]:
        assert r["median_ms"] > 0
        assert r["gflops"] > 0 or r["row"].split()[0] in ("layer_norm", "gelu", "cross_entropy")
        if r["impl"] == "attnlab":
            assert r["ratio"] == 1.0
    assert report["memory"]["peak_mib"] is None or report["memory"]["peak_mib"] < 128
    assert al.get_num_threads() >= 1


def test_peak_gflops_validation():
    with pytest.raises(TypeError, match="threads"):
        al.arch.peak_gflops(1.5)
    with pytest.raises(ValueError, match="threads"):
        al.arch.peak_gflops(0)
