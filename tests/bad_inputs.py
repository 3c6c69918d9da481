"""A battery of bad inputs across every module, each with the error class and the words its message must contain.

Shared by tests/test_bad_inputs.py (which asserts every case) and bench/faults.py (which counts them).
Each case builds its own input in a temporary folder and either must raise one of the package's
documented exceptions (subclasses of `LLMDistillError`), with a message that names the row, field,
key or file, or, where the input is valid but was once mishandled, must give the right result:
its expected outcome is `RIGHT`, and the case returns `RIGHT` after asserting what it got.
"""
import json
from pathlib import Path

import numpy as np
import pandas as pd

from llm_distill.core import LLMDistillError

RIGHT = "right"   # the expected outcome of a valid input that must be handled correctly (no error)


def _csv(folder, name, text, encoding="utf-8"):
    path = Path(folder) / name
    path.write_bytes(text.encode(encoding) if isinstance(text, str) else text)
    return path


def cases(folder):
    """(name, function, expected words) for every bad input."""
    from llm_distill.annotate import annotate, prepare_requests
    from llm_distill.data import codebook_from_dict, load_codebook, load_dataset, make_corpus, make_split, read_table
    from llm_distill.design import ExperimentConfig, load_experiment
    from llm_distill.finetune import Student, TrainingConfig, fit
    from llm_distill.predict import predict_file
    from llm_distill.llm import Cache, Decoding, ReplayBackend
    from llm_distill.prompts import PromptTemplate, build_messages
    from llm_distill.validate import validate

    folder = Path(folder)
    codebook = load_codebook("textclass-toxicity")
    frame = pd.DataFrame({"id": [1, 2, 3, 4], "text": ["a b", "c d", "e f", "g h"], "label": ["toxic", "non-toxic", "toxic", "non-toxic"]})
    good_yaml = "name: x\ndata: {dataset: textclass-toxicity}\nllm: {backend: replay, model: m, column: llm_gpt-4-0613}\n"
    corpus = make_corpus(frame, id="id", label="label", codebook=codebook, name="four.csv")
    return [
        ("empty file", lambda: read_table(_csv(folder, "empty.csv", "")), ["empty.csv"]),
        ("missing file", lambda: read_table(folder / "nowhere.csv"), ["nowhere.csv"]),
        ("non-UTF-8 bytes", lambda: make_corpus(read_table(_csv(folder, "latin.csv", "text,label\ncaf\xe9,toxic\n", "latin-1")),
                                                label="label", codebook=codebook), ["latin.csv"]),
        ("wrong delimiter", lambda: make_corpus(read_table(_csv(folder, "semi.csv", "text;label\nhello;toxic\n")), label="label",
                                                codebook=codebook), ["text"]),
        ("missing text column", lambda: make_corpus(frame.rename(columns={"text": "body"}), label="label", codebook=codebook), ["text"]),
        ("wrong label column", lambda: make_corpus(frame, label="labels", codebook=codebook), ["labels"]),
        ("label outside the codebook", lambda: make_corpus(frame.assign(label=["toxic", "rude", "toxic", "toxic"]), label="label",
                                                           codebook=codebook), ["rude"]),
        ("duplicate ids", lambda: make_corpus(frame.assign(id=[1, 1, 2, 3]), id="id", label="label", codebook=codebook), ["1"]),
        ("all texts empty", lambda: make_corpus(frame.assign(text=["", " ", None, np.nan]), label="label", codebook=codebook), ["text"]),
        ("codebook with duplicate labels", lambda: codebook_from_dict({"task": "t", "labels": [{"name": "a", "definition": "x"},
                                                                                             {"name": "a", "definition": "y"}]}), ["a"]),
        ("codebook with unknown key", lambda: codebook_from_dict({"task": "t", "lables": []}), ["lables"]),
        ("codebook with one label", lambda: codebook_from_dict({"task": "t", "labels": [{"name": "a", "definition": "x"}]}), ["label"]),
        ("unknown codebook name", lambda: load_codebook("no-such-codebook"), ["no-such-codebook"]),
        ("unknown dataset", lambda: load_dataset("no-such-dataset"), ["no-such-dataset"]),
        ("negative split seed", lambda: make_split(corpus, seed=-1), ["seed"]),
        ("test set too large", lambda: make_split(corpus, test=10), ["4"]),
        ("template with a typo", lambda: build_messages(codebook, "x", template=PromptTemplate(user="{{ txt }}")), ["txt"]),
        ("prompt needs a missing column", lambda: prepare_requests(corpus, load_codebook("tweeteval-stance"), ReplayBackend({}, "m")), ["target"]),
        ("negative temperature", lambda: Decoding(temperature=-0.5), ["temperature"]),
        ("replay without answers for some ids", lambda: annotate(corpus, backend=ReplayBackend({1: "toxic"}, "m"),
                                                                 cache=folder / "c1.sqlite", progress=False), ["text id"]),
        ("damaged cache file", lambda: Cache(_csv(folder, "bad.sqlite", b"\x00garbage" * 500)), ["bad.sqlite"]),
        ("cache folder is a file", lambda: Cache(_csv(folder, "afile", "x") / "c.sqlite"), ["afile"]),
        ("negative training seed", lambda: TrainingConfig(seed=-3), ["seed"]),
        ("unknown training key", lambda: TrainingConfig.from_dict({"lr": 1e-4}), ["lr"]),
        ("empty training text", lambda: fit(["ok", ""], ["toxic", "non-toxic"], codebook), ["row 1"]),
        ("training label outside the set", lambda: fit(["a", "b", "c"], ["toxic", "rude", "toxic"], codebook), ["rude", "row 1"]),
        ("training labels of one class", lambda: fit(["a", "b", "c"], ["toxic"] * 3, codebook), ["one class"]),
        ("zero training rows after filtering", lambda: fit(["a", "b"], ["toxic", "non-toxic"], codebook, confidence=[0.1, 0.2],
                                                            config=TrainingConfig(min_confidence=0.5)), ["confidence"]),
        ("soft labels not a distribution", lambda: fit(["a", "b"], soft_labels=np.array([[0.9, 0.9], [0.5, 0.5]]), label_names=codebook),
         ["row 0"]),
        ("loading a folder that is not a student", lambda: Student.load(folder), ["llm_distill.json"]),
        ("a student given as a file", lambda: Student.load(_csv(folder, "posts.csv", "id,text\n1,a\n")), ["posts.csv is not a saved student", "a file: give the folder"]),
        ("predicting a missing file", lambda: predict_file(None, folder / "none.csv", folder / "out.csv"), ["none.csv"]),
        ("validate: lengths differ", lambda: validate(["toxic", "toxic"], ["toxic"], codebook), ["2", "1"]),
        ("validate: test set of one class (a documented, reported outcome)", lambda: _one_class(validate, codebook), ["one class"]),
        ("experiment file missing", lambda: load_experiment(folder / "missing.yaml"), ["missing.yaml"]),
        ("experiment with unknown key", lambda: load_experiment(_csv(folder, "exp.yaml", good_yaml + "seed: 1\n")), ["exp.yaml", "seed"]),
        ("experiment with negative seed", lambda: load_experiment(_csv(folder, "neg.yaml", good_yaml + "seeds: [-2]\n")), ["neg.yaml", "seeds"]),
        ("experiment with an API key", lambda: ExperimentConfig("x", {"dataset": "olid"}, {"backend": "openai", "model": "m", "api_key": "k"}),
         ["API keys"]),
        ("template reaching into Python internals", lambda: build_messages(codebook, "x", template=PromptTemplate(
            user="{{ codebook.__class__.__init__.__globals__ }}")), ["unsafe"]),
        ("run name that climbs out of runs/", lambda: ExperimentConfig("../outside", {"dataset": "textclass-toxicity"},
                                                                      {"backend": "replay", "model": "m"}), ["name", "../outside"]),
        ("codebook name that climbs out of the package", lambda: load_codebook("../codebooks/../../x"), ["no shipped codebook"]),
        ("codebook path that is a folder", lambda: load_codebook("../.."), ["no codebook file", "../.."]),
        ("a student folder that does not exist", lambda: _missing_student(folder),
         ["is not a saved student", "no such folder"]),
        ("saved student whose label order was edited", lambda: _edited_student(folder, fit, Student, TrainingConfig), ["llm_distill.json", "restore"]),
        ("replayed labels mostly unusable", lambda: _mostly_unparsed(folder, ExperimentConfig), ["usable label", "llm.column"]),
        # label names and answers: one normal form, ambiguity refused
        ("label names that are other labels' codes", lambda: codebook_from_dict({"task": "t", "labels": [
            {"name": "1", "code": 0, "definition": "x"}, {"name": "2", "code": 1, "definition": "y"}, {"name": "3", "code": 2, "definition": "z"}]}),
         ["labels[0].name", "is also the code of labels[1]"]),
        ("a label name that is another's code but for its case", lambda: codebook_from_dict({"task": "t", "require_definitions": False, "labels": [
            {"name": "neutral", "code": "positive"}, {"name": "Positive", "code": "p"}, {"name": "negative", "code": "n"}]}),
         ["labels[1].name", "is also the code of labels[0]"]),
        ("label names equal up to Unicode form", lambda: codebook_from_dict({"task": "t", "labels": [
            {"name": "caf\u00e9", "definition": "x"}, {"name": "cafe\u0301", "definition": "y"}]}), ["labels[1].name", "duplicate"]),
        ("label-set name holding the separator", lambda: codebook_from_dict({"task": "t", "multi_label": True, "labels": [
            {"name": "crime|safety", "definition": "x"}, {"name": "economy", "definition": "y"}]}), ["labels[0].name", "'|'"]),
        ("answer exactly a label defined with a trailing space", lambda: _parses("toxic ", ["toxic ", "non  toxic"], "toxic "), RIGHT),
        ("answer with a double space inside", lambda: _parses("non  toxic", ["toxic ", "non  toxic"], "non  toxic"), RIGHT),
        ("answer 'Yes.' for the label 'Yes'", lambda: _parses("Yes.", ["Yes", "No"], "Yes"), RIGHT),
        ("answer that is a label looking like a refusal", lambda: _parses("I cannot tell", ["agree", "disagree", "I cannot tell"], "I cannot tell"), RIGHT),
        ("answer in NFD for a label in NFC", lambda: _parses("cafe\u0301", ["caf\u00e9", "tea"], "caf\u00e9"), RIGHT),
        ("data file label in NFD for a label in NFC", lambda: _nfd_data_label(make_corpus), RIGHT),
        ("replayed integer codes without codes: true", lambda: _replayed_codes(corpus, codebook, annotate, ReplayBackend, folder), RIGHT),
        ("replayed cell holding several runs", lambda: _replayed_runs(corpus, codebook, annotate, ReplayBackend, folder), RIGHT),
        ("predicting an empty text", lambda: _tfidf_student(codebook).predict(["a fine text", "  "]), ["row 1", "empty"]),
        ("predicting a missing text", lambda: _tfidf_student(codebook).predict(["a fine text", None]), ["row 1", "missing"]),
        # settings: checked by type and range, lax spellings converted, errors naming the key
        ("experiment folds given as text", lambda: _loads_as(folder, 'folds: "3"\n', "folds", 3), RIGHT),
        ("experiment student folds given as text", lambda: _loads_as(folder, 'student: {folds: "4"}\n', "student", {"folds": 4}), RIGHT),
        ("experiment seeds given as one number", lambda: load_experiment(_csv(folder, "seeds.yaml", good_yaml + "seeds: 5\n")),
         ["seeds.yaml", "seeds", "valid list", "5"]),
        ("experiment bootstrap negative", lambda: load_experiment(_csv(folder, "boot.yaml", good_yaml + "bootstrap: -5\n")),
         ["boot.yaml", "bootstrap", "greater than or equal to 10"]),
        ("experiment data limit of zero", lambda: load_experiment(_csv(folder, "limit.yaml", good_yaml.replace(
            "{dataset: textclass-toxicity}", "{dataset: textclass-toxicity, limit: 0}"))), ["limit.yaml", "data.limit", "greater than 0"]),
        ("experiment training epochs as words", lambda: load_experiment(_csv(folder, "epochs.yaml", good_yaml + "student: {training: {epochs: three}}\n")),
         ["epochs.yaml", "student.training", "epochs"]),
        ("experiment samples of zero", lambda: load_experiment(_csv(folder, "samples.yaml", good_yaml.replace("column: llm_gpt-4-0613}",
            "column: llm_gpt-4-0613, samples: 0}"))), ["samples.yaml", "llm.samples"]),
        ("decoding max_tokens as words", lambda: Decoding(max_tokens="many"), ["decoding", "max_tokens"]),
        ("validate with zero resamples", lambda: validate(["toxic", "non-toxic"] * 5, ["toxic", "non-toxic"] * 5, codebook, n_resamples=0),
         ["n_resamples", "10"]),
        ("command line --limit 0", lambda: _cli(["label", "--dataset", "textclass-toxicity", "--limit", "0"]), ["--limit", "at least 1"]),
        ("command line --limit -5", lambda: _cli(["label", "--dataset", "textclass-toxicity", "--limit", "-5"]), ["--limit", "at least 1"]),
        ("command line --epochs as words", lambda: _cli(["train", "--dataset", "textclass-toxicity", "--epochs", "three"]), ["--epochs", "whole number"]),
        ("settings file with a key given twice", lambda: __import__("llm_distill.core", fromlist=["x"]).read_user_config(
            _csv(folder, "settings.yaml", "data_dir: /a\ndata_dir: /b\n")), ["settings.yaml", "'data_dir' is given twice"]),
        ("estimates of a label the codebook lacks", lambda: __import__("llm_distill.experiment", fromlist=["x"]).run_experiment(
            ExperimentConfig("est", {"dataset": "textclass-toxicity", "limit": 40}, {"backend": "replay", "model": "m", "column": "llm_gpt-4-0613"},
                             folds=2, bootstrap=10, output=str(folder / "est"), estimates={"labels": ["rude"]}), progress=False),
         ["estimates.labels", "rude", "toxic"]),
        ("settings file with a number for a folder", lambda: __import__("llm_distill.core", fromlist=["x"]).read_user_config(
            _csv(folder, "settings-number.yaml", "data_dir: 5\n")), ["settings-number.yaml", "data_dir: expected a folder path, got 5"]),
        ("latin-1 file: the advice names an option the experiment has", lambda: _latin1_experiment(folder, ExperimentConfig), ["encoding option"]),
        ("latin-1 file read with the advised option", lambda: _latin1_experiment(folder, ExperimentConfig, encoding="latin-1"), RIGHT),
        ("ids 1 and \"1\" in one JSONL file", lambda: make_corpus(read_table(_csv(folder, "ids.jsonl",
            '{"id": 1, "text": "a", "label": "toxic"}\n{"id": "1", "text": "b", "label": "non-toxic"}\n')), id="id", label="label",
            codebook=codebook), ["duplicate ids", "row 0", "row 1"]),
        ("experiment YAML with a key given twice", lambda: load_experiment(_csv(folder, "twice.yaml", good_yaml + "folds: 3\nfolds: 5\n")),
         ["twice.yaml", "'folds' is given twice"]),
        ("codebook YAML with a key given twice", lambda: load_codebook(_csv(folder, "twice-codebook.yaml",
            "task: t\ntask: u\nlabels: [{name: a, definition: x}, {name: b, definition: y}]\n")), ["twice-codebook.yaml", "'task'"]),
        ("experiment data file missing", lambda: __import__("llm_distill.experiment", fromlist=["x"]).load_experiment_data(
            ExperimentConfig("x", {"file": str(folder / "gone.csv")}, {"backend": "replay", "model": "m"}, codebook="textclass-toxicity")),
         ["gone.csv"]),
        *boundary_cases(folder, codebook, good_yaml),
    ]


def boundary_cases(folder, codebook, good_yaml):
    "The kinds of issue 21: ids, label spellings and codes, files never lost, experiments checked whole, estimates that keep PPI's guarantee."
    from llm_distill.boundary import read_table
    from llm_distill.codebook import codebook_from_dict, load_codebook
    from llm_distill.design import ExperimentConfig, load_experiment
    from llm_distill.inference import estimate_shares
    toy = _toy_files(folder)
    data = ["--file", toy / "data.csv", "--id", "id", "--label", "label", "--codebook", "textclass-toxicity"]
    return [
        # estimates
        ("estimate: human codes 0/1, machine names", lambda: _same_estimates(estimate_shares, codebook, human_as_codes=True), RIGHT),
        ("estimate: 'Toxic' and 'toxic ' on either side", lambda: _same_estimates(estimate_shares, codebook, spelled=True), RIGHT),
        ("estimate: a label the codebook lacks", lambda: _cli(["estimate", toy / "machine.csv", "--human", toy / "human.csv", "--codebook",
                                                               "textclass-toxicity", "--labels", "toxix", "--output", folder / "e.csv"]),
         ["toxix", "did you mean 'toxic'"]),
        ("estimate: an id coded twice", lambda: _cli(["estimate", toy / "machine.csv", "--human", toy / "twice.csv", "--codebook",
                                                      "textclass-toxicity", "--output", folder / "e.csv"]), ["both have id 't003'"]),
        ("estimate: refused texts keep their human labels", lambda: _refusals_kept(estimate_shares, codebook), RIGHT),
        ("estimate: 3 human labels for 400 texts", lambda: estimate_shares(["toxic"] * 400, ["toxic"] * 3 + [None] * 397, codebook),
         ["only 3", "at least 30"]),
        ("estimate: human labels without variation", lambda: _no_nan(estimate_shares(["toxic", "non-toxic"] * 100, ["non-toxic"] * 60 + [None] * 140,
                                                                                    codebook)), RIGHT),
        ("estimate: output onto its input", lambda: _cli(["estimate", toy / "machine.csv", "--human", toy / "human.csv", "--codebook",
                                                          "textclass-toxicity", "--output", toy / "human.csv"]), ["would replace it"]),
        ("estimates on fully coded data without human_sample", lambda: _run(folder, good_yaml + "estimates: {labels: [toxic]}\n", "est-full"),
         ["human_sample"]),
        # ids
        ("ids 007, 7 and 0042 in a CSV corpus", lambda: _ids_kept(toy / "data.csv", read_table), RIGHT),
        ("predict keeps ids as written", lambda: _predict_ids(toy, folder), RIGHT),
        ("label then validate on ids with leading zeros", lambda: _label_validate(toy, folder), RIGHT),
        # files never lost
        ("label --output onto --file", lambda: _cli(["label", *data, "--backend", "replay", "--column", "label", "--model", "m",
                                                     "--cache", folder / "lc.sqlite", "--output", toy / "data.csv"]), ["would replace it"]),
        ("predict --output onto --input", lambda: _cli(["predict", "--student", folder / "nostudent", "--input", toy / "data.csv",
                                                        "--output", toy / "data.csv"]), ["would replace it"]),
        ("train --output a folder of the user's", lambda: _cli(["train", *data, "--recipe", "tfidf", "--output", toy]), ["did not write"]),
        ("run --output a folder holding the user's student/", lambda: _run_into_user_folder(folder, good_yaml), ["did not write"]),
        # experiments checked whole
        ("experiment seeds [0, 0]", lambda: load_experiment(_csv(folder, "seeds00.yaml", good_yaml + "seeds: [0, 0]\n")), ["seeds", "more than once"]),
        ("experiment train_sizes without null", lambda: load_experiment(_csv(folder, "sizes20.yaml", good_yaml + "train_sizes: [20]\n")),
         ["train_sizes", "null"]),
        ("experiment train_sizes empty", lambda: load_experiment(_csv(folder, "sizes0.yaml", good_yaml + "train_sizes: []\n")), ["train_sizes", "null"]),
        ("experiment conditions [llm_soft] alone", lambda: load_experiment(_csv(folder, "soft.yaml", good_yaml + "conditions: [llm_soft]\n")),
         ["llm_soft", "add 'llm'"]),
        ("codebook multi_label quoted \"false\"", lambda: codebook_from_dict({"task": "t", "multi_label": "false", "labels": [
            {"name": "a", "definition": "x"}, {"name": "b", "definition": "y"}]}), ["multi_label", "true or false"]),
        ("replayed column edited between runs", lambda: _replay_edited(folder), RIGHT),
        # label sets and spellings
        ("an empty label set is a value, not uncoded", lambda: _empty_set_kept(folder), RIGHT),
        ("an Excel label literally named NA", lambda: _excel_na(folder), RIGHT),
        # files
        ("CSV with two columns named text", lambda: read_table(_csv(folder, "two-text.csv", "id,text,text\n1,a,b\n")), ["both named 'text'"]),
        ("NUL byte inside a CSV text", lambda: read_table(_csv(folder, "nul.csv", b"id,text\n1,ok\n2,bad\x00text\n")), ["line 3", "NUL"]),
        ("BOM and Windows line ends", lambda: _bom_crlf(folder, read_table), RIGHT),
        ("a .PARQUET file through predict's reader", lambda: _upper_parquet(folder), RIGHT),
        ("a DataFrame with two columns named text", lambda: __import__("llm_distill.data", fromlist=["x"]).make_corpus(
            pd.DataFrame([["a", "b"]], columns=["text", "text"])), ["'text'", "more than once"]),
        ("NUL bytes inside a DataFrame's text", lambda: _nul_in_frame(), RIGHT),
        ("a 2 MB text", lambda: _long_text_recorded(), RIGHT),
        ("a prompt past the model's context", lambda: _too_long_prompt(folder), RIGHT),
        ("the LLM answers the empty label set", lambda: _empty_answer(), RIGHT),
        # found by a new user (fresh eyes) on the first cut of the boundary
        ("CSV rows longer than the header", lambda: read_table(_csv(folder, "long-rows.csv", "id,text,h\n1,a,x,zzz\n2,b,y\n")),
         ["row 0 (line 2 of the file) has 4 fields", "header has 3"]),
        ("CSV with a trailing separator on every row", lambda: _trailing_separator(folder, read_table), RIGHT),
        ("estimate on predictions of a student trained on the human sample", lambda: _estimate_trained_on(toy, folder),
         ["trained_on", "PPI"]),
        ("estimate_shares with Series in different orders", lambda: _series_aligned(estimate_shares, codebook), RIGHT),
        ("inclusion probabilities that contradict the sample", lambda: estimate_shares(
            ["toxic", "non-toxic"] * 100, (["toxic", "non-toxic"] * 40) + [None] * 120, codebook, probabilities=[1.0] * 200),
         ["sum to 200", "80 are coded"]),
        ("texts without a group", lambda: estimate_shares(["toxic", "non-toxic"] * 50, ["toxic", "non-toxic"] * 50, codebook,
                                                          groups=["a"] * 98 + [None, ""]), ["2 text(s) have no group"]),
        ("estimate --labels given as a code", lambda: _labels_as_code(estimate_shares, codebook), RIGHT),
        ("a folder holding only a cache is not ours", lambda: _cache_folder_not_ours(toy, folder), ["did not write"]),
        ("a folder holding a file named llm_distill.json is not ours", lambda: _json_folder_not_ours(toy, folder), ["did not write"]),
        ("a file the user added to a kept student survives a rerun", lambda: _user_file_in_student(folder), RIGHT),
        ("an unknown encoding name", lambda: read_table(toy / "data.csv", encoding="foo-99"), ["unknown encoding", "foo-99"]),
        ("a separator of two characters", lambda: read_table(toy / "data.csv", sep=";;"), ["sep must be one character"]),
        ("a separator typed as \\t", lambda: _tab_typed(folder, read_table), RIGHT),
        ("label --cache onto --file", lambda: _cli(["label", *data, "--backend", "replay", "--column", "llm", "--model", "m",
                                                    "--cache", toy / "data.csv", "--output", folder / "x.csv"]), ["--cache", "would replace it"]),
        ("codebook labels yes/no unquoted in YAML", lambda: load_codebook(_csv(folder, "yesno.yaml",
            "task: t\nrequire_definitions: false\nlabels: [{name: yes}, {name: no}]\n")), ["labels[0].name", "quote it"]),
        # found by a second new user
        ("an empty label-set cell is recorded as not coded", lambda: _empty_set_cell_recorded(), RIGHT),
        ("replayed [] is the empty label set", lambda: _replayed_empty_set(folder), RIGHT),
        ("credentials in any query parameter of a URL", lambda: _query_redacted(), RIGHT),
        ("train --force into a folder holding the user's README.md", lambda: _force_clash(toy, folder), ["would write over", "README.md"]),
        ("a template looping past the sandbox's range", lambda: _template(codebook, "{% for i in range(100000000) %}x{% endfor %}"), ["refused"]),
        ("a template with a syntax error in the instructions", lambda: _instructions_syntax(codebook, folder), ["codebook instructions", "syntax error"]),
        ("positive_label in another spelling", lambda: _positive_spelling(ExperimentConfig), RIGHT),
    ]


def _empty_set_cell_recorded():
    from llm_distill.codebook import codebook_from_dict
    from llm_distill.data import make_corpus
    sets = codebook_from_dict({"task": "frames", "multi_label": True, "require_definitions": False, "labels": ["economy", "crime"]})
    corpus = make_corpus(pd.DataFrame({"id": ["1", "2"], "text": ["a", "b"], "labels": ["economy", None]}), id="id", label="labels", codebook=sets)
    assert corpus.issues["problem"].str.contains("empty label cell: read as not coded").tolist() == [True], corpus.issues
    return RIGHT


def _replayed_empty_set(folder):
    from llm_distill.annotate import annotate
    from llm_distill.codebook import codebook_from_dict
    from llm_distill.data import make_corpus
    from llm_distill.llm import ReplayBackend
    sets = codebook_from_dict({"task": "frames", "multi_label": True, "require_definitions": False, "labels": ["economy", "crime"]})
    corpus = make_corpus(pd.DataFrame({"id": ["1", "2"], "text": ["a", "b"]}), id="id", codebook=sets)
    table = annotate(corpus, sets, ReplayBackend({"1": "[]", "2": "crime|economy"}, "m", codes=sets), cache=Path(folder) / "sets.sqlite", progress=False)
    assert table["label"].tolist() == ["", "economy|crime"] and (table["status"] == "ok").all(), table[["label", "status", "detail"]]
    return RIGHT


def _query_redacted():
    from llm_distill.core import redact
    text = redact("openai-compatible:http://127.0.0.1:9/v1?auth=AUTHSECRET11&private_token=PTSECRET12;jsessionid=S3")
    assert "SECRET" not in text and "S3" not in text, text
    return RIGHT


def _force_clash(toy, folder):
    mine = Path(folder) / "force-mine"
    mine.mkdir(exist_ok=True)
    (mine / "README.md").write_text("my notes")
    try: _cli(["train", "--file", toy / "data.csv", "--id", "id", "--label", "label", "--codebook", "textclass-toxicity",
               "--recipe", "tfidf", "--output", mine, "--force"])
    finally: assert (mine / "README.md").read_text() == "my notes"


def _template(codebook, instructions):
    from dataclasses import replace
    from llm_distill.prompts import build_messages
    build_messages(replace(codebook, instructions=instructions), "a text")


def _instructions_syntax(codebook, folder):
    from dataclasses import replace
    from llm_distill.annotate import prepare_requests
    from llm_distill.data import make_corpus
    from llm_distill.llm import ReplayBackend
    broken = replace(codebook, instructions="{% raw %}{{ x }}{% endraw %} and {{")
    prepare_requests(make_corpus(pd.DataFrame({"text": ["a"]})), broken, ReplayBackend({0: "toxic"}, "m"))


def _positive_spelling(ExperimentConfig):
    from llm_distill.inputs import load_experiment_data
    config = ExperimentConfig("p", {"dataset": "textclass-toxicity"}, {"backend": "replay", "model": "m", "column": "llm_gpt-4-0613"},
                              positive_label="Non-Toxic ")
    load_experiment_data(config)
    assert config.positive_label == "non-toxic", config.positive_label
    return RIGHT


def _trailing_separator(folder, read_table):
    frame = read_table(_csv(folder, "trailing.csv", "id,text,h,llm\n0001,Workers strike,protest,protest,\n0002,Calm day,no,no,\n"))
    assert frame["id"].tolist() == ["0001", "0002"] and frame["text"].tolist() == ["Workers strike", "Calm day"], frame
    return RIGHT


def _estimate_trained_on(toy, folder):
    student = _tfidf_student_folder(toy, folder)
    _cli(["predict", "--student", student, "--input", toy / "data.csv", "--id", "id", "--output", Path(folder) / "pred-trained.csv"])
    _cli(["estimate", Path(folder) / "pred-trained.csv", "--human", toy / "human.csv", "--codebook", "textclass-toxicity",
          "--min-human", "10", "--output", Path(folder) / "est-trained.csv"])


def _series_aligned(estimate_shares, codebook):
    truth, machine, human = _planted()
    machine, human = pd.Series(machine, index=[f"t{i}" for i in range(len(machine))]), pd.Series(human, index=[f"t{i}" for i in range(len(human))])
    pd.testing.assert_frame_equal(estimate_shares(machine.sample(frac=1, random_state=0), human, codebook), estimate_shares(machine, human, codebook))
    return RIGHT


def _labels_as_code(estimate_shares, codebook):
    truth, machine, human = _planted()
    pd.testing.assert_frame_equal(estimate_shares(machine.tolist(), human, [1], codebook=codebook),
                                  estimate_shares(machine.tolist(), human, ["toxic"], codebook=codebook))
    return RIGHT


def _cache_folder_not_ours(toy, folder):
    project = Path(folder) / "project-with-cache"
    project.mkdir(exist_ok=True)
    (project / "llm_cache.sqlite").write_bytes(b"")
    (project / "report.md").write_text("my precious report")
    try: _cli(["validate", "--file", toy / "data.csv", "--id", "id", "--label", "label", "--codebook", "textclass-toxicity",
               toy / "machine.csv", "--output", project])
    finally: assert (project / "report.md").read_text() == "my precious report"


def _json_folder_not_ours(toy, folder):
    mine = Path(folder) / "mine-with-json"
    mine.mkdir(exist_ok=True)
    (mine / "llm_distill.json").write_text('{"x": 1}')
    try: _cli(["train", "--file", toy / "data.csv", "--id", "id", "--label", "label", "--codebook", "textclass-toxicity",
               "--recipe", "tfidf", "--output", mine])
    finally: assert (mine / "llm_distill.json").read_text() == '{"x": 1}'


def _user_file_in_student(folder):
    "A rerun that retrains the kept student removes only the files llm_distill wrote there."
    from llm_distill.experiment import run_experiment
    rows = pd.DataFrame({"id": range(40), "text": [f"{'awful idiot' if i % 2 else 'kind thanks'} comment {i}" for i in range(40)],
                         "label": ["toxic" if i % 2 else "non-toxic" for i in range(40)]})
    rows["llm"], rows["llm2"] = rows["label"], ["toxic"] * 4 + rows["label"].tolist()[4:]
    path = _csv(folder, "kept.csv", rows.to_csv(index=False))
    config = lambda column: {"name": "kept", "data": {"file": str(path), "label": "label"}, "codebook": "textclass-toxicity", "folds": 2,
                             "llm": {"backend": "replay", "model": "m", "column": column}, "student": {"recipe": "tfidf"},
                             "train_sizes": [None], "bootstrap": 50, "output": str(Path(folder) / "kept-run")}
    from llm_distill.design import ExperimentConfig
    run_experiment(ExperimentConfig(**config("llm")), progress=False)
    notes = Path(folder) / "kept-run" / "student" / "my_notes.txt"
    notes.write_text("mine")
    run_experiment(ExperimentConfig(**config("llm2")), progress=False)   # other LLM labels: the student is trained anew
    assert notes.read_text() == "mine"
    from llm_distill.students import load_student
    load_student(notes.parent)
    return RIGHT


def _tab_typed(folder, read_table):
    frame = read_table(_csv(folder, "tabs.tsv.txt", "id\ttext\n1\ta\n"), format="csv", sep="\\t")
    assert list(frame.columns) == ["id", "text"], frame
    return RIGHT


def _empty_answer():
    from llm_distill.boundary import as_codebook
    from llm_distill.prompts import parse_label
    sets = as_codebook(["economy", "crime"], multi_label=True)
    assert [parse_label(a, sets).label for a in ('{"labels": []}', "[]", "crime")] == ["", "", "crime"]
    return RIGHT


def _nul_in_frame():
    from llm_distill.data import make_corpus
    corpus = make_corpus(pd.DataFrame({"text": ["a\x00b", "c"]}))
    assert corpus.texts == ["ab", "c"] and corpus.issues["problem"].tolist() == ["NUL bytes in the text"], corpus.issues
    return RIGHT


def _long_text_recorded():
    from llm_distill.data import make_corpus
    corpus = make_corpus(pd.DataFrame({"text": ["word " * 400_000, "short"]}))
    assert corpus.issues["problem"].str.contains("2,000,000 characters").any(), corpus.issues
    return RIGHT


def _too_long_prompt(folder):
    "A 2 MB text: planned with a warning, then failed as its own row, never sent; the other rows run."
    from llm_distill.annotate import plan, prepare_requests
    from llm_distill.data import load_codebook, make_corpus
    from llm_distill.llm import OpenAIBackend
    codebook = load_codebook("textclass-toxicity")
    corpus = make_corpus(pd.DataFrame({"id": ["a", "b"], "text": ["short text", "word " * 400_000]}), id="id", codebook=codebook)
    job = prepare_requests(corpus, codebook, OpenAIBackend("gpt-4o-mini", api_key="sk-none", base_url="http://127.0.0.1:9/v1"))
    assert list(job.too_long) == ["b"] and "warning: 1 text(s) have prompts past the model's context" in str(plan(job)), str(plan(job))
    return RIGHT


def _toy_files(folder):
    "A small labelled CSV with ids that look like numbers, and machine/human label files for `estimate`."
    rng = np.random.default_rng(0)
    words = {"toxic": ["idiot", "stupid", "hate", "moron"], "non-toxic": ["thanks", "great", "kind", "helpful"]}
    labels = list(rng.choice(["toxic", "non-toxic"], 60))
    ids = ["007", "7", "0042"] + [f"t{i:03d}" for i in range(3, 60)]
    toy = Path(folder) / "toy"
    toy.mkdir(exist_ok=True)
    pd.DataFrame({"id": ids, "text": [" ".join(rng.choice(words[l], 4)) + f" {i}" for i, l in enumerate(labels)], "label": labels,
                  "llm": labels[:-5] + ["toxic"] * 5}).to_csv(toy / "data.csv", index=False)
    pd.DataFrame({"id": ids, "label": labels}).to_csv(toy / "machine.csv", index=False)
    pd.DataFrame({"id": ids[:40], "label": [int(l == "toxic") for l in labels[:40]]}).to_csv(toy / "human.csv", index=False)
    pd.DataFrame({"id": ids[:40] + ["t003"], "label": labels[:40] + ["toxic"]}).to_csv(toy / "twice.csv", index=False)
    return toy


def _planted(n=400, seed=0):
    rng = np.random.default_rng(seed)
    truth = np.where(rng.random(n) < 0.4, "toxic", "non-toxic")
    machine = np.where(rng.random(n) < 0.8, truth, "toxic")
    coded = rng.choice(n, 120, replace=False)
    return truth, machine, [t if i in set(coded) else None for i, t in enumerate(truth)]


def _same_estimates(estimate_shares, codebook, human_as_codes=False, spelled=False):
    truth, machine, human = _planted()
    reference = estimate_shares(machine.tolist(), human, codebook)
    other_human = [None if h is None else {"toxic": 1, "non-toxic": 0}[h] for h in human] if human_as_codes else human
    other_machine = [m.title() + " " if i % 2 else m for i, m in enumerate(machine)] if spelled else machine.tolist()
    pd.testing.assert_frame_equal(estimate_shares(other_machine, other_human, codebook), reference)
    return RIGHT


def _refusals_kept(estimate_shares, codebook):
    truth, machine, human = _planted()
    machine = machine.astype(object)
    machine[(truth == "toxic") & (np.arange(len(truth)) % 2 == 0)] = None   # refusals concentrated in one class
    table = estimate_shares(machine.tolist(), human, codebook)
    assert (table["n_human"] == 120).all(), table["n_human"].tolist()
    row = table.query("label == 'toxic' and method == 'ppi'").iloc[0]
    assert row["ci_low"] <= 0.45 and row["ci_high"] >= 0.33, row.to_dict()   # near the planted share (0.4), not the refusal-biased one
    return RIGHT


def _no_nan(table):
    assert not table[["estimate", "ci_low", "ci_high"]].isna().any().any(), table
    assert table["note"].str.contains("Clopper-Pearson").any(), table["note"].tolist()
    return RIGHT


def _ids_kept(path, read_table):
    from llm_distill.data import load_codebook, make_corpus
    corpus = make_corpus(read_table(path), id="id", label="label", codebook=load_codebook("textclass-toxicity"))
    assert corpus.ids[:3] == ["007", "7", "0042"], corpus.ids[:3]
    return RIGHT


def _tfidf_student_folder(toy, folder):
    path = Path(folder) / "tfidf-student"
    if not path.exists():
        _cli(["train", "--file", toy / "data.csv", "--id", "id", "--label", "label", "--codebook", "textclass-toxicity",
              "--recipe", "tfidf", "--output", path])
    return path


def _predict_ids(toy, folder):
    student = _tfidf_student_folder(toy, folder)
    _cli(["predict", "--student", student, "--input", toy / "data.csv", "--id", "id", "--output", Path(folder) / "predicted.csv"])
    written = pd.read_csv(Path(folder) / "predicted.csv", dtype=str)
    assert written["id"].tolist()[:3] == ["007", "7", "0042"], written["id"].tolist()[:3]
    assert (written["trained_on"] == "True").all()   # the student was trained on these very texts: the rows say so
    return RIGHT


def _label_validate(toy, folder):
    data = ["--file", toy / "data.csv", "--id", "id", "--label", "label", "--codebook", "textclass-toxicity"]
    _cli(["label", *data, "--backend", "replay", "--column", "llm", "--model", "m", "--cache", Path(folder) / "lv.sqlite",
          "--few-shot", "1", "--output", Path(folder) / "lv.csv"])
    out = _cli(["validate", *data, Path(folder) / "lv.csv", "--output", Path(folder) / "lv-report"])
    assert "2 few-shot example(s) left out" in out, out
    return RIGHT


def _run(folder, yaml_text, name):
    from llm_distill.experiment import run_experiment
    path = _csv(folder, f"{name}.yaml", yaml_text.replace("name: x", f"name: {name}") + f"output: {Path(folder) / name}\n")
    run_experiment(path, progress=False)


def _run_into_user_folder(folder, good_yaml):
    target = Path(folder) / "users-project"
    (target / "student").mkdir(parents=True, exist_ok=True)
    (target / "student" / "notes.md").write_text("mine")
    try: _cli(["run", _csv(folder, "into.yaml", good_yaml), "--output", target])
    finally: assert (target / "student" / "notes.md").read_text() == "mine"


def _replay_edited(folder):
    "Rerunning into the same folder after editing the replayed column reads the new answers, never the cached old ones."
    from llm_distill.annotate import annotate
    from llm_distill.data import load_codebook, make_corpus
    from llm_distill.llm import ReplayBackend
    codebook = load_codebook("textclass-toxicity")
    corpus = make_corpus(pd.DataFrame({"id": ["1", "2"], "text": ["a", "b"]}), id="id", codebook=codebook)
    first = annotate(corpus, codebook, ReplayBackend({"1": "toxic", "2": "toxic"}, "m"), cache=Path(folder) / "replay.sqlite", progress=False)
    again = annotate(corpus, codebook, ReplayBackend({"1": "toxic", "2": "non-toxic"}, "m"), cache=Path(folder) / "replay.sqlite", progress=False)
    assert first["label"].tolist() == ["toxic", "toxic"] and again["label"].tolist() == ["toxic", "non-toxic"], again["label"].tolist()
    return RIGHT


def _empty_set_kept(folder):
    from llm_distill.codebook import codebook_from_dict
    from llm_distill.data import make_corpus
    sets = codebook_from_dict({"task": "frames", "multi_label": True, "require_definitions": False, "labels": ["economy", "crime"]})
    frame = pd.DataFrame({"id": ["1", "2", "3"], "text": ["a", "b", "c"], "labels": ["economy|crime", "[]", None]})
    corpus = make_corpus(frame, id="id", label="labels", codebook=sets)
    assert corpus.data["human_label"].tolist() == ["economy|crime", "", None], corpus.data["human_label"].tolist()
    assert len(corpus.labelled) == 2
    return RIGHT


def _excel_na(folder):
    from llm_distill.boundary import read_table
    path = Path(folder) / "na.xlsx"
    pd.DataFrame({"id": ["1", "2"], "text": ["a", "b"], "label": ["NA", "EU"]}).to_excel(path, index=False)
    assert read_table(path)["label"].tolist() == ["NA", "EU"]
    return RIGHT


def _bom_crlf(folder, read_table):
    frame = read_table(_csv(folder, "bom.csv", "\ufeffid,text\r\n1,a\r\n2,b\r\n"))
    assert list(frame.columns) == ["id", "text"] and frame["text"].tolist() == ["a", "b"], frame
    return RIGHT


def _upper_parquet(folder):
    from llm_distill.boundary import table_chunks
    path = Path(folder) / "UPPER.PARQUET"
    pd.DataFrame({"id": ["007"], "text": ["a"]}).to_parquet(path)
    assert [c["id"].tolist() for c in table_chunks(path)] == [["007"]]
    return RIGHT


def _edited_student(folder, fit, Student, TrainingConfig):
    "Train a tiny native-head student, swap the label names in its llm_distill.json, and load it."
    texts = [f"text number {i} {'bad' if i % 2 else 'good'}" for i in range(12)]
    student = fit(texts, ["toxic" if i % 2 else "non-toxic" for i in range(12)], ["toxic", "non-toxic"],
                  config=TrainingConfig(epochs=1, max_length=16, validation_fraction=0.0, pooling="native"))
    path = student.save(Path(folder) / "edited")
    meta = json.loads((path / "llm_distill.json").read_text())
    meta["label_names"] = meta["label_names"][::-1]
    (path / "llm_distill.json").write_text(json.dumps(meta))
    Student.load(path)


def _mostly_unparsed(folder, ExperimentConfig):
    "An experiment whose replayed column holds answers outside the label set for most texts."
    from llm_distill.experiment import run_experiment
    rows = pd.DataFrame({"id": range(40), "text": [f"comment {i}" for i in range(40)],
                         "label": ["toxic", "non-toxic"] * 20, "llm": ["toxic"] * 5 + ["7"] * 35})
    path = _csv(folder, "unparsed.csv", rows.to_csv(index=False))
    run_experiment(ExperimentConfig("unparsed", {"file": str(path), "label": "label"}, {"backend": "replay", "model": "m", "column": "llm"},
                                    codebook="textclass-toxicity", folds=2, output=str(Path(folder) / "unparsed-run")), progress=False)


def _parses(answer, names, expected):
    "The answer parses to the expected label of a codebook with these names."
    from llm_distill.data import Codebook
    from llm_distill.prompts import parse_label
    codebook = Codebook("t", [{"name": n, "definition": "d"} for n in names])
    parsed = parse_label(answer, codebook)
    assert parsed.label == expected, f"{answer!r} parsed as {parsed}"
    return RIGHT


def _nfd_data_label(make_corpus):
    from llm_distill.data import Codebook
    codebook = Codebook("t", [{"name": "caf\u00e9", "definition": "d"}, {"name": "tea", "definition": "d"}])
    corpus = make_corpus(pd.DataFrame({"text": ["a", "b"], "label": ["cafe\u0301", "tea"]}), label="label", codebook=codebook)
    assert corpus.data["human_label"].tolist() == ["caf\u00e9", "tea"], corpus.data["human_label"].tolist()
    return RIGHT


def _replayed_codes(corpus, codebook, annotate, ReplayBackend, folder):
    "Integer codes replayed (toxic is code 1, non-toxic 0) map through the codes, never by their place in the prompt's list."
    table = annotate(corpus, codebook, ReplayBackend({1: 1, 2: 0, 3: 1, 4: 0}, "m", codes=codebook), cache=folder / "codes.sqlite", progress=False)
    assert table["label"].tolist() == ["toxic", "non-toxic", "toxic", "non-toxic"], table["label"].tolist()
    return RIGHT


def _replayed_runs(corpus, codebook, annotate, ReplayBackend, folder):
    "A cell holding a JSON list of several runs is several samples, not one unparseable answer."
    runs = {1: '["toxic", "toxic", "non-toxic"]', 2: '["non-toxic"]', 3: ["toxic"], 4: '["non-toxic", "non-toxic"]'}
    table = annotate(corpus, codebook, ReplayBackend(runs, "m", codes=codebook), cache=folder / "runs.sqlite", progress=False)
    assert table["label"].tolist() == ["toxic", "non-toxic", "toxic", "non-toxic"] and (table["status"] == "ok").all(), table
    return RIGHT


def _tfidf_student(codebook):
    from llm_distill.selection import train_student
    texts = [f"{word} text number {i}" for i, word in enumerate(["awful", "kind"] * 10)]
    return train_student(texts, ["toxic", "non-toxic"] * 10, codebook, recipe="tfidf")


def _loads_as(folder, extra, key, expected):
    "An experiment whose YAML spells a value laxly loads with the value converted."
    from llm_distill.design import load_experiment
    good = "name: x\ndata: {dataset: textclass-toxicity}\nllm: {backend: replay, model: m, column: llm_gpt-4-0613}\n"
    config = load_experiment(_csv(folder, "lax.yaml", good + extra))
    assert getattr(config, key) == expected, getattr(config, key)
    return RIGHT


def _missing_student(folder):
    from llm_distill.students import load_student
    return load_student(Path(folder) / "no-such-student")


def _cli(argv):
    "Run the command line; argparse's exit becomes the error it printed."
    import contextlib, io
    from llm_distill.cli import main
    from llm_distill.core import ConfigError
    errors, output = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(errors), contextlib.redirect_stdout(output):
        try: status = main([str(a) for a in argv])
        except SystemExit as exit: status = exit.code
    if status: raise ConfigError(errors.getvalue().strip().splitlines()[-1])
    return output.getvalue()


def _latin1_experiment(folder, ExperimentConfig, encoding=None):
    "An experiment on a latin-1 CSV: refused with advice the YAML can follow, and read once that advice is followed."
    from llm_distill.inputs import load_experiment_data
    rows = "".join(f"{i},caf\xe9 number {i},{'toxic' if i % 2 else 'non-toxic'}\n" for i in range(20))
    path = _csv(folder, "latin.csv", "id,text,label\n" + rows, "latin-1")
    data = {"file": str(path), "id": "id", "label": "label", **({"encoding": encoding} if encoding else {})}
    corpus, _ = load_experiment_data(ExperimentConfig("latin", data, {"backend": "replay", "model": "m"}, codebook="textclass-toxicity"))
    assert corpus.texts[0] == "caf\xe9 number 0", corpus.texts[0]
    return RIGHT


class Reported(Exception):
    """A bad input the package reports instead of raising (e.g. an undefined statistic with a note)."""


def _one_class(validate, codebook):
    report = validate(["toxic"] * 5, ["toxic"] * 5, codebook, n_resamples=10)
    table = report.table.set_index("metric")
    if np.isnan(table.at["cohen_kappa", "value"]) and "one class" in table.at["cohen_kappa", "note"]:
        raise Reported(f"cohen_kappa: {table.at['cohen_kappa', 'note']}")


def run_case(function):
    """'clear' when the function raises an LLMDistillError (or reports) naming what it should, RIGHT when a valid input gave the right result; else a reason."""
    try:
        if function() == RIGHT:
            return RIGHT, ""
    except Reported as report:
        return "clear", str(report)
    except LLMDistillError as error:
        return "clear", str(error)
    except AssertionError as error:
        return "wrong", f"AssertionError: {error}"
    except Exception as error:  # noqa: BLE001 - the point is to catch what escaped
        return "unclear", f"{type(error).__module__}.{type(error).__name__}: {error}"
    return "no error", ""
