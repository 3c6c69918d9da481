"Names from users are inert wherever they are rendered: report.md, report.html and the model card show them as text, and the HTML fetches nothing."
import re
from html.parser import HTMLParser

import mistune
import numpy as np
import pandas as pd
import pytest

from llm_distill.data import Codebook, Label
from llm_distill.core import inert_markdown
from llm_distill.export import student_card
from llm_distill.experiment import run_experiment
from llm_distill.design import ExperimentConfig
from llm_distill.report import write_report
from llm_distill.students import RECIPES

IMAGE, ONERROR, SCRIPT_LINK, HEADING = "![p](http://evil/x.png)", "<img src=x onerror=alert(1)>", "[click](javascript:alert(1))", "name\n# Injected"
LABELS = (f"{HEADING} {IMAGE}", f"{ONERROR} {SCRIPT_LINK}")   # two labels holding every hostile form


class Page(HTMLParser):
    "Every tag of a page with its attributes, and the text of every heading."
    def __init__(self, html):
        super().__init__()
        self.tags, self.headings, self._heading = [], [], None
        self.feed(html)
    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if re.fullmatch(r"h[1-6]", tag): self._heading = tag; self.headings.append("")
    def handle_endtag(self, tag):
        if tag == self._heading: self._heading = None
    def handle_data(self, data):
        if self._heading: self.headings[-1] += data


def assert_inert(html, folder=None):
    "No script, no event handler, no javascript: link, no image from elsewhere than `folder`, no heading a name started."
    page = Page(html)
    assert not [tag for tag, _ in page.tags if tag in ("script", "iframe", "object", "embed", "svg", "link", "base", "form")], page.tags
    assert all(set(attributes) == {"charset"} for tag, attributes in page.tags if tag == "meta"), page.tags
    for tag, attributes in page.tags:
        assert not [a for a in attributes if a.lower().startswith("on")], (tag, attributes)
        for key in ("href", "src", "action", "formaction"):
            assert not (attributes.get(key) or "").strip().lower().startswith(("javascript:", "data:", "vbscript:")), (tag, attributes)
        if tag == "img":
            source = attributes.get("src", "")
            assert not re.match(r"(?i)([a-z][a-z0-9+.-]*:|//)", source), source        # nothing fetched from a server
            assert folder is not None and (folder / source).is_file(), source           # only the report's own figures
    assert not [h for h in page.headings if h.strip().startswith("Injected")], page.headings
    return page


PERMISSIVE = mistune.create_markdown(escape=False, plugins=["strikethrough", "table"])   # a viewer that passes raw HTML through


@pytest.mark.parametrize("hostile", [IMAGE, ONERROR, SCRIPT_LINK, HEADING, "a | b", "`code`", "*x* _y_ ~~z~~", "Q&A &lt;b&gt;"])
def test_inert_markdown_renders_as_itself(hostile):
    html = PERMISSIVE(inert_markdown(hostile))
    assert_inert(html)
    assert [tag for tag, _ in Page(html).tags] == ["p"]
    import html as entities
    assert entities.unescape(re.sub(r"</?p>", "", html)).strip() == hostile.replace("\n", " ")


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory):
    "A quick run (replayed labels, TF-IDF, 40 texts) whose task, labels, model, data and condition names are all hostile."
    folder = tmp_path_factory.mktemp("hostile")
    codebook = Codebook(task=f"task {HEADING} <script>alert(1)</script>", labels=tuple(Label(l) for l in LABELS), require_definitions=False)
    texts = [f"comment {i} {'awful' if i % 2 else 'kind'}" for i in range(40)]
    texts[0] += f"\n```\n{IMAGE}\n```"                                  # the example prompt shows the first text: it cannot close its block
    rows = pd.DataFrame({"id": range(40), "text": texts,
                         "label": list(LABELS) * 20, "llm": list(LABELS) * 20})
    config = ExperimentConfig("hostile", {"frame": rows, "label": "label", "name": f"data {IMAGE} {HEADING}"},
                              {"backend": "replay", "model": f"model {IMAGE} {SCRIPT_LINK} {ONERROR} {HEADING}", "column": "llm"},
                              codebook=codebook, student={"candidates": ["tfidf"]}, folds=2, bootstrap=20, train_sizes=[None],
                              output=str(folder / "run"))
    return write_report(run_experiment(config, progress=False)).parent


def test_report_html_fetches_nothing_and_shows_its_figures(hostile_run):
    page = assert_inert((hostile_run / "report.html").read_text(), hostile_run)
    shown = {attributes["src"] for tag, attributes in page.tags if tag == "img"}
    assert shown == {p.name for p in hostile_run.glob("*.png")} and "comparison.png" in shown     # every figure the package drew, and only those
    assert not [a for tag, a in page.tags if tag == "a"]                                            # no link made from a name


def test_report_md_is_inert_even_where_raw_html_passes(hostile_run):
    markdown = (hostile_run / "report.md").read_text()
    page = assert_inert(PERMISSIVE(markdown), hostile_run)             # no heading a name started (the prompt's own lines stay in its fenced block)
    assert [tag for tag, _ in page.tags if tag == "h1"] == ["h1"]
    assert inert_markdown(LABELS[1]) in markdown and inert_markdown(f"data {IMAGE} {HEADING}") in markdown   # shown, as text


def test_model_card_is_inert(hostile_run, tmp_path):
    "The card of the run's kept student, and one written directly with every field hostile; its metadata is YAML that reads back."
    from huggingface_hub import ModelCard
    cards = [hostile_run / "student" / "README.md"]
    texts = [f"comment {i} {'awful' if i % 2 else 'kind'}" for i in range(20)]
    student = RECIPES["tfidf"](list(LABELS), min_df=1).fit(texts, np.eye(2)[[i % 2 for i in range(20)]])
    name = f"{HEADING}\n---\nlicense: owned\n# Owned"
    student_card(student, {"macro_f1": (0.7, 0.6, 0.8)}, f"texts of {IMAGE} {HEADING}", teacher=f"{ONERROR} {SCRIPT_LINK}",
                 task=f"task {HEADING}", data_hash="`x`\n# Injected", name=name).save(tmp_path / "README.md")
    cards.append(tmp_path / "README.md")
    for card in cards:
        loaded = ModelCard.load(card)
        page = assert_inert(PERMISSIVE(loaded.text))
        assert [a["href"] for tag, a in page.tags if tag == "a"] == ["https://github.com/llm-distill/llm_distill"]
        assert not [h for h in page.headings if h.strip().startswith("Owned")]
    assert loaded.data.to_dict()["model-index"][0]["name"] == name and "license" not in loaded.data.to_dict()   # a quoted value, not keys


def test_training_curves_of_a_run_without_fine_tuning_say_so_without_a_warning():
    "A run with no fine-tuned student drew empty axes and matplotlib's 'No artists with labels' warning; the axes say why they are empty."
    import warnings
    from types import SimpleNamespace
    from llm_distill.report import plot_training_curves
    result = SimpleNamespace(config=SimpleNamespace(seeds=[0]), methods={"train_sizes": [None]},
                             cells=[{"seed": 0, "size": None, "condition": "human", "fold": 0, "history": None}])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ax = plot_training_curves(result)
    assert ax.get_legend() is None and [t.get_text() for t in ax.texts] == ["no fine-tuned student in this run: no training curves"]
