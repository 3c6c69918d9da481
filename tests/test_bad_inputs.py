"""Every bad input of the battery in bad_inputs.py raises a documented error whose message names what is wrong."""
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from bad_inputs import RIGHT, cases, run_case  # noqa: E402


NAMES = [name for name, _, _ in cases(tempfile.mkdtemp())]


def test_cases_are_named_once_and_expect_something(tmp_path):
    battery = cases(tmp_path)
    assert len(battery) >= 30
    assert len(set(NAMES)) == len(NAMES), "two cases share a name"
    for name, _, words in battery:
        assert words, f"{name}: no expected outcome"


@pytest.mark.parametrize("name", NAMES)
def test_bad_input_gives_a_clear_error(tmp_path, name):
    _, function, words = next(case for case in cases(tmp_path) if case[0] == name)
    outcome, message = run_case(function)
    if words == RIGHT:
        assert outcome == RIGHT, f"{name}: a valid input must give the right result, got {outcome}: {message}"
        return
    assert outcome == "clear", f"{name}: {outcome}: {message}"
    for word in words:
        assert word in message, f"{name}: {word!r} not in {message!r}"


@pytest.mark.slow
def test_fault_soak_bench():
    """The 2,000-request soak of bench/faults.py: mixed faults, 10 SIGKILLs, kills during training, the battery."""
    import json
    import subprocess
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, root / "bench" / "faults.py"], check=True, capture_output=True, text=True).stdout
    lines = {line["bench"]: line for line in map(json.loads, out.splitlines())}
    faults = lines["faults"]
    assert faults["lost"] == 0 and faults["paid_twice"] == 0 and faults["identical_after_resume"]
    assert faults["labelled"] + faults["reported_unparsed"] + faults["failed_with_reason"] == faults["requests"]
    assert lines["training_kills"]["identical_after_resume"]
    assert lines["bad_inputs"]["handled"] == lines["bad_inputs"]["cases"]
