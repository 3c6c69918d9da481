"`predict_file` at scale: a run killed part-way resumes to the bytes of one never stopped, and Dask gives the same labels."
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from llm_distill.core import ConfigError, DataError
from llm_distill.data import load_dataset
from llm_distill.predict import parts_folder, predict_file
from llm_distill.selection import train_student
from llm_distill.students import load_student

ROWS, CHUNK = 3000, 100

# Run in a child process: the saved tfidf student, slowed to 0.05 s a chunk (the same fingerprint every run), so a kill lands part-way.
CHILD = """
import sys, time
from llm_distill.predict import predict_file
from llm_distill.students import load_student
student = load_student(sys.argv[1])
slow = student.predict_proba
def predict_proba(texts, batch_size=64):
    if len(texts) > 2: time.sleep(0.05)
    return slow(texts, batch_size)
student.predict_proba = predict_proba
predict_file(student, sys.argv[2], sys.argv[3], id_column="id", chunk_rows=int(sys.argv[4]), progress=True, force=sys.argv[5:] == ["force"])
"""


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    "A saved tfidf student trained on 300 incivility comments, and ~3,000 comments in CSV and Parquet."
    folder = tmp_path_factory.mktemp("scale")
    data = load_dataset("theocharis-incivility").data.dropna(subset=["human_label"])
    student = train_student(data["text"].iloc[:300].tolist(), data["human_label"].iloc[:300].astype(str).tolist(), recipe="tfidf")
    student.save(folder / "student")
    texts = data["text"].tolist()
    frame = pd.DataFrame({"id": [f"c{i:05d}" for i in range(ROWS)], "text": [texts[i % len(texts)] for i in range(ROWS)]})
    frame.loc[7, "text"] = "  "   # an empty text: reported, not labelled
    frame.to_csv(folder / "comments.csv", index=False)
    frame.to_parquet(folder / "comments.parquet", index=False)
    return folder, frame


def _child(folder:Path, source:Path, destination:Path, chunk_rows:int=CHUNK, force:bool=False) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-c", CHILD, str(folder / "student"), str(source), str(destination), str(chunk_rows), *(["force"] if force else [])],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _kill_part_way(folder:Path, source:Path, destination:Path, parts:int=5, force:bool=False):
    "Start a run in a child process and SIGKILL it once `parts` chunks are kept (and before it ends)."
    existed = destination.exists()
    child = _child(folder, source, destination, force=force)
    deadline = time.time() + 40
    while len(list(parts_folder(destination).glob("part-*.parquet"))) < parts:
        assert child.poll() is None, f"the run ended before it could be killed: {child.communicate()[1][-2000:]}"
        assert time.time() < deadline, "no parts appeared"
        time.sleep(0.02)
    child.send_signal(signal.SIGKILL)
    child.wait()
    kept = len(list(parts_folder(destination).glob("part-*.parquet")))
    assert 0 < kept < ROWS // CHUNK and destination.exists() == existed   # no output yet (a user's file left as it was)


def _rerun(folder:Path, source:Path, destination:Path, force:bool=False) -> str:
    child = _child(folder, source, destination, force=force)
    _, err = child.communicate(timeout=60)
    assert child.returncode == 0, err[-2000:]
    return err


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_a_killed_run_resumes_to_the_same_bytes(corpus, suffix):
    folder, frame = corpus
    source = folder / "comments.parquet"
    student = load_student(folder / "student")
    reference = predict_file(student, source, folder / f"whole.{suffix}", id_column="id", chunk_rows=CHUNK, progress=False)
    assert not parts_folder(reference).exists()                              # removed after success
    streamed = predict_file(student, source, folder / f"streamed.{suffix}", id_column="id", chunk_rows=CHUNK, progress=False, resume=False)
    assert streamed.read_bytes() == reference.read_bytes()                   # resume=False writes the same file, keeping nothing
    destination = folder / f"resumed.{suffix}"
    _kill_part_way(folder, source, destination)
    err = _rerun(folder, source, destination)
    assert "resuming:" in err, err[-2000:]                                  # it did continue, not start over
    assert destination.read_bytes() == reference.read_bytes()
    assert not parts_folder(destination).exists()
    written = pd.read_csv(destination, dtype={"id": str}) if suffix == "csv" else pd.read_parquet(destination)
    assert written["id"].tolist() == frame["id"].tolist()
    assert written.loc[7, "status"] == "empty text: not labelled"


def test_a_changed_source_does_not_reuse_old_parts(corpus):
    folder, frame = corpus
    source, destination = folder / "changing.csv", folder / "changing-labels.csv"
    frame.to_csv(source, index=False)
    _kill_part_way(folder, source, destination)
    changed = frame.assign(text=frame["text"].iloc[::-1].to_numpy())          # the same rows, other texts
    changed.to_csv(source, index=False)
    err = _rerun(folder, source, destination)
    assert "starting over" in err and "resuming:" not in err, err[-2000:]
    reference = predict_file(load_student(folder / "student"), source, folder / "changed-whole.csv", id_column="id", chunk_rows=CHUNK, progress=False)
    assert destination.read_bytes() == reference.read_bytes()
    assert not parts_folder(destination).exists()


def test_the_users_files_are_handled_as_before(corpus):
    folder, frame = corpus
    student = load_student(folder / "student")
    source = folder / "comments.csv"
    before = source.read_bytes()
    with pytest.raises(ConfigError, match="replace"):                         # never the input
        predict_file(student, source, source, id_column="id", chunk_rows=CHUNK, progress=False)
    assert source.read_bytes() == before and not parts_folder(source).exists()
    mine = folder / "mine.csv"
    mine.write_text("my own file\n")
    with pytest.raises(ConfigError, match="did not write"):                   # a file the package did not write: refused before any chunk
        predict_file(student, source, mine, id_column="id", chunk_rows=CHUNK, progress=False)
    assert mine.read_text() == "my own file\n" and not parts_folder(mine).exists()
    _kill_part_way(folder, source, mine, force=True)
    assert mine.read_text() == "my own file\n"                                # with force: untouched until the run is whole
    _rerun(folder, source, mine, force=True)
    assert pd.read_csv(mine, dtype={"id": str})["id"].tolist() == frame["id"].tolist()   # then replaced, as asked
    _rerun(folder, source, mine)                                              # the package's own output now: a rerun replaces it
    theirs = folder / "theirs.csv"
    parts_folder(theirs).mkdir()
    (parts_folder(theirs) / "notes.txt").write_text("keep me")
    with pytest.raises(ConfigError, match="did not write.*move it away, or choose another output"):   # a folder of the user's at the parts' name: refused, saying what to do
        predict_file(student, source, theirs, id_column="id", chunk_rows=CHUNK, progress=False)
    assert (parts_folder(theirs) / "notes.txt").read_text() == "keep me" and not theirs.exists()


def test_dask_partitions_give_the_labels_of_predict_file(corpus):
    dd = pytest.importorskip("dask.dataframe")
    distributed = pytest.importorskip("distributed")
    from llm_distill.predict import partition_meta, predict_partition
    folder, frame = corpus
    source = folder / "comments.parquet"
    expected = pd.read_parquet(predict_file(load_student(folder / "student"), source, folder / "for-dask.parquet", id_column="id",
                                            chunk_rows=CHUNK, progress=False))
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
         distributed.Client(cluster):
        corpus_frame = dd.read_parquet(source).repartition(npartitions=4)
        got = corpus_frame.map_partitions(predict_partition, str(folder / "student"), id_column="id",
                                                 meta=partition_meta(folder / "student", id_column="id")).compute()
    got = got.reset_index(drop=True)
    assert got["id"].tolist() == expected["id"].tolist()
    assert got["label"].astype(object).where(got["label"].notna(), None).tolist() == \
        expected["label"].astype(object).where(expected["label"].notna(), None).tolist()
    assert got["status"].tolist() == expected["status"].tolist()
    for column in [c for c in expected.columns if c.startswith("p_")]:
        np.testing.assert_array_equal(got[column].to_numpy(np.float32), expected[column].to_numpy(np.float32))


def test_an_embedding_student_streams_in_bounded_memory(tmp_path):
    "The encoder forgets its oldest embeddings beyond its limit, so a corpus of millions never piles up in memory; the labels do not change."
    from llm_distill.encoder import SentenceEncoder
    data = load_dataset("theocharis-incivility").data.dropna(subset=["human_label"])
    encoder = SentenceEncoder(memory_limit=50)
    student = train_student(data["text"].iloc[:120].tolist(), data["human_label"].iloc[:120].astype(str).tolist(), recipe="embed", encoder=encoder)
    assert len(encoder.memory) <= 50
    pd.DataFrame({"id": range(200), "text": data["text"].iloc[120:320].tolist()}).to_csv(tmp_path / "new.csv", index=False)
    predict_file(student, tmp_path / "new.csv", tmp_path / "labels.csv", id_column="id", chunk_rows=40, progress=False)
    assert len(encoder.memory) <= 50
    unbounded = SentenceEncoder()
    expected = student.head.predict_proba(unbounded(data["text"].iloc[120:320].tolist())).argmax(1)
    assert pd.read_csv(tmp_path / "labels.csv")["label"].tolist() == [student.label_names[i] for i in expected]


def test_an_embedding_students_labels_do_not_depend_on_earlier_chunks(tmp_path):
    "A chunk whose texts were met in earlier chunks gets the bits it gets in a fresh process: so a resumed run is byte-identical."
    data = load_dataset("theocharis-incivility").data.dropna(subset=["human_label"])
    student = train_student(data["text"].iloc[:120].tolist(), data["human_label"].iloc[:120].astype(str).tolist(), recipe="embed")
    folder = student.save(tmp_path / "student")
    new = data["text"].iloc[120:400].tolist()
    rows = new[:100] + new[100:200] + new[:30] + new[200:270]   # the third chunk repeats 30 texts of the first: its batches differ if they are skipped
    pd.DataFrame({"id": range(300), "text": rows}).to_parquet(tmp_path / "all.parquet", index=False)
    pd.DataFrame({"id": range(200, 300), "text": rows[200:]}).to_parquet(tmp_path / "last.parquet", index=False)
    whole = pd.read_parquet(predict_file(load_student(folder), tmp_path / "all.parquet", tmp_path / "a.parquet", id_column="id", chunk_rows=100, progress=False))
    alone = pd.read_parquet(predict_file(load_student(folder), tmp_path / "last.parquet", tmp_path / "b.parquet", id_column="id", chunk_rows=100, progress=False))
    columns = [c for c in whole.columns if c.startswith("p_")]
    assert whole.iloc[200:][columns].reset_index(drop=True).equals(alone[columns])


def test_a_changed_source_with_its_old_size_and_date_starts_over(corpus):
    "A corrected file copied in with its old date (cp -p, rsync -t) and the same size is still a changed file."
    folder, frame = corpus
    source, destination = folder / "same-size.csv", folder / "same-size-labels.csv"
    frame.to_csv(source, index=False)
    stat = source.stat()
    _kill_part_way(folder, source, destination)
    frame.assign(text=frame["text"].iloc[::-1].to_numpy()).to_csv(source, index=False)   # the same bytes, reordered
    os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert source.stat().st_size == stat.st_size and source.stat().st_mtime_ns == stat.st_mtime_ns
    err = _rerun(folder, source, destination)
    assert "starting over" in err and "resuming:" not in err, err[-2000:]
    reference = predict_file(load_student(folder / "student"), source, folder / "same-size-whole.csv", id_column="id", chunk_rows=CHUNK, progress=False)
    assert destination.read_bytes() == reference.read_bytes()


def test_a_source_that_fails_part_way_keeps_the_finished_parts(corpus, monkeypatch):
    "An error reading the source after some chunks (a bad row, or a read interrupted by Ctrl-C) loses none of them; a file of no rows leaves nothing."
    import llm_distill.predict as predict
    from llm_distill.core import DataError
    folder, frame = corpus
    source, destination = folder / "breaks.csv", folder / "breaks-labels.csv"
    frame.to_csv(source, index=False)
    chunks = predict.table_chunks
    def breaking(*args, **kwargs):
        for i, chunk in enumerate(chunks(*args, **kwargs)):
            if i == 3: raise DataError("breaks.csv: cannot be parsed as csv: Calling read(nbytes) on source failed")
            yield chunk
    monkeypatch.setattr(predict, "table_chunks", breaking)
    with pytest.raises(DataError, match="read"):
        predict_file(load_student(folder / "student"), source, destination, id_column="id", chunk_rows=CHUNK, progress=False)
    assert len(list(parts_folder(destination).glob("part-*.parquet"))) == 3
    monkeypatch.setattr(predict, "table_chunks", chunks)
    whole = predict_file(load_student(folder / "student"), source, destination, id_column="id", chunk_rows=CHUNK, progress=False)
    reference = predict_file(load_student(folder / "student"), source, folder / "breaks-whole.csv", id_column="id", chunk_rows=CHUNK, progress=False)
    assert whole.read_bytes() == reference.read_bytes() and not parts_folder(destination).exists()
    (folder / "header.csv").write_text("id,text\n")
    with pytest.raises(DataError, match="no rows"):
        predict_file(load_student(folder / "student"), folder / "header.csv", folder / "header-labels.csv", id_column="id", progress=False)
    assert not parts_folder(folder / "header-labels.csv").exists()


def test_a_missing_text_is_never_labelled_whatever_its_kind_of_missing(corpus, tmp_path):
    "None, NaN and pandas' NA (Parquet read with nullable strings, and Dask's partitions) are all marked, never classified as '<NA>'."
    from llm_distill.predict import predict_partition
    folder, _ = corpus
    frame = pd.DataFrame({"id": ["a", "b", "c", "d"], "text": ["hello there", None, "", "good morning"]}).convert_dtypes()
    assert frame["text"].iloc[1] is pd.NA
    frame.to_parquet(tmp_path / "na.parquet", index=False)
    out = pd.read_csv(predict_file(load_student(folder / "student"), tmp_path / "na.parquet", tmp_path / "na.csv", id_column="id", progress=False),
                      keep_default_na=False)
    assert out["status"].tolist() == ["ok", "empty text: not labelled", "empty text: not labelled", "ok"]
    assert out.loc[1, "label"] == "" and out.loc[0, "label"] != ""
    partition = predict_partition(frame, folder / "student", id_column="id")
    assert partition["status"].tolist() == out["status"].tolist() and partition["label"].isna().tolist() == [False, True, True, False]


def test_cli_chunk_rows_keeps_parts_of_that_size_and_a_rerun_with_another_keeps_them_too(corpus, tmp_path, capsys):
    "`predict --chunk-rows N` keeps parts of N rows; a rerun with another N is refused, the parts kept, saying how to continue or start over."
    from llm_distill.cli import main
    folder, frame = corpus
    command = ["predict", "-q", "--student", str(folder / "student"), "--input", str(folder / "comments.parquet"), "--id", "id"]
    assert main([*command, "--output", str(tmp_path / "whole.csv")]) == 0
    destination = tmp_path / "chunked.csv"
    _kill_part_way(folder, folder / "comments.parquet", destination)   # parts of CHUNK rows, from a run stopped part-way
    kept = sorted(p.name for p in parts_folder(destination).glob("part-*.parquet"))
    capsys.readouterr()
    assert main([*command, "--output", str(destination), "--chunk-rows", "250"]) != 0
    err = capsys.readouterr().err
    assert f"{len(kept) * CHUNK} rows of a stopped run" in err and "chunk_rows (100, now 250)" in err and "id_column" not in err, err   # what changed, and only that
    assert "--no-resume" in err and "Traceback" not in err, err
    assert sorted(p.name for p in parts_folder(destination).glob("part-*.parquet")) == kept and not destination.exists()   # nothing done is lost
    assert main([*command, "--output", str(destination), "--chunk-rows", str(CHUNK)]) == 0   # as it was: it continues
    assert destination.read_bytes() == (tmp_path / "whole.csv").read_bytes()
    _kill_part_way(folder, folder / "comments.parquet", tmp_path / "again.csv")
    assert main([*command, "--output", str(tmp_path / "again.csv"), "--chunk-rows", "250", "--no-resume"]) == 0   # or it starts over when told to
    assert (tmp_path / "again.csv").read_bytes() == (tmp_path / "whole.csv").read_bytes() and not parts_folder(tmp_path / "again.csv").exists()
    with pytest.raises(SystemExit):   # argparse refuses a chunk of no rows
        main([*command, "--output", str(tmp_path / "x.csv"), "--chunk-rows", "0"])
    assert not (tmp_path / "x.csv").exists()


def test_cli_ids_default_to_the_inputs_id_column(corpus, tmp_path):
    "Without --id, the output's ids are the input's `id` column when it has one (row numbers only when it has none): a join on `id` is right."
    from llm_distill.cli import main
    folder, frame = corpus
    assert main(["predict", "-q", "--student", str(folder / "student"), "--input", str(folder / "comments.csv"), "--output", str(tmp_path / "a.csv")]) == 0
    assert pd.read_csv(tmp_path / "a.csv", dtype={"id": str})["id"].tolist() == frame["id"].tolist()
    frame.rename(columns={"id": "doc"}).to_csv(tmp_path / "no-ids.csv", index=False)   # ids in a column not named id: not taken unasked
    assert main(["predict", "-q", "--student", str(folder / "student"), "--input", str(tmp_path / "no-ids.csv"), "--output", str(tmp_path / "b.csv")]) == 0
    assert pd.read_csv(tmp_path / "b.csv")["id"].tolist() == list(range(len(frame)))


def test_no_resume_leaves_no_parts_to_resume_from(corpus, tmp_path, capsys):
    "A run with resume=False discards an earlier run's parts: a later run starts from nothing, not from parts it was told to ignore."
    folder, frame = corpus
    destination = tmp_path / "labels.csv"
    _kill_part_way(folder, folder / "comments.parquet", destination)
    assert parts_folder(destination).is_dir()
    student = load_student(folder / "student")
    predict_file(student, folder / "comments.parquet", destination, id_column="id", chunk_rows=CHUNK, progress=False, resume=False)
    assert not parts_folder(destination).exists()
    predict_file(student, folder / "comments.parquet", tmp_path / "again.csv", id_column="id", chunk_rows=CHUNK, progress=True)
    assert "resuming" not in capsys.readouterr().err and (tmp_path / "again.csv").read_bytes() == destination.read_bytes()


def test_int8_asked_of_a_student_with_no_int8_form_says_why(corpus):
    from llm_distill.quantize import load_for_prediction
    folder, _ = corpus
    with pytest.raises(ConfigError, match="'tfidf' student has no int8 form"):
        load_for_prediction(folder / "student", "int8")


def test_the_bar_of_a_parquet_source_knows_its_rows(corpus, tmp_path, capsys):
    "Parquet states its row count, so the bar shows how far a run is (and a time left); a CSV's bar counts rows without a total."
    folder, frame = corpus
    student = load_student(folder / "student")
    predict_file(student, folder / "comments.parquet", tmp_path / "a.csv", id_column="id", chunk_rows=1000, progress=True)
    assert f"{len(frame)}/{len(frame)}" in capsys.readouterr().err
    predict_file(student, folder / "comments.csv", tmp_path / "b.csv", id_column="id", chunk_rows=1000, progress=True)
    assert f"/{len(frame)}" not in capsys.readouterr().err


def test_an_output_name_it_cannot_write_is_refused_before_anything_is_classified(corpus, tmp_path):
    folder, _ = corpus
    student, calls = load_student(folder / "student"), []
    predict_proba = student.predict_proba
    student.predict_proba = lambda texts, batch_size=64: calls.append(len(texts)) or predict_proba(texts, batch_size)
    for name in ("labels.json", "labels.xlsx", "labels"):
        with pytest.raises(ConfigError, match=r"write predictions to a \.csv, \.tsv or \.parquet file"):
            predict_file(student, folder / "comments.parquet", tmp_path / name, progress=False)
        assert not parts_folder(tmp_path / name).exists() and not (tmp_path / name).exists()
    assert calls == []   # not one text classified (not even the fingerprint's two)


def test_a_stopped_run_continued_in_another_precision_is_refused_naming_both(corpus, tmp_path, capsys):
    "A run stopped by hand says what it kept and how to go on; its parts, continued by the student in another form: refused, naming both precisions, until told to start over."
    folder, _ = corpus
    student, calls = load_student(folder / "student"), []
    predict_proba = student.predict_proba
    def stopping(texts, batch_size=64):   # the probe, the first chunk, then Ctrl-C
        calls.append(len(texts))
        if len(calls) == 3: raise KeyboardInterrupt
        return predict_proba(texts, batch_size)
    student.predict_proba = stopping
    with pytest.raises(KeyboardInterrupt): predict_file(student, folder / "comments.parquet", tmp_path / "out.parquet", chunk_rows=1000, progress=False)
    assert parts_folder(tmp_path / "out.parquet").is_dir()
    assert f"stopped: 1000 rows classified are kept in {parts_folder(tmp_path / 'out.parquet')}; run the same command again to continue" in capsys.readouterr().err
    other = load_student(folder / "student")
    other.name = "int8"   # as an int8 form of it would be named
    with pytest.raises(DataError, match=r"1000 rows of a stopped run .* another precision \('fp32', now 'int8'\); rerun as it was to continue it, or pass resume=False"):
        predict_file(other, folder / "comments.parquet", tmp_path / "out.parquet", chunk_rows=1000, progress=False)
    predict_file(other, folder / "comments.parquet", tmp_path / "out.parquet", chunk_rows=1000, progress=False, resume=False)   # told to start over: it does


@pytest.mark.parametrize("resume", [True, False])
def test_an_id_repeated_across_chunks_is_told_and_every_row_still_labelled(corpus, tmp_path, resume):
    "Ids that repeat (here across chunks, written as '007' and '7' too) are named by their first repeating row; no row is lost or merged."
    import warnings
    folder, frame = corpus
    rows = frame.iloc[:250].copy()
    rows.loc[[3, 180], "id"] = "007"; rows.loc[120, "id"] = "7"; rows.loc[230, "id"] = rows.loc[20, "id"]   # '7' is not '007'
    rows.to_csv(tmp_path / "repeats.csv", index=False)
    student = load_student(folder / "student")
    with pytest.warns(UserWarning, match=r"repeats\.csv: 2 row\(s\) repeat the id of an earlier row \(the first at row 180, counted from 0, id '007'\)"):
        written = predict_file(student, tmp_path / "repeats.csv", tmp_path / "labels.csv", chunk_rows=100, progress=False, resume=resume)
    out = pd.read_csv(written, dtype={"id": str})
    assert out["id"].tolist() == rows["id"].tolist() and len(out) == 250
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # unique ids: nothing to tell
        predict_file(student, folder / "comments.csv", tmp_path / "unique.csv", chunk_rows=1000, progress=False, resume=resume)
