"A researcher's own data, their own way: human-only runs, a named positive class, datasets.Dataset and Series in and out."
import pandas as pd
import pytest

from llm_distill.annotate import annotate
from llm_distill.core import ConfigError
from llm_distill.data import load_dataset, make_corpus, to_dataset
from llm_distill.experiment import run_experiment
from llm_distill.design import ExperimentConfig
from llm_distill.inputs import load_experiment_data
from llm_distill.llm import ReplayBackend
from llm_distill.report import write_report
from llm_distill.selection import train_student
from llm_distill.validate import validate

SMALL = {"dataset": "textclass-toxicity", "limit": 120}


def test_human_only_run_needs_no_llm_section(tmp_path):
    config = ExperimentConfig(name="human-only", data=SMALL, folds=2, bootstrap=20, output=str(tmp_path / "run"))
    assert config.conditions == ["human"]
    result = run_experiment(config, progress=False)
    assert set(result.results["condition"]) == {"human"} and result.llm_report is None
    assert result.results["size"].isna().any() and result.results["size"].notna().any()   # its learning curve
    text = write_report(result).read_text()
    assert "no LLM labels were used" in text and "Validation of the LLM labels" not in text and "### LLM labels" not in text
    assert not (tmp_path / "run" / "student").exists()   # nothing distilled: no LLM student to keep


@pytest.mark.parametrize("extra, message", [({"conditions": ["human", "llm"]}, r"\['llm'\] need an llm section"),
                                            ({"estimates": {"labels": ["toxic"]}}, r"\['estimates'\] need an llm section")])
def test_llm_conditions_need_an_llm_section(extra, message):
    with pytest.raises(ConfigError, match=message):
        ExperimentConfig(name="x", data=SMALL, **extra)


def test_the_positive_class_is_named(tmp_path):
    base = dict(name="positive", data=SMALL, folds=2, bootstrap=20, train_sizes=[None], output=str(tmp_path / "run"))
    result = run_experiment(ExperimentConfig(**base, positive_label="non-toxic"), progress=False)
    report = result.reports[("human", 0, None)]
    per_class = report.per_class.set_index("label")
    assert report.value("positive_f1") == pytest.approx(per_class.at["non-toxic", "f1"])
    assert report.value("positive_f1") != pytest.approx(per_class.at["toxic", "f1"])
    assert "positive class: 'non-toxic'" in report.notes   # set, not only chosen: the report says which class positive_* scores
    with pytest.raises(ConfigError, match="positive_label 'toxik' must be one of the two labels"):
        load_experiment_data(ExperimentConfig(**base, positive_label="toxik"))


def test_datasets_in_and_out(tmp_path):
    corpus = load_dataset("textclass-toxicity")
    table = corpus.data[["id", "text", "human_label"]].head(40)
    dataset = to_dataset(table, corpus.codebook)
    assert type(dataset.features["human_label"]).__name__ == "ClassLabel"
    back = make_corpus(dataset, text="text", id="id", label="human_label", codebook=corpus.codebook)
    assert back.data["human_label"].tolist() == table["human_label"].tolist()
    replay = ReplayBackend(corpus.data.set_index("id")["llm_gpt-4-0613"], "gpt-4-0613", "TextClass", codes=corpus.codebook)
    annotations = annotate(dataset, corpus.codebook, replay, cache=tmp_path / "cache.sqlite", progress=False)   # a Dataset, as annotate's input
    by_names = validate(table["human_label"].tolist(), annotations["label"].tolist(), corpus.codebook, n_resamples=20)
    by_integers = validate(dataset["human_label"], annotations["label"].tolist(), corpus.codebook, n_resamples=20)   # ClassLabel integers are the codes
    assert by_integers.value("accuracy") == by_names.value("accuracy")
    out = to_dataset(annotations, corpus.codebook)
    assert out.features["label"].names == ["non-toxic", "toxic"] and len(out) == 40


def test_predict_returns_a_series_aligned_to_its_input():
    corpus = load_dataset("textclass-toxicity")
    frame = corpus.data.iloc[100:260]
    student = train_student(frame["text"], frame["human_label"], corpus.codebook, recipe="embed")
    predicted = student.predict(frame["text"])
    assert isinstance(predicted, pd.Series) and predicted.index.equals(frame.index)
    assert predicted.tolist() == student.predict(frame["text"].tolist())   # a list in, a list out
    assert student.predict(frame).index.equals(frame.index)                 # a DataFrame: its text column
    assert student.predict(to_dataset(frame, corpus.codebook)) == predicted.tolist()   # a datasets.Dataset: its text column


def test_a_text_file_with_one_text_a_line(tmp_path):
    from llm_distill.data import read_table
    path = tmp_path / "speeches.txt"
    path.write_text("First speech.\n\nSecond speech, with a comma.\nThird; with a semicolon\n", encoding="latin-1")
    frame = read_table(path, encoding="latin-1")
    assert frame["text"].tolist()[2] == "Second speech, with a comma." and frame["line"].tolist() == [1, 2, 3, 4]
    corpus = make_corpus(frame, id="line")
    assert corpus.ids == [1, 3, 4] and corpus.issues["problem"].tolist() == ["empty or whitespace-only text"]


def test_an_experiment_on_a_notebook_dataframe(tmp_path):
    corpus = load_dataset("textclass-toxicity")
    frame = corpus.data[["id", "text", "human_label", "llm_gpt-4-0613"]].sample(120, random_state=0).rename(columns={"human_label": "coded"})
    config = ExperimentConfig(name="frame", data={"frame": frame, "label": "coded", "id": "id", "name": "my comments"}, codebook=corpus.codebook,
                              llm={"backend": "replay", "model": "gpt-4-0613", "column": "llm_gpt-4-0613"}, conditions=["llm_direct"],
                              folds=2, bootstrap=20, output=str(tmp_path / "run"))
    result = run_experiment(config, progress=False)
    assert result.methods["data"]["name"] == "my comments" and result.methods["config"]["data"]["frame"] == "DataFrame of 120 rows"
    assert result.results.loc[0, "n_test"] == 120
    with pytest.raises(ConfigError, match="exactly one of 'dataset', 'file' or 'frame'"):
        ExperimentConfig(name="x", data={"frame": frame, "dataset": "textclass-toxicity"})


def test_rows_left_out_for_an_empty_text_are_said_by_run_and_the_report(tmp_path):
    "A row dropped when the corpus was made (an empty text) is named in `run`'s output, the methods paragraph and the report's Data section."
    from types import SimpleNamespace
    from llm_distill.commands import command_run
    from llm_distill.report import methods_paragraph
    corpus = load_dataset("textclass-toxicity")
    frame = corpus.data[["id", "text", "human_label", "llm_gpt-4-0613"]].sample(120, random_state=0).astype({"id": str})
    frame.iloc[3, frame.columns.get_loc("text")] = "   "
    empty = frame.iloc[3]["id"]
    config = ExperimentConfig(name="gaps", data={"frame": frame, "id": "id", "label": "human_label", "name": "my comments"}, codebook=corpus.codebook,
                              llm={"backend": "replay", "model": "gpt-4-0613", "column": "llm_gpt-4-0613"}, conditions=["llm_direct"],
                              folds=2, bootstrap=20, output=str(tmp_path / "run"))
    said = command_run(SimpleNamespace(quiet=True), config)
    note = f"1 row(s) of my comments left out (empty or whitespace-only text): ids [{empty!r}]"
    assert f"note: {note}" in said
    report = (tmp_path / "run" / "report.md").read_text(encoding="utf-8").replace("\\", "")   # names from the user are inert Markdown: \( \[ \-
    assert f"We used 119 human-labelled texts of my comments ({note})." in report and f"human-labelled texts; data hash" in report
    assert report.count(note) >= 2   # the methods paragraph and the Data section
