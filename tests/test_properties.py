"""Property-based tests (hypothesis) of the boundary and of each entry point that reads user data.

Invariants: ids round-trip exactly (leading zeros, Unicode, numbers-as-text); every spelling of a label
and its code give the same results; a table written and read back is equal; PPI covers at the nominal
rate with a planted bias and refusals concentrated in one class; no command writes to a path it read
from or deletes what it did not write. Fixed seed, bounded examples: the file runs in well under 2 minutes.
"""
import contextlib
import io
import string

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, seed, settings, strategies as st

from llm_distill.boundary import EMPTY_SET, as_codebook, labels_as_names, read_labels, read_table, table_chunks
from llm_distill.outputs import write_table
from llm_distill.codebook import load_codebook
from llm_distill.data import make_corpus
from llm_distill.inference import estimate_shares

SETTINGS = settings(max_examples=40, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
TOXICITY = load_codebook("textclass-toxicity")

# ids as people write them: digits with leading zeros, numbers-as-text, Unicode words, mixed
digits = st.text("0123456789", min_size=1, max_size=6)
words = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zl", "Zp")), min_size=1, max_size=8)
ids_written = st.lists(st.one_of(digits, words, digits.map(lambda d: f"{d}.0"), digits.map(lambda d: f"-{d}")),
                       min_size=1, max_size=12, unique=True).filter(
    lambda ids: all(i.strip() == i and i.strip() and not i.startswith(("#", "=")) and "\x00" not in i for i in ids))


def spelling(draw_from, name):
    "A spelling of a label name: case, spaces, a full stop, quotes."
    return draw_from(st.sampled_from([name, name.upper(), name.title(), f" {name} ", f"{name}.", f'"{name}"']))


@seed(0)
@SETTINGS
@given(ids=ids_written, suffix=st.sampled_from([".csv", ".tsv", ".jsonl", ".parquet", ".CSV", ".Parquet"]))
def test_ids_round_trip_exactly_through_every_format(tmp_path, ids, suffix):
    path = tmp_path / f"t{suffix}"
    write_table(pd.DataFrame({"id": ids, "text": ["some text"] * len(ids), "label": ["toxic"] * len(ids)}), path)
    assert read_table(path)["id"].tolist() == ids
    assert read_labels(path, TOXICITY)["id"].tolist() == ids
    corpus = make_corpus(read_table(path), id="id", label="label", codebook=TOXICITY)
    assert corpus.ids == ids                                   # never parsed as numbers, never collapsed (007 and 7 differ)
    assert [i for chunk in table_chunks(path, chunk_rows=5) for i in chunk["id"]] == ids


@seed(0)
@SETTINGS
@given(ids=ids_written, suffix=st.sampled_from([".csv", ".tsv", ".jsonl"]), compression=st.sampled_from([".gz", ".bz2", ".xz"]))
def test_ids_round_trip_exactly_through_compressed_text_tables(tmp_path, ids, suffix, compression):
    "A table compressed as it is shipped (corpus.csv.gz) reads as the table itself: ids as written, in order, in chunks too."
    import bz2, gzip, lzma
    path = tmp_path / f"t{suffix}"
    write_table(pd.DataFrame({"id": ids, "text": ["some text"] * len(ids)}), path)
    packed = tmp_path / f"t{suffix}{compression}"
    packed.write_bytes({".gz": gzip.compress, ".bz2": bz2.compress, ".xz": lzma.compress}[compression](path.read_bytes()))
    pd.testing.assert_frame_equal(read_table(packed), read_table(path))
    assert [i for chunk in table_chunks(packed, chunk_rows=5) for i in chunk["id"]] == ids


@seed(0)
@SETTINGS
@given(ids=st.lists(st.sampled_from(["x", "x#2", "x#3", "7", "7#2", "07"]), min_size=1, max_size=10))
def test_suffixed_duplicate_ids_are_unique_and_keep_every_first_id(ids):
    "`duplicate_ids='suffix'` renames repeats to ids no row has, so no annotation can pair with two texts; first occurrences keep theirs."
    corpus = make_corpus(pd.DataFrame({"id": ids, "text": [f"text {n}" for n in range(len(ids))]}), id="id", duplicate_ids="suffix")
    assert len(set(corpus.ids)) == len(ids)
    first = ~pd.Series(ids).duplicated()
    assert [i for i, keep in zip(corpus.ids, first) if keep] == [i for i, keep in zip(ids, first) if keep]
    assert sorted(corpus.issues["id"]) == sorted(i for i, keep in zip(corpus.ids, first) if not keep)


json_numbers = st.lists(st.from_regex(r"-?(0|[1-9][0-9]{0,8})(\.[0-9]{1,3})?([eE][+-]?[0-9]{1,2})?", fullmatch=True), min_size=1, max_size=12, unique=True)


@seed(0)
@SETTINGS
@given(ids=json_numbers)
def test_json_lines_ids_written_as_numbers_are_read_as_written(tmp_path, ids):
    "A JSON number is an id by its text: 7, 7.0, 7e0 and -0 are four ids, never the numbers they parse to."
    path = tmp_path / "t.jsonl"
    path.write_text("".join(f'{{"id": {i}, "text": "some text", "label": "toxic", "n": {i}}}\n' for i in ids))
    assert read_table(path)["id"].tolist() == ids
    assert read_labels(path, TOXICITY)["id"].tolist() == ids
    assert [i for chunk in table_chunks(path, chunk_rows=5) for i in chunk["id"]] == ids
    assert read_table(path)["n"].tolist() == [float(i) if any(c in i for c in ".eE") else int(i) for i in ids]   # other fields stay numbers


@seed(0)
@SETTINGS
@given(data=st.data(), n=st.integers(1, 15))
def test_every_spelling_and_code_gives_the_same_labels(data, n):
    names = data.draw(st.lists(st.sampled_from(["toxic", "non-toxic"]), min_size=n, max_size=n))
    codes = {"toxic": data.draw(st.sampled_from([1, "1", 1.0, "1.0", " 1 "])), "non-toxic": data.draw(st.sampled_from([0, "0", 0.0]))}
    spelled = [spelling(data.draw, name) for name in names]
    assert labels_as_names(spelled, TOXICITY) == names
    assert labels_as_names([codes[name] for name in names], TOXICITY) == names


@seed(0)
@SETTINGS
@given(data=st.data())
def test_label_sets_round_trip_with_the_empty_set_as_a_value(tmp_path, data):
    codebook = as_codebook(["economy", "crime", "health"], multi_label=True)
    sets = data.draw(st.lists(st.sets(st.sampled_from(codebook.label_names)), min_size=1, max_size=10))
    written = ["|".join(sorted(s, key=codebook.label_names.index)) if s else EMPTY_SET for s in sets]
    for suffix in (".csv", ".parquet", ".jsonl"):
        path = tmp_path / f"sets{suffix}"
        write_table(pd.DataFrame({"id": [str(i) for i in range(len(sets))], "label": written}), path)
        back = read_labels(path, codebook)["label"].tolist()
        assert back == written                                  # "no label applies" stays a value: never read as uncoded
        assert None not in back


@seed(0)
@SETTINGS
@given(frame=st.lists(st.tuples(digits, st.text(string.ascii_letters + " éü,\"'\n", min_size=1, max_size=20).filter(str.strip),
                                st.floats(0, 1, allow_nan=False)), min_size=1, max_size=10, unique_by=lambda r: r[0]),
       suffix=st.sampled_from([".csv", ".tsv", ".jsonl", ".parquet"]))
def test_a_table_written_and_read_back_is_equal(tmp_path, frame, suffix):
    table = pd.DataFrame(frame, columns=["id", "text", "p"])
    path = write_table(table, tmp_path / f"t{suffix}")
    back = read_table(path)
    assert back["id"].tolist() == table["id"].tolist() and back["text"].tolist() == table["text"].tolist()
    assert np.allclose(back["p"].to_numpy(float), table["p"].to_numpy(float))


@seed(0)
@settings(max_examples=15, deadline=None, derandomize=True)
@given(share=st.floats(0.2, 0.8), n_human=st.integers(60, 150), data=st.data())
def test_estimates_do_not_depend_on_how_labels_are_written(share, n_human, data):
    rng = np.random.default_rng(int(share * 1000) + n_human)
    truth = np.where(rng.random(400) < share, "toxic", "non-toxic")
    machine = np.where(rng.random(400) < 0.85, truth, np.where(truth == "toxic", "non-toxic", "toxic"))
    coded = rng.choice(400, n_human, replace=False)
    human = [t if i in set(coded) else None for i, t in enumerate(truth)]
    plain = estimate_shares(machine.tolist(), human, TOXICITY)
    spelled = [spelling(data.draw, m) for m in machine]
    as_codes = [None if h is None else {"toxic": 1, "non-toxic": 0}[h] for h in human]
    pd.testing.assert_frame_equal(plain, estimate_shares(spelled, as_codes, TOXICITY))


def test_ppi_covers_with_refusals_concentrated_in_one_class():
    "A machine that is biased and refuses mostly texts of one class: PPI (keeping every human label) covers at the nominal rate."
    from llm_distill.inference import indicator
    rng, hits, draws = np.random.default_rng(21), 0, 200
    for _ in range(draws):
        truth = np.where(rng.random(1000) < 0.5, "toxic", "non-toxic")
        machine = np.where(rng.random(1000) < 0.8, truth, "toxic").astype(object)   # biased towards toxic
        machine[(truth == "toxic") & (rng.random(1000) < 0.4)] = None                # refusals, all of toxic texts
        coded = np.isin(np.arange(1000), rng.choice(1000, 150, replace=False))
        table = estimate_shares(machine.tolist(), [t if c else None for t, c in zip(truth, coded)], TOXICITY).query("label == 'toxic'")
        row = table.set_index("method").loc["ppi"]
        hits += row["ci_low"] <= indicator(truth, "toxic").mean() <= row["ci_high"]
    assert hits / draws >= 0.93, hits / draws


# -- no command writes to a path it read from, or deletes what it did not write --------------------------------

def _main(argv):
    from llm_distill.cli import main
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()) as err:
        status = main([str(a) for a in argv])
    return status, err.getvalue()


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    folder = tmp_path_factory.mktemp("toy")
    rng = np.random.default_rng(0)
    words = {"toxic": ["idiot", "stupid", "hate", "moron"], "non-toxic": ["thanks", "great", "kind", "helpful"]}
    labels = rng.choice(["toxic", "non-toxic"], 60)
    texts = [" ".join(rng.choice(words[l], 4)) + f" {i}" for i, l in enumerate(labels)]
    frame = pd.DataFrame({"id": [f"{i:03d}" for i in range(60)], "text": texts, "label": labels})
    frame.to_csv(folder / "data.csv", index=False)
    frame[["id", "label"]].to_csv(folder / "labels.csv", index=False)
    return folder


def test_commands_refuse_to_write_over_their_inputs(toy, tmp_path):
    data = ["--file", toy / "data.csv", "--id", "id", "--label", "label", "--codebook", "textclass-toxicity"]
    before = {p: p.read_bytes() for p in toy.iterdir() if p.is_file()}
    attempts = [
        ["label", *data, "--backend", "replay", "--column", "label", "--model", "m", "--cache", tmp_path / "c.sqlite", "--output", toy / "data.csv"],
        ["estimate", toy / "labels.csv", "--human", toy / "labels.csv", "--codebook", "textclass-toxicity", "--output", toy / "labels.csv"],
        ["validate", *data, toy / "labels.csv", "--output", toy / "labels.csv"],
        ["train", *data, "--annotations", toy / "labels.csv", "--recipe", "tfidf", "--output", toy],   # a folder the user made
    ]
    for argv in attempts:
        status, err = _main(argv)
        assert status == 2, (argv[0], err)
        assert "replace" in err or "did not write" in err, (argv[0], err)
    assert {p: p.read_bytes() for p in toy.iterdir() if p.is_file()} == before


def test_run_never_deletes_a_folder_it_did_not_write(toy, tmp_path):
    (tmp_path / "student").mkdir()
    (tmp_path / "student" / "thesis.tex").write_text("years of work")
    (tmp_path / "exp.yaml").write_text(f"name: x\ndata: {{file: {toy / 'data.csv'}, id: id, label: label}}\ncodebook: textclass-toxicity\n"
                                       "llm: {backend: replay, model: m, column: label}\nstudent: {recipe: tfidf}\ntrain_sizes: [null]\n")
    status, err = _main(["run", tmp_path / "exp.yaml", "--output", tmp_path])
    assert status == 2 and "did not write" in err, err
    assert (tmp_path / "student" / "thesis.tex").read_text() == "years of work"


# label values as people and programs hand them over: names in any spelling, codes, lists, JSON lists, the empty set, missing
def label_set_value(draw, codebook):
    names = draw(st.lists(st.sampled_from(codebook.label_names), unique=True, max_size=3))
    return draw(st.sampled_from([
        "|".join(spelling(draw, n) for n in names) or draw(st.sampled_from(["[]", "(none)", "{}", EMPTY_SET])),
        list(names), str(list(names)).replace("'", '"'), None, float("nan"), " "]))


@seed(0)
@SETTINGS
@given(data=st.data(), multi_label=st.booleans())
def test_labels_as_names_reads_its_own_output_back_as_itself(data, multi_label):
    "What labels_as_names gives (read_labels' label column) is a valid input of every entry point, meaning the same: the empty set stays the empty set."
    codebook = as_codebook(["economy", "crime", "health"], multi_label=multi_label)
    values = data.draw(st.lists(st.builds(lambda d: label_set_value(d.draw, codebook) if multi_label else
                                          d.draw(st.one_of(st.none(), st.sampled_from(codebook.label_names).map(lambda n: spelling(d.draw, n)))),
                                          st.data()), min_size=1, max_size=12))
    names = labels_as_names(values, codebook)
    assert labels_as_names(names, codebook) == names
    missing = [v is None or (isinstance(v, float) and v != v) or (isinstance(v, str) and not v.strip() and not (multi_label and v == EMPTY_SET))
               for v in values]
    assert [n is None for n in names] == missing   # only a value nobody gave is missing; '' of a label set is the coded empty set


@seed(0)
@SETTINGS
@given(content=st.binary(min_size=0, max_size=200), name=st.sampled_from(["out.csv", "out.parquet", "estimates.JSONL", "é labels.tsv"]))
def test_a_file_the_package_did_not_write_is_never_replaced(tmp_path_factory, content, name):
    from llm_distill.core import ConfigError
    folder = tmp_path_factory.mktemp("out")
    table = pd.DataFrame({"id": ["007"], "label": ["toxic"]})
    users = folder / name
    users.write_bytes(content)
    with pytest.raises(ConfigError, match="did not write"): write_table(table, users)
    assert users.read_bytes() == content                       # the user's file, byte for byte
    ours = write_table(table, folder / f"ours-{name}")
    write_table(table.assign(label="non-toxic"), ours)          # a rerun replaces the package's own file
    assert read_table(ours)["label"].tolist() == ["non-toxic"]
    ours.write_bytes(ours.read_bytes() + content + b"\n")       # edited since: the user's now
    edited = ours.read_bytes()
    with pytest.raises(ConfigError, match="did not write"): write_table(table, ours)
    assert ours.read_bytes() == edited
    write_table(table, users, force=True)                       # only when asked
    assert read_table(users)["label"].tolist() == ["toxic"]


def test_commands_never_replace_a_file_they_did_not_write(toy, tmp_path):
    "label, predict and estimate refuse an existing --output of the user's before any work, leave it as it was, rerun over their own, and replace with --force."
    frame = pd.read_csv(toy / "data.csv", dtype=str)
    frame.assign(llm=frame["label"]).to_csv(tmp_path / "data.csv", index=False)   # an LLM's labels, replayed
    data = ["--file", tmp_path / "data.csv", "--id", "id", "--label", "label", "--codebook", "textclass-toxicity"]
    status, err = _main(["train", *data, "--recipe", "tfidf", "--output", tmp_path / "student"])
    assert status == 0, err
    runs = {"label": ["label", *data, "--backend", "replay", "--column", "llm", "--model", "m", "--cache", tmp_path / "c.sqlite"],
            "predict": ["predict", "--student", tmp_path / "student", "--input", toy / "data.csv"],
            "estimate": ["estimate", toy / "labels.csv", "--human", toy / "labels.csv", "--codebook", "textclass-toxicity"]}
    for command, argv in runs.items():
        mine = tmp_path / f"{command}-mine.csv"
        mine.write_text("id,label\n001,my hand-corrected label\n")
        status, err = _main([*argv, "--output", mine])
        assert status == 2 and "did not write" in err and "--force" in err, (command, err)
        assert mine.read_text() == "id,label\n001,my hand-corrected label\n", command
        assert not (tmp_path / f"{command}-mine.csv.parts").exists(), command        # refused before any chunk was classified
        fresh = tmp_path / f"{command}-new.csv"
        for attempt in ("first", "rerun"):
            status, err = _main([*argv, "--output", fresh])
            assert status == 0, (command, attempt, err)
        status, err = _main([*argv, "--output", mine, "--force"])
        assert status == 0 and "hand-corrected" not in mine.read_text(), (command, err)
    paid = (tmp_path / "label-new.csv").read_bytes()
    for command, kind in (("estimate", "estimates"), ("predict", "predictions")):   # another command's output: its own kind only
        status, err = _main([*runs[command], "--output", tmp_path / "label-new.csv"])
        assert status == 2 and f"holds annotations llm_distill wrote, not {kind}" in err, err
    assert (tmp_path / "label-new.csv").read_bytes() == paid


@seed(0)
@settings(max_examples=15, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ids=ids_written.filter(lambda ids: all(i.isprintable() for i in ids)))
def test_excel_ids_stored_as_text_are_read_as_written(tmp_path, ids):
    "An Excel workbook whose id cells are text (`0042`, `7.0`) gives them back as written, in read_table and read_labels (leading zeros were lost)."
    path = tmp_path / "coded.xlsx"
    pd.DataFrame({"id": ids, "label": ["toxic"] * len(ids)}).to_excel(path, index=False)
    assert read_table(path)["id"].tolist() == ids
    assert read_table(path, ids=["post"]).columns.tolist() == ["id", "label"]        # an id column it lacks is no error
    if len(set(ids)) == len(ids): assert read_labels(path, TOXICITY)["id"].tolist() == ids


def test_a_file_edited_in_a_folder_the_package_wrote_is_never_written_over(toy, tmp_path):
    "A hand-edited validation.md or model card in a folder llm_distill wrote was replaced by a rerun; now the rerun refuses (and --force replaces)."
    data = ["--file", toy / "data.csv", "--id", "id", "--label", "label", "--codebook", "textclass-toxicity"]
    for argv, edited in ((["validate", *data, toy / "labels.csv"], "validation.md"), (["train", *data, "--recipe", "tfidf"], "README.md")):
        out = tmp_path / argv[0]
        assert _main([*argv, "--output", out])[0] == 0 and _main([*argv, "--output", out])[0] == 0, argv[0]   # a rerun replaces its own files
        (out / edited).write_text("corrected by hand")
        status, err = _main([*argv, "--output", out])
        assert status == 2 and f"changed since: ['{edited}']" in err, (argv[0], err)
        assert (out / edited).read_text() == "corrected by hand"
        assert _main([*argv, "--output", out, "--force"])[0] == 0 and (out / edited).read_text() != "corrected by hand"
        (out / edited).write_text("corrected again")                           # replaced with --force, it is the package's again: still guarded
        assert _main([*argv, "--output", out])[0] == 2 and (out / edited).read_text() == "corrected again", argv[0]
    report = sorted(p.name for p in (tmp_path / "validate").iterdir())
    status, err = _main(["train", *data, "--recipe", "tfidf", "--output", tmp_path / "validate"])   # another command's folder
    assert status == 2 and "holds a validation llm_distill wrote, not a student" in err, err
    assert sorted(p.name for p in (tmp_path / "validate").iterdir()) == report
    status, err = _main(["validate", *data, toy / "labels.csv", "--output", tmp_path / "train"])
    assert status == 2 and "holds a student llm_distill wrote, not a validation" in err, err


def coded_topics():
    "A multi-label codebook whose labels have codes, as a coder's codebook often does."
    from llm_distill.codebook import Codebook, Label
    return Codebook("topics", (Label("economy", code=1), Label("crime", code=2), Label("health", code=3)), multi_label=True,
                    require_definitions=False)


def label_set_as_someone_writes_it(draw, codebook, names):
    "One label set as a person or a program writes it: joined codes in any order, joined names, a JSON list of codes, a Python list of names."
    codes = {label.name: label.code for label in codebook.labels}
    order = draw(st.permutations(list(names))) if names else []
    return draw(st.sampled_from([
        "|".join(str(codes[n]) for n in order) or "(none)", "|".join(spelling(draw, n) for n in order) or "[]",
        "[" + ", ".join(str(codes[n]) for n in order) + "]", str(list(order)), list(order)]))


@seed(0)
@SETTINGS
@given(data=st.data())
def test_replayed_label_sets_are_read_as_human_labels_are(data):
    "An LLM's labels replayed from a column mean what the same values mean in the human column (helper-24: joined codes `1|2` were 'unparsed')."
    from llm_distill.llm import Decoding, ReplayBackend, Request
    from llm_distill.prompts import parse_label
    codebook = coded_topics()
    sets = data.draw(st.lists(st.sets(st.sampled_from(codebook.label_names)), min_size=1, max_size=8))
    values = [label_set_as_someone_writes_it(data.draw, codebook, names) for names in sets]
    replay = ReplayBackend(pd.Series(values, index=[f"t{i}" for i in range(len(values))], dtype=object), "m", codes=codebook)
    answers = [c.texts[0] for c in replay.complete_batch([Request((), id=f"t{i}") for i in range(len(values))], Decoding())]
    parsed = [parse_label(answer, codebook, numbered=replay.prompted) for answer in answers]
    assert [p.status for p in parsed] == ["ok"] * len(values), list(zip(values, answers))
    assert [p.label for p in parsed] == labels_as_names(values, codebook)


def test_a_report_edited_in_a_run_folder_is_never_written_over(toy, tmp_path):
    "The run folder of `llm-distill run` was never sealed: a hand-edited report.md was replaced by the next run without a word."
    import json
    from llm_distill.folders import OWNED_MARKER
    frame = pd.read_csv(toy / "data.csv", dtype=str)
    frame.assign(llm=frame["label"]).to_csv(tmp_path / "data.csv", index=False)   # an LLM's labels, replayed
    (tmp_path / "exp.yaml").write_text(f"name: x\ndata: {{file: {tmp_path / 'data.csv'}, id: id, label: label}}\ncodebook: textclass-toxicity\n"
                                       "llm: {backend: replay, model: m, column: llm}\nstudent: {recipe: tfidf}\ntrain_sizes: [null]\nbootstrap: 50\n")
    run = ["run", tmp_path / "exp.yaml", "--output", tmp_path / "run"]
    assert _main(run)[0] == 0, _main(run)[1]
    (tmp_path / "run" / "notes.md").write_text("my notes")                  # a file of the user's in the run's folder
    assert _main(run)[0] == 0 and (tmp_path / "run" / "notes.md").read_text() == "my notes"   # a rerun: its own files, nothing of the user's
    marker = json.loads((tmp_path / "run" / OWNED_MARKER).read_text())
    assert marker["kind"] == "an experiment run" and "report.md" in marker["sha256"] and "notes.md" not in marker["files"]
    assert not any(name.startswith(("student/", "llm_cache")) for name in marker["files"])   # the kept student has its own marker; the cache is never listed
    (tmp_path / "run" / "report.md").write_text("# my edited report")
    status, err = _main(run)
    assert status == 2 and "changed since: ['report.md']" in err, err
    assert (tmp_path / "run" / "report.md").read_text() == "# my edited report"
    assert _main([*run, "--force"])[0] == 0 and (tmp_path / "run" / "report.md").read_text() != "# my edited report"
    status, err = _main(["train", "--file", toy / "data.csv", "--label", "label", "--codebook", "textclass-toxicity", "--recipe", "tfidf",
                         "--output", tmp_path / "run"])
    assert status == 2 and "holds an experiment run llm_distill wrote, not a student" in err, err
    from llm_distill.core import ConfigError
    from llm_distill.experiment import run_experiment
    from llm_distill.report import write_report
    from llm_distill.design import load_experiment
    config = load_experiment(tmp_path / "exp.yaml")
    config.output = str(tmp_path / "run")
    result = run_experiment(config, progress=False)                          # resumed: every cell from the run's checkpoints
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "report.md").write_text("my own report")
    with pytest.raises(ConfigError, match="did not write"): write_report(result, tmp_path / "mine")   # a report into a user's folder: refused
    assert (tmp_path / "mine" / "report.md").read_text() == "my own report"
    assert write_report(result, tmp_path / "elsewhere").is_file()            # a new folder: the package's, sealed


@settings(max_examples=15, deadline=None, derandomize=True)
@given(order=st.permutations(range(300)), data=st.data())
def test_estimates_do_not_depend_on_the_row_order_of_series_inputs(order, data):
    "Groups, covariates and outcomes as Series in any row order (and labels in any spelling) give the estimates of the aligned inputs."
    from llm_distill.inference import estimate_outcome_on_label, estimate_regression
    rng = np.random.default_rng(len(order))
    ids = [f"{i:04d}" for i in range(300)]
    truth = np.where(rng.random(300) < 0.4, "toxic", "non-toxic")
    machine = pd.Series(np.where(rng.random(300) < 0.85, truth, np.where(truth == "toxic", "non-toxic", "toxic")), index=ids)
    human = pd.Series([t if i % 3 == 0 else None for i, t in enumerate(truth)], index=ids, dtype=object)
    groups = pd.Series(np.where(rng.random(300) < 0.5, "a", "b"), index=ids)
    covariates = pd.DataFrame({"x": rng.normal(size=300)}, index=ids)
    outcome = pd.Series(rng.normal(size=300), index=ids)
    spelled = pd.Series([None if h is None else spelling(data.draw, h) for h in human], index=ids, dtype=object)
    shuffled = lambda values: values.iloc[list(order)]
    pd.testing.assert_frame_equal(estimate_shares(machine, shuffled(spelled), TOXICITY, groups=shuffled(groups)),
                                  estimate_shares(machine, human, TOXICITY, groups=groups))
    pd.testing.assert_frame_equal(estimate_regression(machine, shuffled(spelled), "Toxic", shuffled(covariates), kind="ols", codebook=TOXICITY),
                                  estimate_regression(machine, human, "toxic", covariates, kind="ols"))
    pd.testing.assert_frame_equal(estimate_outcome_on_label(shuffled(outcome), machine, shuffled(spelled), "toxic", codebook=TOXICITY),
                                  estimate_outcome_on_label(outcome, machine, human, "toxic"))


@settings(max_examples=10, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(names=st.lists(st.sampled_from(["README.md", "config.json", "llm_distill.json", "notes.txt", "head.skops", "vocab.txt", "data.csv"]),
                      min_size=1, max_size=4, unique=True), contents=st.binary(min_size=0, max_size=50))
def test_saving_a_student_never_changes_a_file_of_the_users(tmp_path_factory, names, contents):
    "Whatever a user's folder holds, saving a student into it (with force or without) leaves every one of their files as it was."
    from llm_distill.core import ConfigError
    student = _tfidf_toy_student()
    folder = tmp_path_factory.mktemp("theirs")
    for name in names: (folder / name).write_bytes(contents)
    for force in (False, True):
        with contextlib.suppress(ConfigError): student.save(folder, force=force)
    assert all((folder / name).read_bytes() == contents for name in names)


_TOY = {}
def _tfidf_toy_student():
    "A tfidf student of eight texts, made once."
    from llm_distill.selection import train_student
    if "student" not in _TOY: _TOY["student"] = train_student(["calm words", "rude words", "calm again", "rude again"] * 2, ["a", "b"] * 4, recipe="tfidf")
    return _TOY["student"]


@settings(max_examples=12, deadline=None, derandomize=True)
@given(order=st.permutations(range(60)), data=st.data())
def test_a_student_does_not_depend_on_the_row_order_or_spelling_of_series_labels(order, data):
    "Training labels (and confidence) as Series in any row order, spelled any way or as codes, train the student of the aligned inputs."
    from llm_distill.selection import train_student
    rng = np.random.default_rng(len(order))
    ids = [f"{i:03d}" for i in range(60)]
    words = {"toxic": ["idiot", "stupid", "hate", "moron"], "non-toxic": ["thanks", "lovely", "agree", "kind"]}
    truth = np.where(rng.random(60) < 0.5, "toxic", "non-toxic")
    texts = pd.Series([" ".join(rng.choice(words[t], 3)) + f" post {i}" for i, t in enumerate(truth)], index=ids)
    labels = pd.Series(truth, index=ids, dtype=object)
    confidence = pd.Series(rng.uniform(0.5, 1, 60), index=ids)
    codes = {"toxic": 1, "non-toxic": 0}
    written = pd.Series([data.draw(st.sampled_from([spelling(data.draw, t), codes[t], str(codes[t])])) for t in truth], index=ids, dtype=object)
    shuffled = lambda values: values.iloc[list(order)]
    fitted = train_student(texts, shuffled(written), TOXICITY, recipe="tfidf", confidence=shuffled(confidence))
    aligned = train_student(texts, labels, TOXICITY, recipe="tfidf", confidence=confidence)
    np.testing.assert_allclose(fitted.predict_proba(texts.tolist()), aligned.predict_proba(texts.tolist()))
