"""python -m attnlab (__main__.py): the top-level parser and each command's --help."""

import pytest

from attnlab.__main__ import main


@pytest.mark.parametrize(
    "argv, shows",
    [
        (["--help"], ["usage: python -m attnlab", "demo", "bench", "% of FMA peak"]),
        (["demo", "--help"], ["usage: python -m attnlab demo", "--task", "--steps", "--out"]),
        (["bench", "--help"], ["usage: python -m attnlab bench", "--quick", "--json", "--arch"]),
    ],
)
def test_help_prints_usage_and_exits_zero(capsys, argv, shows):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 0
    out = capsys.readouterr().out
    for text in shows:
        assert text in out


def test_no_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as e:
        main([])
    assert e.value.code == 2
    assert "the following arguments are required: command" in capsys.readouterr().err
