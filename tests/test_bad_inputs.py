"""Every bad input of the battery in bad_inputs.py raises a documented error whose message names what is wrong."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from bad_inputs import cases, run_case  # noqa: E402


def test_at_least_thirty_cases(tmp_path):
    assert len(cases(tmp_path)) >= 30


@pytest.mark.parametrize("index", range(38))
def test_bad_input_gives_a_clear_error(tmp_path, index):
    battery = cases(tmp_path)
    if index >= len(battery):
        pytest.skip("fewer cases")
    name, function, words = battery[index]
    outcome, message = run_case(function)
    assert outcome == "clear", f"{name}: {outcome}: {message}"
    for word in words:
        assert word in message, f"{name}: {word!r} not in {message!r}"
