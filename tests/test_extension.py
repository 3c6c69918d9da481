"""Extension points from outside the package: a backend, a student recipe and a metric, each one class (or instance) and one
registry entry, run together in one experiment; and the re-cut's layout rules (no import circle, small modules and functions,
the cache file named once, no private name imported across modules)."""
import ast
import json
import re
from pathlib import Path

import numpy as np
import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "llm_distill"


# --- a backend, a recipe and a metric written by a user -------------------------------------------------------------------
class KeywordLLM:
    "A pretend LLM that calls a text toxic when it holds an insult: one class, registered under `keyword`."
    name, batch = "keyword", False
    INSULTS = ("idiot", "stupid", "moron", "dumb", "shut up", "fuck", "shit", "ass")

    def __init__(self, model, toxic, other): self.model, self.toxic, self.other = model, toxic, other
    def cost(self, prompt_tokens, completion_tokens, batch=False): return 0.0

    @classmethod
    def from_settings(cls, llm, corpus, codebook, api_key=None, where="llm"):
        toxic = next(n for n in codebook.label_names if n == "toxic")
        return cls(llm["model"], toxic, next(n for n in codebook.label_names if n != toxic))

    def complete_batch(self, requests, decoding):
        from llm_distill.llm import Completion
        answer = lambda r: self.toxic if any(w in r.messages[-1]["content"].lower() for w in self.INSULTS) else self.other
        return [Completion([answer(r)] * r.samples, model=self.model) for r in requests]


def _nearest_centroid_recipe():
    "A student recipe: TF-IDF and a multinomial naive Bayes, saved with skops (defined inside, so it registers only when asked)."
    from llm_distill.students import Recipe

    class NaiveBayesRecipe(Recipe):
        "TF-IDF and multinomial naive Bayes."
        name, defaults = "naive-bayes", {"alpha": 1.0}

        def fit(self, texts, targets, weights=None):
            from sklearn.feature_extraction.text import TfidfVectorizer
            from sklearn.naive_bayes import MultinomialNB
            self.vectorizer = TfidfVectorizer(min_df=2)
            features = self.vectorizer.fit_transform(list(texts))
            self.head = MultinomialNB(alpha=self.settings["alpha"]).fit(features, targets.argmax(1))
            return self

        def predict_proba(self, texts, batch_size=64):
            out = np.zeros((len(texts), len(self.label_names)))
            out[:, self.head.classes_] = self.head.predict_proba(self.vectorizer.transform(list(texts)))
            return out

        def _save(self, path):
            import skops.io as sio
            sio.dump({"vectorizer": self.vectorizer, "head": self.head}, path / "nb.skops")

        def _load(self, path):
            import skops.io as sio
            parts = sio.load(path / "nb.skops", trusted=sio.get_untrusted_types(file=path / "nb.skops"))
            self.vectorizer, self.head = parts["vectorizer"], parts["head"]
    return NaiveBayesRecipe


@pytest.fixture
def extended():
    "Register the three, and take them out again whatever happens."
    from sklearn.metrics import balanced_accuracy_score
    from llm_distill.llm import BACKENDS, register_backend
    from llm_distill.metrics import METRICS, Metric, register_metric
    from llm_distill.students import RECIPES, register_recipe
    before = dict(METRICS)
    register_backend("keyword")(KeywordLLM)
    recipe = register_recipe(_nearest_centroid_recipe())
    register_metric(Metric("balanced_accuracy", "mean recall over the classes",
                           score=lambda pair: balanced_accuracy_score(pair.truth_codes, pair.predicted_codes)))
    yield recipe
    BACKENDS.pop("keyword"); RECIPES.pop("naive-bayes")
    METRICS.clear(); METRICS.update(before)


def test_a_backend_a_recipe_and_a_metric_from_outside_run_one_experiment(tmp_path, extended):
    from llm_distill.design import ExperimentConfig
    from llm_distill.experiment import run_experiment
    from llm_distill.students import load_student
    config = ExperimentConfig(name="outside", data={"dataset": "textclass-toxicity", "limit": 150}, llm={"backend": "keyword", "model": "insults"},
                              student={"recipe": "naive-bayes"}, conditions=["llm", "llm_direct"], train_sizes=[None], folds=2,
                              bootstrap=50, output=str(tmp_path / "run"))
    result = run_experiment(config, progress=False)
    cells = {c["condition"]: c for c in result.cells}
    assert cells["llm"]["recipe"] == "naive-bayes"
    assert result.llm_report.table.set_index("metric").loc["balanced_accuracy", ["ci_low", "ci_high"]].notna().all()
    student_report = next(r for (condition, _, _), r in result.reports.items() if condition == "llm")
    balanced = student_report.table.set_index("metric").at["balanced_accuracy", "value"]
    assert 0 < balanced <= 1
    kept = load_student(config.output_dir / "student")   # the run kept it in its own format; it loads back by its registered name
    from llm_distill.data import load_dataset
    texts = dict(zip(*(load_dataset("textclass-toxicity").data[c] for c in ("id", "text"))))
    labelled = result.annotations.dropna(subset=["label"])
    predicted = kept.predict([texts[i] for i in labelled["id"]])
    assert type(kept).__name__ == "NaiveBayesRecipe"
    assert np.mean(np.array(predicted) == labelled["label"].to_numpy()) > 0.7   # it learned the keyword LLM's labels it was kept on


def test_info_lists_what_was_registered(extended, capsys):
    from llm_distill.cli import main
    assert main(["info"]) == 0
    said = capsys.readouterr().out
    assert re.search(r"backends: .*keyword", said) and re.search(r"recipes: .*naive-bayes", said) and re.search(r"metrics: .*balanced_accuracy", said)


# --- the layout rules ------------------------------------------------------------------------------------------------------
def _modules():
    return {p.stem: ast.parse(p.read_text()) for p in PACKAGE.glob("*.py") if p.stem not in ("_modidx", "__init__")}


def _imports(tree):
    "(module imported, names, is private) for every llm_distill import in a module, at any depth."
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.level == 1 or (node.module or "").startswith("llm_distill")):
            yield (node.module or "").split(".")[-1], [a.name for a in node.names]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("llm_distill."): yield alias.name.split(".")[-1], []


def test_no_import_circle_even_inside_functions():
    modules = _modules()
    graph = {m: {target for target, _ in _imports(tree) if target in modules and target != m} for m, tree in modules.items()}
    def reaches(start, node, seen):
        for nxt in graph[node]:
            if nxt == start: return True
            if nxt not in seen and reaches(start, nxt, seen | {nxt}): return True
        return False
    assert not [m for m in graph if reaches(m, m, {m})]


def test_no_private_name_imported_from_another_module():
    private = [(m, target, n) for m, tree in _modules().items() for target, names in _imports(tree) for n in names if n.startswith("_")]
    assert not private, private


def test_modules_and_functions_stay_small():
    sizes = {p.stem: len(p.read_text().splitlines()) for p in PACKAGE.glob("*.py") if p.stem != "_modidx"}
    assert not {m: n for m, n in sizes.items() if n > 500}
    long = [(m, node.name, node.end_lineno - node.lineno + 1) for m, tree in _modules().items() for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno + 1 > 60]
    assert not long, long


def test_the_cache_file_is_named_once():
    from llm_distill.core import CACHE_FILE
    assert sum(p.read_text().count(CACHE_FILE) for p in PACKAGE.glob("*.py") if p.stem != "_modidx") == 1


def test_old_spellings_still_work_and_say_so(tmp_path, capsys):
    from llm_distill.cli import build_parser
    from llm_distill.design import ExperimentConfig
    arguments = build_parser().parse_args(["predict", "--model", "s", "--input", "i.csv", "--out", "o.csv", "--text-column", "body"])
    assert (arguments.student, arguments.output, arguments.text) == ("s", "o.csv", "body")
    said = capsys.readouterr().err
    assert "--model is deprecated: use --student" in said and "--out is deprecated: use --output" in said and "--text-column is deprecated" in said
    build_parser().parse_args(["label", "--dataset", "d", "--backend", "replay", "--codes"])
    assert "--codes is deprecated and has no effect" in capsys.readouterr().err
    with pytest.warns(FutureWarning, match="llm.codes is deprecated and has no effect"):
        ExperimentConfig(name="old", data={"dataset": "textclass-toxicity"}, llm={"backend": "replay", "model": "m", "column": "c", "codes": True})


def test_importing_the_package_leaves_the_users_warning_filters_alone():
    "ppi_py calls warnings.simplefilter('ignore') when imported; llm_distill imports it so that no warning of the session goes silent."
    import subprocess, sys
    code = ("import warnings; before = list(warnings.filters); import llm_distill.experiment, llm_distill.report, llm_distill.cli, llm_distill.inference; "
            "blanket = [f for f in warnings.filters if f[0] == 'ignore' and f[1] is None and f[2] is Warning and f not in before]; "
            "assert not blanket, blanket")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).returncode == 0


def test_bad_extensions_are_refused_by_name():
    from llm_distill.llm import register_backend
    from llm_distill.metrics import METRICS, Metric, agreement_metrics, compare_labels, register_metric

    class Mute:
        name = "mute"
        @classmethod
        def from_settings(cls, llm, corpus, codebook, api_key=None, where="llm"): return cls()
    with pytest.raises(TypeError, match="Mute has no way to answer"): register_backend("mute")(Mute)
    before = dict(METRICS)
    try:
        register_metric(Metric("words", "not a number", score=lambda pair: "x"))
        with pytest.raises(Exception, match="metric 'words' returned 'x', not a number"):
            agreement_metrics(compare_labels(["a", "b"], ["a", "a"], labels=["a", "b"]))
    finally:
        METRICS.clear(); METRICS.update(before)


def test_plugins_named_in_the_environment_reach_the_command_line(tmp_path, monkeypatch, capsys):
    import sys
    from llm_distill.cli import main
    from llm_distill.llm import BACKENDS
    (tmp_path / "lab_plugin.py").write_text("from llm_distill.llm import ReplayBackend, register_backend\nregister_backend('lab-replay')(ReplayBackend)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("LLM_DISTILL_PLUGINS", "lab_plugin")
    try:
        assert main(["info"]) == 0 and "lab-replay" in capsys.readouterr().out
    finally:
        BACKENDS.pop("lab-replay", None); sys.modules.pop("lab_plugin", None)
    monkeypatch.setenv("LLM_DISTILL_PLUGINS", "no_such_lab_plugin")
    with pytest.raises(Exception, match="cannot import 'no_such_lab_plugin'"): main(["info"])
