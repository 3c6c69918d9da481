"The demo's report in a real browser (headless Chromium): every table, figure and section is there, and the check fails when one is not."
import shutil

import pytest
import yaml

from browser import CHROMIUM, REQUIRED, check_page, drawn, screenshot
from llm_distill.experiment import run_experiment
from llm_distill.design import DEMO_CONFIG, ExperimentConfig
from llm_distill.report import write_report

pytestmark = pytest.mark.skipif(CHROMIUM is None and not REQUIRED, reason="no Chromium here (CI installs Debian's chromium)")

HEADINGS = ("Results on held-out human labels", "Paired comparisons", "Per-class scores", "Validation of the LLM labels",
            "Methods, as a paragraph", "The kept student", "Methods appendix")
FIGURES = ("Macro-F1 by condition", "Learning curves", "Confusion matrix: student, LLM labels")


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    folder = tmp_path_factory.mktemp("report")
    config = ExperimentConfig(**{**yaml.safe_load(DEMO_CONFIG), "output": str(folder / "run")})   # exactly the demo (`llm-distill demo`)
    write_report(run_experiment(config, progress=False))
    return folder / "run"


def test_report_shows_everything(report, tmp_path):
    assert CHROMIUM is not None, "LLM_DISTILL_REQUIRE_BROWSER=1 but no Chromium: apt-get install chromium"
    seen = check_page(report / "report.html", HEADINGS, FIGURES, min_tables=6, shot=tmp_path / "report.png")
    assert len(seen["images"]) >= 7 and seen["tables"] >= 6


def test_the_check_fails_on_a_missing_figure_or_table(report, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(report, broken)
    (broken / "learning_curves.png").unlink()
    with pytest.raises(AssertionError, match="'Learning curves' did not load"):
        check_page(broken / "report.html", HEADINGS, FIGURES, min_tables=6)
    page = broken / "report.html"
    html = page.read_text()
    start = html.index("<h2>Per-class scores")
    page.write_text(html[:start] + html[html.index("<h2>Validation of the LLM labels"):])   # the per-class section and its tables gone
    with pytest.raises(AssertionError, match="no heading 'Per-class scores'"):
        check_page(page, HEADINGS, (), min_tables=6)


def test_a_blank_page_is_caught(tmp_path):
    page = tmp_path / "blank.html"
    page.write_text("<!doctype html><html><body></body></html>")
    assert not drawn(screenshot(page, tmp_path / "blank.png"))
    with pytest.raises(AssertionError, match="nearly empty"):
        check_page(page)
