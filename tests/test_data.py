"""Bad inputs to codebooks, files, corpora, the registry and splits: each gets the documented error
class and a message that names the row, field, key or file at fault. Plus the registry's row counts
and the download path against a local web server."""
import csv
import functools
import hashlib
import http.server
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from llm_distill.core import CodebookError, ConfigError, DataError, LabelError, LeakError, LLMDistillError
from llm_distill.data import (DATASETS, Codebook, DatasetSpec, Label, Split, check_no_leak, codebook_from_dict,
                              cross_fit_folds, download_dataset, load_codebook, load_dataset, make_corpus, make_split,
                              read_table, register_dataset)

STANCE = load_codebook("tweeteval-stance")


def write(path, content, mode="w", **kw):
    path = Path(path)
    (path.write_bytes if mode == "wb" else path.write_text)(content, **kw)
    return path


# --- codebooks -------------------------------------------------------------------------------
CODEBOOK_CASES = [
    ("no labels", {"task": "t", "labels": []}, "labels"),
    ("labels missing", {"task": "t"}, "labels"),
    ("task missing", {"labels": [{"name": "a", "definition": "x"}, {"name": "b", "definition": "y"}]}, "task: missing"),
    ("duplicate names", {"task": "t", "labels": [{"name": "a", "definition": "x"}, {"name": "a", "definition": "y"}]}, "labels[1].name: duplicate"),
    ("duplicate names differing in case", {"task": "t", "labels": [{"name": "Yes", "definition": "x"}, {"name": "yes", "definition": "y"}]}, "labels[1].name"),
    ("duplicate codes", {"task": "t", "labels": [{"name": "a", "code": 1, "definition": "x"}, {"name": "b", "code": "1", "definition": "y"}]}, "labels[1].code"),
    ("missing definition", {"task": "t", "labels": [{"name": "a", "definition": "x"}, {"name": "b"}]}, "labels[1].definition"),
    ("unknown top-level key", {"task": "t", "lables": [], "labels": [{"name": "a", "definition": "x"}]}, "unknown key(s) ['lables']"),
    ("unknown label key", {"task": "t", "labels": [{"name": "a", "definition": "x", "colour": "red"}, {"name": "b", "definition": "y"}]}, "labels[0]: unknown key(s) ['colour']"),
    ("label without name", {"task": "t", "labels": [{"definition": "x"}, {"name": "b", "definition": "y"}]}, "labels[0].name: missing"),
    ("one label in a single-label task", {"task": "t", "labels": [{"name": "a", "definition": "x"}]}, "at least 2 labels"),
    ("empty task name", {"task": " ", "labels": [{"name": "a", "definition": "x"}, {"name": "b", "definition": "y"}]}, "task"),
    ("a label set's label named as the empty set", {"task": "t", "multi_label": True, "labels": [{"name": "a", "definition": "x"}, {"name": "(None)", "definition": "y"}]},
     "labels[1].name: '(None)' is how a file writes the empty label set"),
    ("a label set's label named as the empty set in another spelling", {"task": "t", "multi_label": True, "labels": [{"name": "a", "definition": "x"}, {"name": "'[ ]'.", "definition": "y"}]},
     "is how a file writes the empty label set"),   # matched as names are (label_key): an answer "[]" would mean both
]


@pytest.mark.parametrize("case,spec,message", CODEBOOK_CASES, ids=[c[0] for c in CODEBOOK_CASES])
def test_bad_codebooks(case, spec, message):
    with pytest.raises(CodebookError) as error:
        codebook_from_dict(spec, where="my_codebook.yaml")
    assert message in str(error.value) and "my_codebook.yaml" in str(error.value)


def test_codebook_file_errors_name_the_file(tmp_path):
    with pytest.raises(CodebookError, match="not valid YAML"):
        load_codebook(write(tmp_path / "bad.yaml", "task: [unclosed"))
    with pytest.raises(CodebookError, match="no shipped codebook"):
        load_codebook("no-such-codebook")
    with pytest.raises(CodebookError, match="expected a mapping"):
        load_codebook(write(tmp_path / "list.yaml", "- a\n- b\n"))


def test_definitions_optional_when_not_required():
    codebook = codebook_from_dict({"task": "t", "require_definitions": False, "labels": ["a", "b"]})
    assert codebook.label_names == ["a", "b"]


def test_codebook_hash_changes_with_content():
    changed = Codebook(STANCE.task, STANCE.labels, STANCE.instructions + " More.")
    assert changed.hash != STANCE.hash


# --- files -----------------------------------------------------------------------------------
def test_empty_file(tmp_path):
    with pytest.raises(DataError, match=r"empty\.csv: the file is empty"):
        read_table(write(tmp_path / "empty.csv", ""))


def test_header_only_file(tmp_path):
    with pytest.raises(DataError, match="header but no rows"):
        read_table(write(tmp_path / "header.csv", "id,text\n"))


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="nope.csv: file not found"):
        read_table(tmp_path / "nope.csv")


def test_unknown_extension(tmp_path):
    with pytest.raises(DataError, match="unknown format '.dat'"):
        read_table(write(tmp_path / "x.dat", "a,b\n1,2\n"))


def test_parquet_that_is_really_csv(tmp_path):
    with pytest.raises(DataError, match="not a parquet file"):
        read_table(write(tmp_path / "x.parquet", "id,text\n1,hello\n"))


def test_csv_that_is_really_parquet(tmp_path):
    pd.DataFrame({"text": ["a"]}).to_parquet(tmp_path / "x.parquet")
    (tmp_path / "x.parquet").rename(tmp_path / "x.csv")
    with pytest.raises(DataError, match="binary"):
        read_table(tmp_path / "x.csv")


def test_excel_that_is_really_text(tmp_path):
    with pytest.raises(DataError, match="not a excel file"):
        read_table(write(tmp_path / "x.xlsx", "id,text\n"))


def test_invalid_utf8_names_the_line_and_the_fix(tmp_path):
    path = write(tmp_path / "latin.csv", "id,text\n1,fine\n2,caf\xe9\n".encode("latin-1"), mode="wb")
    with pytest.raises(DataError) as error:
        read_table(path)
    assert "line 3" in str(error.value) and "set the encoding option" in str(error.value) and "latin-1" in str(error.value)
    assert read_table(path, encoding="latin-1")["text"].tolist() == ["fine", "caf\xe9"]


def test_replaced_bytes_are_reported_per_row(tmp_path):
    path = write(tmp_path / "broken.csv", b"id,text\n1,fine\n2,bad \xff byte\n", mode="wb")
    corpus = make_corpus(read_table(path, encoding_errors="replace"), id="id", name="broken.csv")
    assert len(corpus) == 2
    issue = corpus.issues.iloc[0]
    assert (issue["id"], issue["problem"], issue["action"]) == ("2", "undecodable bytes replaced by U+FFFD", "kept")


def test_malformed_jsonl_names_the_line(tmp_path):
    path = write(tmp_path / "x.jsonl", '{"text": "a"}\n{"text": "b"\n')
    with pytest.raises(DataError, match="line 2 is not valid JSON"):
        read_table(path)


def test_jsonl_line_that_is_not_an_object(tmp_path):
    with pytest.raises(DataError, match="line 2 is not a JSON object"):
        read_table(write(tmp_path / "x.jsonl", '{"text": "a"}\n[1, 2]\n'))


def test_ragged_csv_row(tmp_path):
    with pytest.raises(DataError, match=r"ragged\.csv: row 1 \(line 3 of the file\) has 4 fields but the header has 2"):
        read_table(write(tmp_path / "ragged.csv", "id,text\n1,a\n2,b,c,d\n"))


def test_wrong_delimiter_hint(tmp_path):
    frame = read_table(write(tmp_path / "semi.csv", "id;text\n1;hello\n"))
    with pytest.raises(DataError) as error:
        make_corpus(frame, text="text", id="id", name="semi.csv")
    assert "set the sep option (--sep ';')" in str(error.value) and "semi.csv" in str(error.value)


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl", ".parquet", ".xlsx"])
def test_every_format_reads_the_same_table(tmp_path, suffix):
    frame = pd.DataFrame({"id": [1, 2], "text": ["a b", "c"], "label": ["x", "y"]})
    path = tmp_path / f"table{suffix}"
    if suffix == ".csv": frame.to_csv(path, index=False)
    elif suffix == ".tsv": frame.to_csv(path, index=False, sep="\t")
    elif suffix == ".jsonl": frame.to_json(path, orient="records", lines=True)
    elif suffix == ".parquet": frame.to_parquet(path)
    else: frame.to_excel(path, index=False)
    read = read_table(path)
    assert read["text"].tolist() == ["a b", "c"] and read["label"].tolist() == ["x", "y"]


# --- corpora ---------------------------------------------------------------------------------
def table(**columns):
    base = {"id": [1, 2, 3], "text": ["a", "b", "c"], "label": [0, 1, 2]}
    return pd.DataFrame({**base, **columns})


def test_missing_text_column():
    with pytest.raises(DataError, match="text column 'tweet' not found"):
        make_corpus(table(), text="tweet")


def test_wrong_label_column_mapping():
    with pytest.raises(DataError, match="label column 'stance' not found"):
        make_corpus(table(), label="stance")


def test_missing_metadata_column():
    with pytest.raises(DataError, match="metadata column 'party' not found"):
        make_corpus(table(), metadata=["party"])
    with pytest.raises(DataError, match="metadata column 'party' not found"):
        make_corpus(table(year=[1, 2, 3]), metadata=["party", "year"])


def test_every_missing_coder_column_is_caught():
    with pytest.raises(DataError, match="coder column 'c1' not found"):
        make_corpus(table(c2=[0, 1, 2]), coders=["c1", "c2"])


def test_duplicate_ids_name_the_rows():
    with pytest.raises(DataError, match=r"row 0 \(id 1\), row 2 \(id 1\)"):
        make_corpus(table(id=[1, 2, 1]), id="id")


def test_suffixed_duplicate_ids_never_take_an_id_already_in_the_file():
    corpus = make_corpus(pd.DataFrame({"id": ["x", "x", "x#2", "y", "x"], "text": list("abcde")}), id="id", duplicate_ids="suffix")
    assert corpus.ids == ["x", "x#3", "x#2", "y", "x#4"]   # unique: one annotation for `x#2` pairs with one text
    assert corpus.issues[["id", "problem"]].values.tolist() == [["x#3", "duplicate of id 'x'"], ["x#4", "duplicate of id 'x'"]]


def test_missing_id():
    with pytest.raises(DataError, match=r"is empty at row\(s\) \[1\] \(counted from 0\)"):
        make_corpus(table(id=[1, None, 3]), id="id")


def test_nan_and_empty_text_dropped_and_recorded():
    corpus = make_corpus(table(text=["a", np.nan, " \t "]), id="id")
    assert corpus.ids == [1]
    assert corpus.issues[["id", "problem", "action"]].values.tolist() == [
        [2, "missing text", "dropped"], [3, "empty or whitespace-only text", "dropped"]]


def test_bad_text_raise_names_the_row():
    with pytest.raises(DataError, match=r"missing text at row 1 \(id 2\)"):
        make_corpus(table(text=["a", None, "c"]), id="id", bad_text="raise")


def test_all_rows_unusable():
    with pytest.raises(DataError, match="no usable rows"):
        make_corpus(table(text=["", " ", None]), id="id")


def test_labels_outside_codebook_name_rows_and_values():
    with pytest.raises(LabelError) as error:
        make_corpus(table(label=[0, 1, 7]), id="id", label="label", codebook=STANCE)
    assert "['7']" in str(error.value) and "row 2 (id 3)" in str(error.value)


def test_mixed_label_types():
    with pytest.raises(LabelError, match="mixes label types"):
        make_corpus(table(label=[0, "favor", 2]), id="id", label="label")


def test_duplicate_texts_kept_or_dropped():
    frame = table(text=["same", "same", "other"])
    kept = make_corpus(frame, id="id")
    assert len(kept) == 3 and kept.issues["problem"].tolist() == ["duplicate of the text of id 1"]
    dropped = make_corpus(frame, id="id", duplicate_texts="drop")
    assert dropped.ids == [1, 3] and dropped.issues["action"].tolist() == ["dropped"]


def test_non_string_text_converted_and_recorded():
    corpus = make_corpus(table(text=["a", 42, "c"]), id="id")
    assert corpus.texts == ["a", "42", "c"] and corpus.issues["problem"].tolist() == ["text was not a string"]


def test_coders_majority_and_ties():
    frame = pd.DataFrame({"text": ["a", "b"], "c1": [1, 1], "c2": [1, 2], "c3": [2, 0]})
    corpus = make_corpus(frame, coders=["c1", "c2", "c3"], codebook=STANCE)
    assert corpus.data["human_label"].tolist()[0] == "against"
    assert corpus.data["human_label"].isna().tolist()[1]
    assert corpus.issues["problem"].tolist() == ["coders tie: no majority label"]


def test_every_error_is_an_llm_distill_error():
    for error in (CodebookError, ConfigError, DataError, LabelError, LeakError):
        assert issubclass(error, LLMDistillError)


# --- registry --------------------------------------------------------------------------------
def test_every_dataset_loads_with_its_published_row_count():
    for name, spec in DATASETS.items():
        corpus = load_dataset(name)
        dropped = int((corpus.issues["action"] == "dropped").sum())
        assert len(corpus) + dropped == spec.rows, name
        assert corpus.data["id"].is_unique, name


def test_dataset_quirks():
    olid = load_dataset("olid")
    assert (olid.issues["problem"] == "undecodable bytes replaced by U+FFFD").sum() == 24
    davidson = load_dataset("davidson-hate-offensive")
    assert not davidson.data["text"].str.contains("&amp;").any()
    nyt = load_dataset("cap-nytimes")
    assert nyt.data["Subject"].str.contains("Guant\xcanamo", regex=False).any()  # cp1252 bytes decoded, row kept
    discourse = load_dataset("salt-discourse")
    assert discourse.data["id"].tolist() == list(range(497))
    benoit = load_dataset("benoit-econ-stance")
    assert (benoit.issues["action"] == "kept, renamed").sum() == 35


def test_unknown_dataset_suggests_names():
    with pytest.raises(ConfigError, match="did you mean"):
        load_dataset("tweeteval-stance-abortoin")


def test_missing_dataset_file_says_where_it_looked(tmp_path):
    with pytest.raises(DataError) as error:
        load_dataset("cap-us-congress", data_dir=tmp_path)
    assert "cap_policy_agendas_rtexttools/USCongress.csv not found" in str(error.value) and str(tmp_path) in str(error.value)


def test_data_dir_from_environment(monkeypatch, data_dir, tmp_path):
    monkeypatch.setenv("LLM_DISTILL_DATA_DIR", str(tmp_path))
    with pytest.raises(DataError, match="LLM_DISTILL_DATA_DIR"):
        load_dataset("theocharis-incivility")
    monkeypatch.setenv("LLM_DISTILL_DATA_DIR", str(data_dir))
    assert len(load_dataset("theocharis-incivility")) == 4000


@pytest.fixture
def file_server(tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield served, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_download_verifies_checksum(file_server, tmp_path, data_dir):
    served, url = file_server
    source = data_dir / "theocharis_incivility/training-data.csv"
    (served / "training-data.csv").write_bytes(source.read_bytes())
    good = hashlib.sha256(source.read_bytes()).hexdigest()
    relative = "theocharis_incivility/training-data.csv"
    spec = DATASETS["theocharis-incivility"]
    register_dataset(DatasetSpec("test-download", "test", spec.files, spec.read, spec.columns, spec.codebook, spec.rows,
                                 {relative: (f"{url}/training-data.csv", good)}))
    register_dataset(DatasetSpec("test-download-bad", "test", spec.files, spec.read, spec.columns, spec.codebook, spec.rows,
                                 {relative: (f"{url}/training-data.csv", "0" * 64)}))
    try:
        target = tmp_path / "data"
        with pytest.raises(DataError, match="does not match its recorded SHA-256"):
            download_dataset("test-download-bad", target)
        assert not (target / relative).exists() and not list((target / "theocharis_incivility").iterdir())
        download_dataset("test-download", target)
        assert len(load_dataset("test-download", data_dir=target)) == 4000
        with pytest.raises(DataError, match="could not download"):
            (target / relative).unlink()
            register_dataset(DatasetSpec("test-download-404", "test", spec.files, spec.read, spec.columns, None, None,
                                         {relative: (f"{url}/missing.csv", None)}))
            download_dataset("test-download-404", target)
    finally:
        for name in ("test-download", "test-download-bad", "test-download-404"):
            DATASETS.pop(name, None)


# --- splits ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def stance_corpus():
    return load_dataset("tweeteval-stance-atheism")


def test_split_roles_disjoint_and_complete(stance_corpus):
    split = make_split(stance_corpus, test=0.25, prompt_dev=40, few_shot=20, seed=3)
    assert sum(split.sizes().values()) == len(stance_corpus)
    assert split.sizes()["prompt_dev"] == 40 and split.sizes()["few_shot"] == 20
    assert make_split(stance_corpus, test=0.25, prompt_dev=40, few_shot=20, seed=4) != split


def test_split_overlap_rejected():
    with pytest.raises(LeakError, match="id 'a' is in both 'few_shot' and 'test'"):
        Split(prompt_dev=[], few_shot=["a"], train=["b"], test=["a"])


def test_negative_seed(stance_corpus):
    with pytest.raises(ValueError, match="seed"):
        make_split(stance_corpus, seed=-1)


def test_split_too_large(stance_corpus):
    with pytest.raises(DataError, match="cannot take"):
        make_split(stance_corpus, test=len(stance_corpus))


def test_unlabelled_rows_go_to_training():
    frame = pd.DataFrame({"text": [f"t{i}" for i in range(20)], "label": [0, 1] * 5 + [None] * 10})
    corpus = make_corpus(frame, label="label", codebook=STANCE)
    split = make_split(corpus, test=4)
    assert set(range(10, 20)) <= set(split.train) and not set(split.test) & set(range(10, 20))


def test_stratify_with_a_singleton_class():
    frame = pd.DataFrame({"text": [f"t{i}" for i in range(10)], "label": [0] * 5 + [1] * 4 + [2]})
    corpus = make_corpus(frame, label="label", codebook=STANCE)
    with pytest.raises(LabelError, match="stratify"):
        make_split(corpus, test=3)
    assert len(make_split(corpus, test=3, stratify=False).test) == 3


def test_leak_guard_names_ids():
    with pytest.raises(LeakError, match=r"fit: 1 held-out test id\(s\) would reach a training set: \['x'\]"):
        check_no_leak(["x", "y"], train_ids=["a", "x"], where="fit")
    with pytest.raises(LeakError, match="a prompt"):
        check_no_leak(["x"], prompt_ids=["x"])


def test_cross_fit_folds_partition(stance_corpus):
    folds = cross_fit_folds(stance_corpus, k=4, seed=1)
    tested = [i for fold in folds for i in fold.test]
    assert sorted(tested) == sorted(stance_corpus.labelled["id"]) and len(tested) == len(set(tested))
    for fold in folds:
        assert not set(fold.train) & set(fold.test)


def test_cross_fit_rare_label():
    frame = pd.DataFrame({"text": [f"t{i}" for i in range(12)], "label": [0] * 6 + [1] * 5 + [2]})
    with pytest.raises(LabelError, match="'favor' has 1 text"):
        cross_fit_folds(make_corpus(frame, label="label", codebook=STANCE), k=3)
