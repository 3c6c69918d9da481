"""The experiment runner: config errors, cell caching, leak guard, kills, and the CLI end to end."""
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from llm_distill.cli import main
from llm_distill.core import ConfigError, DataError
from llm_distill.experiment import run_experiment
from llm_distill.design import ExperimentConfig, load_experiment
from llm_distill.inputs import experiment_folds, load_experiment_data

TINY = dict(name="tiny", data={"dataset": "textclass-toxicity", "limit": 60},
            llm={"backend": "replay", "model": "gpt-4-0613", "column": "llm_gpt-4-0613"},
            student={"training": {"epochs": 1, "max_length": 32}}, folds=2, bootstrap=50)


def tiny(tmp_path, **changes):
    return ExperimentConfig(**{**TINY, "output": str(tmp_path / "run"), **changes})


@pytest.mark.parametrize("change, message", [
    ({"conditions": ["human", "gpt"]}, "unknown condition(s) ['gpt']"),
    ({"seeds": [-1]}, "seeds.0: input should be greater than or equal to 0, got -1"),
    ({"seeds": 5}, "seeds: input should be a valid list, got 5"),
    ({"train_sizes": [1]}, "train_sizes.0: input should be greater than or equal to 2, got 1"),
    ({"train_sizes": "none"}, "train_sizes: input should be a valid list, got 'none'; train_sizes: training set sizes, null for all training texts (e.g. [200, 1000, null])"),
    ({"train_sizes": [100, 200]}, "add null, e.g. [100, 200, null]"),   # YAML's word: [100, 200, None] is refused there
    ({"bootstrap": -5}, "bootstrap: input should be greater than or equal to 10, got -5"),
    ({"folds": 1}, "folds must be 0 (one split) or >= 2"),
    ({"llm": {"backend": "claude", "model": "x"}}, "llm.backend must be one of ['batch', 'openai', 'replay', 'transformers'], not 'claude'"),
    ({"llm": {"backend": "replay"}}, "llm.model is required"),
    ({"llm": {"backend": "replay", "model": "m", "temperature": 0.5}}, "unknown key(s) ['temperature'] in llm"),
    ({"student": {"training": {"epoch": 2}}}, "student.training: unknown key(s) ['epoch']"),
    ({"data": {"dataset": "olid", "file": "x.csv"}}, "exactly one of 'dataset', 'file' or 'frame'"),
    ({"llm": {"backend": "replay", "model": "m", "decoding": {"temp": 1}}}, "llm.decoding"),
])
def test_config_errors_name_the_key(tmp_path, change, message):
    with pytest.raises(ConfigError) as error:
        tiny(tmp_path, **change)
    assert message in str(error.value)


def test_yaml_errors_name_the_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_experiment(tmp_path / "missing.yaml")
    (tmp_path / "bad.yaml").write_text("name: [unclosed\n")
    with pytest.raises(ConfigError, match="bad.yaml: not valid YAML"):
        load_experiment(tmp_path / "bad.yaml")
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="list.yaml: expected a mapping"):
        load_experiment(tmp_path / "list.yaml")
    (tmp_path / "file.yaml").write_text(yaml.safe_dump({**TINY, "data": {"file": "nowhere.csv", "text": "t"}, "codebook": "textclass-toxicity"}))
    with pytest.raises(ConfigError, match="data.file .*nowhere.csv does not exist"):
        load_experiment_data(load_experiment(tmp_path / "file.yaml"))
    with pytest.raises(ConfigError, match="the LLM's labels column 'llm_nope' \\(llm.column; --column on the command line\\) is not a column"):
        run_experiment(tiny(tmp_path, llm={**TINY["llm"], "column": "llm_nope"}), progress=False)


def test_unwritable_output_is_refused_before_work(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(ConfigError, match="cannot create the output folder"):
        run_experiment(tiny(tmp_path, output=str(blocker / "run")), progress=False)


def test_few_shot_examples_never_in_any_fold(tmp_path):
    config = tiny(tmp_path, llm={**TINY["llm"], "few_shot": 2})
    corpus, _ = load_experiment_data(config)
    reserved, folds = experiment_folds(config, corpus)
    assert len(reserved) == 4
    for _, train, test in folds:
        assert not set(reserved) & (set(train) | set(test))


def test_cells_cached_and_only_affected_cells_rerun(tmp_path):
    first = run_experiment(tiny(tmp_path), progress=False)
    cells = set((tmp_path / "run" / "cells").glob("*.json"))
    assert len(cells) == 10                                     # 5 conditions (3 + the 2 baselines) x 2 folds
    again = run_experiment(tiny(tmp_path), progress=False)
    assert set((tmp_path / "run" / "cells").glob("*.json")) == cells
    pd.testing.assert_frame_equal(first.results, again.results)
    # another teacher: the LLM conditions (student, baselines, LLM itself) rerun, the human-label student stays cached
    other = run_experiment(tiny(tmp_path, llm={**TINY["llm"], "model": "gpt-3.5-turbo-0125", "column": "llm_gpt-3.5-turbo-0125"}), progress=False)
    new = set((tmp_path / "run" / "cells").glob("*.json")) - cells
    assert len(new) == 8
    human = lambda result: result.results.set_index("condition").at["human", "macro_f1"]
    assert human(other) == human(first)
    # a new seed adds only its own cells (llm_direct does not depend on the seed)
    run_experiment(tiny(tmp_path, seeds=[0, 1]), progress=False)
    assert len(set((tmp_path / "run" / "cells").glob("*.json"))) == 18 + 8


KILL_WORKER = """
import sys, warnings
warnings.filterwarnings("ignore")
from llm_distill.experiment import run_experiment
from llm_distill.design import ExperimentConfig
config = ExperimentConfig(name="tiny", data={"dataset": "textclass-toxicity", "limit": 60},
                          llm={"backend": "replay", "model": "gpt-4-0613", "column": "llm_gpt-4-0613"},
                          student={"training": {"epochs": 1, "max_length": 32}}, folds=2, bootstrap=50, output=sys.argv[1])
run_experiment(config, progress=False).results.to_csv(sys.argv[2], index=False)
"""


def test_sigkill_between_cells_then_identical_results(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(KILL_WORKER)
    subprocess.run([sys.executable, script, tmp_path / "reference", tmp_path / "reference.csv"], check=True)
    process = subprocess.Popen([sys.executable, script, tmp_path / "killed", tmp_path / "never.csv"])
    cells = tmp_path / "killed" / "cells"
    for _ in range(900):
        if (cells.exists() and any(cells.glob("*.json"))) or process.poll() is not None:
            break
        time.sleep(0.1)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (tmp_path / "never.csv").exists()
    assert not list(cells.glob("*.partial"))          # cells are written atomically
    subprocess.run([sys.executable, script, tmp_path / "killed", tmp_path / "resumed.csv"], check=True)
    reference, resumed = pd.read_csv(tmp_path / "reference.csv"), pd.read_csv(tmp_path / "resumed.csv")
    pd.testing.assert_frame_equal(reference.drop(columns="seconds"), resumed.drop(columns="seconds"))


def test_cli_run_writes_report_matching_results(tmp_path, capsys):
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump({**TINY, "output": str(tmp_path / "cli")}))
    assert main(["run", str(tmp_path / "tiny.yaml")]) == 0
    report = (tmp_path / "cli" / "report.md").read_text()
    results = pd.read_csv(tmp_path / "cli" / "results.csv")
    for value in results["macro_f1"]:
        assert f"{value:.3f}" in report
    assert "Methods appendix" in report and "data hash" in report
    assert main(["plan", str(tmp_path / "tiny.yaml")]) == 0
    assert "60 cached; 0 calls to make" in capsys.readouterr().out


def test_python_objects_and_paths_beside_the_yaml(tmp_path):
    "A Codebook object works as the codebook; a codebook file named in a YAML resolves against the YAML's folder; annotate takes a DataFrame."
    from llm_distill.annotate import annotate
    from llm_distill.data import load_codebook, save_codebook
    from llm_distill.design import load_experiment
    from llm_distill.inputs import load_experiment_data
    from llm_distill.llm import ReplayBackend
    codebook = load_codebook("textclass-toxicity")
    config = ExperimentConfig("objects", {"dataset": "textclass-toxicity", "limit": 40}, {"backend": "replay", "model": "m", "column": "llm_gpt-4-0613"},
                              codebook=codebook, output=str(tmp_path / "run"))
    corpus, used = load_experiment_data(config)
    assert used is codebook and len(corpus) == 40 and yaml.safe_dump(config.to_dict())
    (tmp_path / "project").mkdir()
    save_codebook(codebook, tmp_path / "project" / "mine.yaml")
    (tmp_path / "project" / "exp.yaml").write_text("name: x\ndata: {dataset: textclass-toxicity}\ncodebook: mine.yaml\n"
                                                    "llm: {backend: replay, model: m, column: llm_gpt-4-0613}\n")
    assert load_experiment(tmp_path / "project" / "exp.yaml").codebook == str(tmp_path / "project" / "mine.yaml")
    frame = pd.DataFrame({"id": [7, 8], "text": ["you are awful", "have a nice day"]})
    table = annotate(frame, codebook, ReplayBackend({7: "toxic", 8: "non-toxic"}, "m"), cache=tmp_path / "c.sqlite", progress=False)
    assert table["label"].tolist() == ["toxic", "non-toxic"] and table["id"].tolist() == [7, 8]


def test_plan_prices_exactly_what_run_asks(tmp_path, monkeypatch):
    "A few-shot JSON experiment: the cache keys `plan` prices are the keys `run` fills."
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).parent))
    from openai_server import LoopbackServer
    from llm_distill.annotate import prepare_requests
    from llm_distill.experiment import run_experiment
    from llm_distill.inputs import experiment_folds, labelling_job, load_experiment_data
    from llm_distill.llm import Cache
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with LoopbackServer() as server:
        config = ExperimentConfig("plan-run", {"dataset": "textclass-toxicity", "limit": 40},
                                  {"backend": "openai", "model": "gpt-4o-mini", "base_url": server.base_url, "few_shot": 1,
                                   "answer_format": "json", "decoding": {"response_format": {"type": "json_object"}}},
                                  conditions=["llm_direct"], folds=2, bootstrap=10, output=str(tmp_path / "run"))
        corpus, codebook = load_experiment_data(config)
        reserved, folds = experiment_folds(config, corpus)
        setup = labelling_job(config, corpus, codebook, reserved, folds, api_key="not-needed-to-plan")
        planned = prepare_requests(setup["pool"], codebook, setup["backend"], **setup["requests"])
        assert setup["requests"]["examples"] and "JSON" in planned.requests[0].messages[0]["content"]
        run_experiment(config, progress=False)
    cache = Cache(tmp_path / "run" / "llm_cache.sqlite")
    stored = {row[0] for row in cache.db.execute("SELECT key FROM responses")}
    assert {k for keys in planned.keys for k in keys} == stored


def _uncoded_file(tmp_path, n=120, coded=60):
    "A file of texts of which only the first `coded` have a human label, and an LLM column for all."
    words = {"toxic": "awful idiot stupid", "non-toxic": "kind thanks helpful"}
    labels = ["toxic" if i % 2 else "non-toxic" for i in range(n)]
    frame = pd.DataFrame({"id": [f"p{i:03d}" for i in range(n)], "text": [f"{words[l]} post {i}" for i, l in enumerate(labels)],
                          "label": [l if i < coded else None for i, l in enumerate(labels)], "llm": labels})
    frame.to_csv(tmp_path / "posts.csv", index=False)
    return tmp_path / "posts.csv"


def test_texts_no_human_coded_train_the_llm_students_only(tmp_path):
    path = _uncoded_file(tmp_path)
    config = ExperimentConfig("uncoded", {"file": str(path), "id": "id", "label": "label", "unlabelled": True}, {"backend": "replay", "model": "m",
                              "column": "llm"}, codebook="textclass-toxicity", folds=3, train_sizes=[None], bootstrap=20, student={"recipe": "tfidf"},
                              human_train_size=25, output=str(tmp_path / "run"))
    result = run_experiment(config, progress=False)
    rows = result.results.set_index("condition")
    assert rows.at["llm", "n_train"] == 40 + 60 and rows.at["baseline_tfidf", "n_train"] == 100   # the fold's 40 and all 60 uncoded texts
    assert rows.at["human", "n_train"] == 25                                                     # the human budget
    assert (rows["n_test"] == 60).all()                                                           # always the held-out human labels
    assert result.methods["split"]["unlabelled_texts"] == 60
    from llm_distill.report import methods_paragraph
    assert "also gave a usable label to 60 of 60 texts no human had coded" in methods_paragraph(result)
    from llm_distill.students import load_student
    assert (tmp_path / "run" / "student" / "llm_distill.json").exists()   # the kept student, trained on every LLM label


def test_the_methods_paragraph_counts_only_the_uncoded_texts_the_llm_gave_a_label(tmp_path):
    "20 of the 60 uncoded texts have no LLM label: the paragraph says 40 of 60, and the LLM student trains on those 40 beside its fold."
    path = _uncoded_file(tmp_path)
    frame = pd.read_csv(path, dtype=str)
    frame.loc[100:, "llm"] = None
    frame.to_csv(path, index=False)
    config = ExperimentConfig("uncoded", {"file": str(path), "id": "id", "label": "label", "unlabelled": True}, {"backend": "replay", "model": "m",
                              "column": "llm"}, codebook="textclass-toxicity", folds=3, train_sizes=[9, 10, None], bootstrap=20, student={"recipe": "tfidf"},
                              conditions=["llm"], output=str(tmp_path / "run"))
    result = run_experiment(config, progress=False)
    assert result.results["size"].fillna(-1).drop_duplicates().tolist() == [9, 10, -1]   # in number order ("10" sorted before "9"), all texts last
    assert result.results[result.results["size"].isna()].set_index("condition").at["llm", "n_train"] == 40 + 40
    from llm_distill.report import methods_paragraph
    assert "also gave a usable label to 40 of 60 texts no human had coded" in methods_paragraph(result)


def test_the_human_budget_caps_the_human_labels_of_human_plus_llm_too():
    "human_train_size 30 of 147 training texts: human+llm took half of them (73) as human labels; the comparison is at equal human budget only with the cap."
    from llm_distill.experiment import _train_rows
    ids = [f"t{i}" for i in range(147)]
    human, llm = {i: "H" for i in ids}, {i: "L" for i in ids}
    _, labels, _ = _train_rows("human+llm", ids, llm, None, human, None, 0, human_budget=30)
    assert (labels.count("H"), labels.count("L")) == (30, 117)
    _, labels, _ = _train_rows("human+llm", ids, llm, None, human, None, 0)
    assert labels.count("H") == 73   # no budget: half of each
    assert _train_rows("human", ids, llm, None, human, None, 0, human_budget=30)[1] == ["H"] * 30


def test_withheld_human_labels_and_an_unlabelled_file(tmp_path):
    from llm_distill.inputs import load_unlabelled
    path = _uncoded_file(tmp_path, n=60, coded=60)
    base = dict(name="w", llm={"backend": "replay", "model": "m", "column": "llm"}, codebook="textclass-toxicity")
    config = ExperimentConfig(data={"file": str(path), "id": "id", "label": "label", "unlabelled": 30}, **base)
    coded, uncoded = load_unlabelled(config, *load_experiment_data(config))
    assert (len(coded), len(uncoded)) == (30, 30) and "human_label" not in uncoded.data
    pd.DataFrame({"id": ["x1", "x2"], "text": ["more text", "and more"], "llm": ["toxic", "non-toxic"]}).to_csv(tmp_path / "more.csv", index=False)
    config = ExperimentConfig(data={"file": str(path), "id": "id", "label": "label", "unlabelled": {"file": str(tmp_path / "more.csv"), "id": "id"}}, **base)
    coded, uncoded = load_unlabelled(config, *load_experiment_data(config))
    assert uncoded.ids == ["x1", "x2"] and len(coded) == 60
    with pytest.raises(ConfigError, match="needs an llm section"):
        ExperimentConfig("h", {"file": str(path), "label": "label", "unlabelled": True}, codebook="textclass-toxicity")
    pd.DataFrame({"id": ["x1"], "text": ["more text"]}).to_csv(tmp_path / "bare.csv", index=False)   # no LLM labels to replay: refused, not "empty"
    config = ExperimentConfig(data={"file": str(path), "id": "id", "label": "label", "unlabelled": {"file": str(tmp_path / "bare.csv"), "id": "id"}}, **base)
    with pytest.raises(DataError, match=r"bare.csv: the LLM's labels column 'llm' \(llm.column\) is not a column of this data.unlabelled file"):
        load_unlabelled(config, *load_experiment_data(config))
    pd.DataFrame({"id": ["x1", "x1"], "text": ["more text", "again"], "llm": ["toxic", "toxic"]}).to_csv(tmp_path / "twice.csv", index=False)
    config = ExperimentConfig(data={"file": str(path), "id": "id", "label": "label", "unlabelled": {"file": str(tmp_path / "twice.csv")}}, **base)
    with pytest.raises(DataError, match=r"twice.csv: id column 'id' has duplicate ids"):   # its id column read as data.file's is, with no id: given
        load_unlabelled(config, *load_experiment_data(config))
    config = ExperimentConfig(data={"file": str(path), "id": "id", "label": "label", "duplicate_ids": "suffix", "unlabelled": {"file": str(tmp_path / "twice.csv")}}, **base)
    assert load_unlabelled(config, *load_experiment_data(config))[1].ids == ["x1", "x1#2"]   # data.duplicate_ids applies to it too
    pd.DataFrame({"id": ["p001"], "text": ["clash"], "llm": ["toxic"]}).to_csv(tmp_path / "clash.csv", index=False)
    config = ExperimentConfig(data={"file": str(path), "id": "id", "label": "label", "unlabelled": {"file": str(tmp_path / "clash.csv"), "id": "id"}}, **base)
    with pytest.raises(Exception, match="also human-labelled"):
        load_unlabelled(config, *load_experiment_data(config))


def test_a_student_that_is_its_baseline_is_said_to_be(tmp_path):
    "When the recipe choice picks the embeddings baseline itself, the report says so instead of a 0.000 [0.000, 0.000] paired test."
    from llm_distill.report import write_report
    result = run_experiment(tiny(tmp_path, student={"recipe": "embed"}, train_sizes=[None]), progress=False)
    report = write_report(result).read_text()
    paired = report[report.index("## Paired comparisons"):].split("\n## ")[0]
    assert "gave the same label on every test text" in paired and "baseline: embeddings + LR, LLM labels | " not in paired


def test_the_kept_student_knows_the_texts_it_was_trained_on(tmp_path):
    "Predictions of a run's kept student mark the texts it learned from, so `validate` warns and `estimate` refuses them."
    from llm_distill.data import load_dataset
    from llm_distill.predict import predict_file
    from llm_distill.students import load_student
    run_experiment(tiny(tmp_path, student={"recipe": "tfidf"}, train_sizes=[None]), progress=False)
    load_dataset("textclass-toxicity").data[["id", "text"]].to_csv(tmp_path / "all.csv", index=False)
    predicted = pd.read_csv(predict_file(load_student(tmp_path / "run" / "student"), tmp_path / "all.csv", tmp_path / "p.csv", id_column="id",
                                         progress=False))
    assert predicted["trained_on"].sum() == 60 and len(predicted) == 750


def test_the_kept_student_is_kept_anew_when_the_seed_or_scores_change(tmp_path):
    "helper-26: rerunning with seeds: [1] into the same folder left the seed-0 student and its card's intervals in output/student, without a word."
    import json
    first = run_experiment(tiny(tmp_path, student={"recipe": "tfidf"}, train_sizes=[None]), progress=False)
    card = (first.output_dir / "student" / "README.md").read_text()
    meta = json.loads((first.output_dir / "student" / "llm_distill.json").read_text())
    again = run_experiment(tiny(tmp_path, student={"recipe": "tfidf"}, train_sizes=[None]), progress=False)   # nothing changed: kept as it is
    assert json.loads((again.output_dir / "student" / "llm_distill.json").read_text())["card_key"] == meta["card_key"]
    second = run_experiment(tiny(tmp_path, student={"recipe": "tfidf"}, train_sizes=[None], seeds=[1]), progress=False)
    kept = json.loads((second.output_dir / "student" / "llm_distill.json").read_text())
    assert (kept["run_key"], kept["card_key"]) != (meta["run_key"], meta["card_key"])
    row = second.results.query("condition == 'llm' and seed == 1 and size != size").iloc[0]
    scores = f"| {row['macro_f1']:.3f} | [{row['macro_f1_low']:.3f}, {row['macro_f1_high']:.3f}] |"
    assert scores in (second.output_dir / "student" / "README.md").read_text(), scores   # the card gives this run's scores
    assert card != (second.output_dir / "student" / "README.md").read_text()


def test_a_run_written_to_a_named_folder_may_have_any_name(tmp_path):
    "`run exp.yaml --output folder` refused a name with spaces although the name names no folder then; without an output it still must be a folder name."
    from llm_distill.cli import main
    config = tmp_path / "exp.yaml"
    config.write_text("name: Incivility, first try (June)\ndata: {dataset: theocharis-incivility, limit: 60}\nseeds: [0]\nbootstrap: 50\n"
                      "student: {recipe: tfidf}\ntrain_sizes: [null]\n")
    with pytest.raises(ConfigError, match=r"must be a plain folder name .*or set output \(--output\)"): load_experiment(config)
    assert load_experiment(config, output=tmp_path / "run").output == str(tmp_path / "run")
    assert main(["plan", str(config), "--output", str(tmp_path / "run")]) == 0
    assert main(["run", str(config), "--output", str(tmp_path / "run"), "--quiet"]) == 0
    assert "# Incivility, first try \\(June\\): a student" in (tmp_path / "run" / "report.md").read_text()   # as inert Markdown writes it
    with pytest.raises(ConfigError, match="must be one line of text"): tiny(tmp_path, name="two\nlines")


def _estimates_experiment(tmp_path, estimates, more=""):
    "An experiment file beside posts.csv (columns id, text, human, gpt4 and a group), replaying GPT-4's labels with a TF-IDF student."
    (tmp_path / "exp.yaml").write_text("name: groups\ndata: {file: posts.csv, text: text, id: id, label: human}\ncodebook: textclass-toxicity\n"
                                       "llm: {backend: replay, model: gpt-4-0613, column: gpt4}\nstudent: {recipe: tfidf}\ntrain_sizes: [null]\n"
                                       f"bootstrap: 50\n{more}estimates: {estimates}\n")
    return tmp_path / "exp.yaml"


def test_an_experiments_estimates_keep_groups_as_written(tmp_path):
    "estimates.group read the file with types inferred: groups '01' and '1' became one group 1 of every text, silently."
    from llm_distill.data import load_dataset
    data = load_dataset("textclass-toxicity").data.iloc[:240]
    frame = pd.DataFrame({"id": data["id"], "text": data["text"], "human": data["human_label"], "gpt4": data["llm_gpt-4-0613"],
                          "grp": ["01", "01", "1"] * 80})
    frame.to_csv(tmp_path / "posts.csv", index=False)
    _estimates_experiment(tmp_path, "{group: grp, human_sample: 180}")
    assert main(["run", str(tmp_path / "exp.yaml"), "--output", str(tmp_path / "run"), "--quiet"]) == 0
    estimates = pd.read_csv(tmp_path / "run" / "estimates.csv", dtype={"group": str})
    assert estimates.groupby("group")["n_texts"].first().to_dict() == {"01": 160, "1": 80}


def test_the_report_of_a_run_without_human_students_does_not_describe_one(tmp_path):
    "A run of [llm, llm_direct] said 'we trained ... the same student on the human labels, and scored both', and its title said 'vs human labels'."
    (tmp_path / "exp.yaml").write_text("name: llm only\ndata: {dataset: textclass-toxicity, limit: 120}\nllm: {backend: replay, model: gpt-4-0613, "
                                       "column: llm_gpt-4-0613}\nstudent: {recipe: tfidf}\ntrain_sizes: [null]\nbootstrap: 50\nconditions: [llm, llm_direct]\n")
    assert main(["run", str(tmp_path / "exp.yaml"), "--output", str(tmp_path / "run"), "--quiet"]) == 0
    report = (tmp_path / "run" / "report.md").read_text()
    assert "human labels, and scored" not in report and "vs human labels" not in report.splitlines()[0]
    assert "we trained a student classifier on the LLM's labels, and scored it, and the LLM's own labels, on the same" in report


def test_an_experiments_estimates_refuse_a_small_group_before_the_comparison_and_take_min_human(tmp_path, capsys):
    "A group of 26 human-coded texts failed after the whole comparison had run, advising min_human (--min-human), which the estimates section refused."
    from llm_distill.data import load_dataset
    data = load_dataset("textclass-toxicity").data.iloc[:240]
    pd.DataFrame({"id": data["id"], "text": data["text"], "human": data["human_label"], "gpt4": data["llm_gpt-4-0613"],
                  "grp": ["a", "a", "b"] * 80}).to_csv(tmp_path / "posts.csv", index=False)
    _estimates_experiment(tmp_path, "{group: grp, human_sample: 60}")
    assert main(["run", str(tmp_path / "exp.yaml"), "--output", str(tmp_path / "run"), "--quiet"]) == 2
    said = capsys.readouterr().err
    assert "at least 30 human-coded texts per group (estimates.min_human)" in said and "'b' has " in said and "--min-human" not in said
    assert not (tmp_path / "run" / "results.csv").exists()   # refused before anything was trained
    _estimates_experiment(tmp_path, "{group: grp, human_sample: 60, min_human: 10}")
    assert main(["run", str(tmp_path / "exp.yaml"), "--output", str(tmp_path / "run"), "--quiet"]) == 0
    estimates = pd.read_csv(tmp_path / "run" / "estimates.csv")
    assert estimates.groupby("group")["n_human"].first().sum() == 60 and estimates.groupby("group")["n_human"].first().min() < 30


def test_an_experiments_estimates_refuse_a_missing_group_before_labelling_and_read_labels_through_the_codebook(tmp_path, capsys):
    "A blank group failed after every LLM call and cell, naming rows shifted by dropped texts; estimates.labels refused a code ('1') and 'Toxic'."
    from llm_distill.data import load_dataset
    data = load_dataset("textclass-toxicity").data.iloc[:240]
    frame = pd.DataFrame({"id": [f"p{i:03d}" for i in range(240)], "text": data["text"].tolist(), "human": data["human_label"].tolist(),
                          "gpt4": data["llm_gpt-4-0613"].tolist(), "grp": ["a", "b"] * 120})
    frame.loc[[3, 5], "text"], frame.loc[[225, 230], "grp"] = "", None
    frame.to_csv(tmp_path / "posts.csv", index=False)
    _estimates_experiment(tmp_path, "{group: grp, human_sample: 120, min_human: 10}", more="conditions: [llm_direct]\n")
    assert main(["run", str(tmp_path / "exp.yaml"), "--output", str(tmp_path / "run"), "--quiet"]) == 2
    assert "estimates.group column 'grp' has no value for 2 text(s) (ids ['p225', 'p230'])" in capsys.readouterr().err
    assert not (tmp_path / "run" / "llm_cache.sqlite").exists() and not any((tmp_path / "run").glob("cells/*"))   # refused before any call or cell
    frame.loc[[225, 230], "grp"] = "a"
    frame.to_csv(tmp_path / "posts.csv", index=False)
    _estimates_experiment(tmp_path, "{human_sample: 120, labels: [Toxic, '1']}", more="conditions: [llm_direct]\n")   # a name in another case and a code: the codebook's toxic and its code 1
    assert main(["run", str(tmp_path / "exp.yaml"), "--output", str(tmp_path / "run2"), "--quiet"]) == 0, capsys.readouterr().err
    estimates = pd.read_csv(tmp_path / "run2" / "estimates.csv")
    assert estimates["label"].tolist() == ["toxic"] * estimates["method"].nunique() == ["toxic"] * 3   # both name toxic: estimated once


def test_plan_prices_the_estimates_labelling_and_the_report_counts_its_calls(tmp_path, capsys):
    "With an estimates section, plan priced 184 of the 300 calls run made (the texts nobody coded were missing) and the report said 'calls made: 184'."
    from llm_distill.data import load_dataset
    from llm_distill.llm import Cache
    data = load_dataset("textclass-toxicity").data.iloc[:240]
    pd.DataFrame({"id": data["id"], "text": data["text"], "human": data["human_label"].where(np.arange(240) % 3 != 0),   # 80 texts nobody coded
                  "gpt4": data["llm_gpt-4-0613"]}).to_csv(tmp_path / "posts.csv", index=False)
    (tmp_path / "exp.yaml").write_text("name: priced\ndata: {file: posts.csv, text: text, id: id, label: human}\ncodebook: textclass-toxicity\n"
                                       "llm: {backend: replay, model: gpt-4-0613, column: gpt4}\nstudent: {recipe: tfidf}\ntrain_sizes: [null]\n"
                                       "bootstrap: 50\nestimates: {level: 0.9}\n")
    assert main(["plan", str(tmp_path / "exp.yaml"), "--output", str(tmp_path / "run")]) == 0
    said = capsys.readouterr().out
    assert "160 texts, 160 samples, 0 cached; 160 calls to make" in said, said
    assert "estimates (every text of the data, 160 of them asked above): replay:gpt4 gpt-4-0613: 80 texts, 80 samples, 0 cached; 80 calls" in said, said
    assert main(["run", str(tmp_path / "exp.yaml"), "--output", str(tmp_path / "run"), "--quiet"]) == 0
    assert len(Cache(tmp_path / "run" / "llm_cache.sqlite").ledger()) == 240   # what plan said: 160 + 80
    report = (tmp_path / "run" / "report.md").read_text()
    assert "calls made in this run: 160" in report and "estimates, every text of the data labelled for them: 240 texts; tokens:" in report
    assert report.count("calls made in this run: 80") == 1
