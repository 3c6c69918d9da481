"""The boundary by construction: no module but `boundary` reads a user's table or deletes a folder, and no command writes
its output any way but through `outputs.write_table` / `table_writer` (atomic, never over an input or a file of the user's)."""
import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "llm_distill"
READERS = {"read_csv", "read_parquet", "read_excel", "read_json", "read_table", "ParquetFile"}   # pandas / pyarrow table readers
# Files the package itself wrote and reads back (a run's results.csv, its comparisons.csv) are not user data.
OWN_FILES = {"report.py": {"read_csv"}}


def calls(path):
    "Every (name, line) called in a module: `f(...)`, `x.f(...)`."
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            owner = getattr(func.value, "id", None) if isinstance(func, ast.Attribute) else None
            yield name, owner, node.lineno


@pytest.mark.parametrize("module", sorted(p.name for p in PACKAGE.glob("*.py") if p.name not in ("boundary.py", "_modidx.py")))
def test_only_the_boundary_reads_tables_and_deletes_folders(module):
    allowed = OWN_FILES.get(module, set())
    for name, owner, line in calls(PACKAGE / module):
        if name in READERS and name not in allowed and owner in ("pd", "pandas", "pq", None) and name != "read_table":
            pytest.fail(f"{module}:{line} reads a table with {owner}.{name}; read user data through llm_distill.boundary (read_table, table_chunks, read_labels)")
        if name == "rmtree": pytest.fail(f"{module}:{line} deletes a folder; use boundary.clear_folder, which never deletes a folder the package did not write")


def test_commands_write_outputs_only_through_the_boundary():
    for name, owner, line in calls(PACKAGE / "cli.py"):
        assert name not in ("to_csv", "to_parquet", "to_json", "to_excel", "write_text"), \
            f"cli.py:{line} writes with {name}; use outputs.write_table (atomic, refuses to replace an input or a file of the user's)"


def test_every_command_that_reads_a_file_offers_the_same_table_options():
    from llm_distill.cli import build_parser
    import contextlib, io
    for name in ("label", "validate", "train", "predict", "estimate"):
        shown = io.StringIO()
        with contextlib.redirect_stdout(shown), pytest.raises(SystemExit): build_parser().parse_args([name, "--help"])
        assert all(option in shown.getvalue() for option in ("--format", "--sep", "--encoding")), name


def test_cli_reads_label_codes_as_written(tmp_path):
    "`train --file` reads the label column as written: codes `01`, `02` (quoted in the codebook) are not the numbers 1 and 2."
    import pandas as pd
    from llm_distill.cli import main
    (tmp_path / "codebook.yaml").write_text("task: sentiment\nrequire_definitions: false\nlabels:\n"
                                            "  - {name: neutral, code: '01'}\n  - {name: positive, code: '02'}\n")
    texts = [f"{w} day number {i}" for i in range(30) for w in ("plain", "lovely")]
    pd.DataFrame({"id": range(60), "text": texts, "code": ["01" if t.startswith("plain") else "02" for t in texts]}).to_csv(tmp_path / "coded.csv", index=False)
    assert (tmp_path / "coded.csv").read_text().splitlines()[1].endswith(",01")
    assert main(["train", "-q", "--file", str(tmp_path / "coded.csv"), "--codebook", str(tmp_path / "codebook.yaml"), "--label", "code",
                 "--recipe", "tfidf", "--output", str(tmp_path / "student")]) == 0
    assert main(["predict", "-q", "--student", str(tmp_path / "student"), "--input", str(tmp_path / "coded.csv"), "--output", str(tmp_path / "out.csv")]) == 0
    out = pd.read_csv(tmp_path / "out.csv")
    assert out["label"].tolist() == ["neutral" if t.startswith("plain") else "positive" for t in texts]


def test_a_table_split_by_another_separator_is_named_with_the_one_it_looks_split_by(tmp_path):
    "A semicolon CSV read as commas fails in pandas; the error says which separator its lines look split by, for both readers."
    from llm_distill.boundary import read_table, table_chunks
    from llm_distill.core import DataError
    (tmp_path / "semi.csv").write_text("id;label;text\n1;a;hello there\n2;b;good, bad day, ok\n3;a;x\n4;a;y, z\n")
    for read in (lambda: read_table(tmp_path / "semi.csv"), lambda: list(table_chunks(tmp_path / "semi.csv"))):
        with pytest.raises(DataError, match=r"semi\.csv: row 1 \(line 3 of the file\) has 3 fields but the header has 1 .*; its lines look separated by ';': set the sep option \(--sep ';'\)$"):
            read()
    assert read_table(tmp_path / "semi.csv", sep=";")["text"].tolist()[1] == "good, bad day, ok"


def test_a_refused_train_or_validate_leaves_no_folder_behind(tmp_path, capsys):
    "A command refused for its input leaves --output as it found it: a folder it made is gone, an empty folder of the user's stays unmarked."
    import pandas as pd
    from llm_distill.cli import main
    from llm_distill.folders import OWNED_MARKER
    (tmp_path / "codebook.yaml").write_text("task: t\nrequire_definitions: false\nlabels:\n  - {name: calm}\n  - {name: rude}\n")
    pd.DataFrame({"id": range(4), "text": list("abcd"), "label": ["calm", "rude", "maybe", "calm"]}).to_csv(tmp_path / "bad.csv", index=False)
    common = ["--file", str(tmp_path / "bad.csv"), "--codebook", str(tmp_path / "codebook.yaml")]
    assert main(["train", "-q", *common, "--recipe", "tfidf", "--output", str(tmp_path / "student")]) != 0   # no --label: said, not a KeyError
    assert "train needs labels, and bad.csv was read without them: --label names" in capsys.readouterr().err and not (tmp_path / "student").exists()
    common += ["--label", "label"]
    assert main(["train", "-q", *common, "--recipe", "tfidf", "--output", str(tmp_path / "student")]) != 0
    assert "'maybe'" in capsys.readouterr().err and not (tmp_path / "student").exists()
    (tmp_path / "empty").mkdir()
    assert main(["train", "-q", *common, "--recipe", "tfidf", "--output", str(tmp_path / "empty")]) != 0
    assert list((tmp_path / "empty").iterdir()) == []
    pd.DataFrame({"id": range(4), "label": ["calm"] * 4}).to_csv(tmp_path / "ann.csv", index=False)
    assert main(["validate", *common, str(tmp_path / "ann.csv"), "--output", str(tmp_path / "report")]) != 0
    assert not (tmp_path / "report").exists() and not (tmp_path / OWNED_MARKER).exists()


def test_annotation_rows_of_texts_not_in_the_corpus_are_told_not_dropped_silently(tmp_path, capsys):
    "Rows of an annotations file whose ids the corpus lacks are left out, and the command says how many and which."
    import pandas as pd
    from llm_distill.cli import main
    (tmp_path / "codebook.yaml").write_text("task: t\nrequire_definitions: false\nlabels:\n  - {name: calm}\n  - {name: rude}\n")
    pd.DataFrame({"id": ["007", "7", "8"], "text": ["a", "b", "c"], "label": ["calm", "rude", "calm"]}).to_csv(tmp_path / "human.csv", index=False)
    pd.DataFrame({"id": ["007", "7", "8", "0008", "9"], "label": ["calm", "rude", "rude", "calm", "calm"]}).to_csv(tmp_path / "ann.csv", index=False)
    assert main(["validate", "--file", str(tmp_path / "human.csv"), "--codebook", str(tmp_path / "codebook.yaml"),
                 str(tmp_path / "ann.csv"), "--label", "label", "--output", str(tmp_path / "report")]) == 0
    assert "note: 2 row(s) of ann.csv have ids not in human.csv, e.g. ['0008', '9']: left out" in capsys.readouterr().err


def test_json_lines_ids_are_read_as_written(tmp_path):
    "JSON Lines ids keep their text: 7, 7.0 and 1e3 are three ids, and '007' stays '007'; other numbers stay numbers."
    from llm_distill.boundary import read_table
    (tmp_path / "x.jsonl").write_text('{"id": 7, "text": "a", "n": 1.5}\n{"id": 7.0, "text": "b", "n": [1, 2.0]}\n'
                                      '{"id": 1e3, "text": "c", "n": {"k": 3}}\n{"id": "007", "text": "d", "n": null}\n')
    frame = read_table(tmp_path / "x.jsonl")
    assert frame["id"].tolist() == ["7", "7.0", "1e3", "007"] and all(type(i) is str for i in frame["id"])
    assert frame["n"].tolist()[:3] == [1.5, [1, 2.0], {"k": 3}] and type(frame["n"][1][0]) is int


def test_json_lines_true_and_false_ids_are_spelled_as_json_writes_them(tmp_path):
    "An id `true` came back as `True` (Python's spelling), so it joined no label keyed `true`; a list or an object as an id is refused, naming its line."
    import pytest
    from llm_distill.boundary import read_table
    from llm_distill.core import DataError
    (tmp_path / "x.jsonl").write_text('{"id": true, "text": "a"}\n{"id": false, "text": "b"}\n{"id": "True", "text": "c"}\n')
    assert read_table(tmp_path / "x.jsonl")["id"].tolist() == ["true", "false", "True"]
    (tmp_path / "y.jsonl").write_text('{"id": "a", "text": "a"}\n\n{"id": [1, 2], "text": "b"}\n')
    with pytest.raises(DataError, match=r"y.jsonl: line 3: id 'id' is a JSON array; an id is a string or a number"): read_table(tmp_path / "y.jsonl")
    assert read_table(tmp_path / "y.jsonl", ids=())["id"].tolist()[1] == [1, 2]   # not an id column: kept as the list it is


def test_a_python_list_pandas_wrote_to_a_csv_is_a_label_set_and_is_never_run(tmp_path):
    "`['Security']` is what pandas writes for a list: it was refused as an unknown label; it is read as a literal, and code in its place is refused, not run."
    import pandas as pd
    from llm_distill.boundary import as_codebook, read_labels
    from llm_distill.core import LabelError
    codebook = as_codebook(["Security", "Economy"], multi_label=True)
    pd.DataFrame({"id": ["a", "b", "c"], "label": [["Security"], ["economy", "Security"], []]}).to_csv(tmp_path / "h.csv", index=False)
    assert read_labels(tmp_path / "h.csv", codebook)["label"].tolist() == ["Security", "Security|Economy", ""]
    (tmp_path / "bad.csv").write_text('id,label\na,"[__import__(\'os\').system(\'touch ran\')]"\n')
    with pytest.raises(LabelError, match="not in codebook"): read_labels(tmp_path / "bad.csv", codebook)
    assert not (tmp_path / "ran").exists() and not Path("ran").exists()


def test_a_label_set_joined_with_commas_is_refused_with_the_spelling_that_works():
    "`hate, offensive` was refused with \"did you mean 'offensive'?\"; the hint now shows the set as the package reads it."
    from llm_distill.boundary import as_codebook, labels_as_names
    from llm_distill.core import LabelError
    codebook = as_codebook(["hate", "offensive", "neither"], multi_label=True)
    with pytest.raises(LabelError, match=r"'hate, offensive': did you mean 'hate\|offensive'\?"): labels_as_names(["hate|offensive", "hate, offensive"], codebook)
    with pytest.raises(LabelError, match=r"'Offensive; Hate': did you mean 'hate\|offensive'\?"): labels_as_names(["Offensive; Hate"], codebook)


def test_a_table_given_as_the_cache_is_named_as_not_a_cache_and_left_alone(tmp_path, capsys):
    "`--cache coded.csv` said 'the cache file is damaged ... move it aside'; it is not a cache at all, and says so."
    from llm_distill.cli import main
    (tmp_path / "d.csv").write_text("id,text,label,llm\n" + "".join(f"{i},text {i},toxic,toxic\n" for i in range(5)))
    (tmp_path / "coded.csv").write_text("id,label\n1,toxic\n")
    assert main(["label", "--file", str(tmp_path / "d.csv"), "--label", "label", "--codebook", "textclass-toxicity", "--backend", "replay",
                 "--column", "llm", "--model", "m", "--cache", str(tmp_path / "coded.csv"), "--output", str(tmp_path / "a.csv"), "-q"]) == 2
    err = capsys.readouterr().err
    assert "is not an llm_distill cache (a text file, not an SQLite one" in err and "damaged" not in err, err
    assert (tmp_path / "coded.csv").read_text() == "id,label\n1,toxic\n" and not (tmp_path / "a.csv").exists()


@pytest.mark.parametrize("suffix", [".gz", ".bz2", ".xz"])
def test_compressed_text_tables_are_read_by_the_same_rules(tmp_path, suffix):
    "A corpus.csv.gz was 'unknown format .gz'; compressed CSV, TSV, JSON Lines and text files are read, streamed, as the uncompressed ones are."
    import bz2, gzip, lzma
    import pandas as pd
    from llm_distill.boundary import read_table, table_chunks
    from llm_distill.core import DataError
    opener = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}[suffix]
    def write(name, data: bytes):
        with opener(tmp_path / f"{name}{suffix}", "wb") as file: file.write(data)
        return tmp_path / f"{name}{suffix}"
    csv_file = write("corpus.csv", "id,text\n007,é tweet\n8,\"a, b\"\n".encode())
    assert read_table(csv_file).to_dict("list") == {"id": ["007", "8"], "text": ["é tweet", "a, b"]}
    assert [len(c) for c in table_chunks(csv_file, chunk_rows=1)] == [1, 1]
    assert read_table(write("corpus.tsv", b"id\ttext\n01\tx\n"))["id"].tolist() == ["01"]
    assert read_table(write("corpus.jsonl", b'{"id": 7.0, "text": "x"}\n'))["id"].tolist() == ["7.0"]
    assert read_table(write("corpus.txt", b"one\ntwo\n"))["text"].tolist() == ["one", "two"]
    assert read_table(write("corpus", b"id,text\n1,x\n"), format="csv")["id"].tolist() == ["1"]   # no inner extension: the format said
    with pytest.raises(DataError, match=r"line 3 has bytes that are not valid utf-8"): read_table(write("latin.csv", "id,text\n1,a\n2,caf\xe9\n".encode("latin-1")))
    with pytest.raises(DataError, match=r"line 2 holds a NUL byte"): read_table(write("nul.csv", b"id,text\n1,a\x00b\n"))
    with pytest.raises(DataError, match=r"row 0 \(line 2 of the file\) has 3 fields"): read_table(write("ragged.csv", b"id,text\n1,a,extra\n"))
    with pytest.raises(DataError, match="columns 1 and 2 are both named 'id'"): read_table(write("twice.csv", b"id,id\n1,2\n"))
    with pytest.raises(DataError, match=r"open.csv.*: row 0 \(line 2 of the file\) opens a quote"): read_table(write("open.csv", b'id,text\n1,"never closed\n'))


def test_compressed_binary_tables_and_archives_are_refused_with_what_to_do(tmp_path):
    import gzip
    import pandas as pd
    from llm_distill.boundary import read_table
    from llm_distill.core import DataError
    pd.DataFrame({"id": ["1"], "text": ["x"]}).to_parquet(tmp_path / "t.parquet", index=False)
    (tmp_path / "t.parquet.gz").write_bytes(gzip.compress((tmp_path / "t.parquet").read_bytes()))
    with pytest.raises(DataError, match=r"t.parquet.gz: a compressed \(.gz\) file is read only when it holds a CSV.*decompress it first"):
        read_table(tmp_path / "t.parquet.gz")
    (tmp_path / "t.gz").write_bytes(gzip.compress(b"id,text\n1,x\n"))
    with pytest.raises(DataError, match="name it so, or set the format option"): read_table(tmp_path / "t.gz")
    (tmp_path / "t.zip").write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(DataError, match=r"a .zip archive is not read; extract the table"): read_table(tmp_path / "t.zip")
    with pytest.raises(DataError, match="file not found"): read_table(tmp_path / "missing.csv.gz")
    import bz2, lzma
    whole = b"id,text\n" + b"".join(b"%d,text number %d\n" % (i, i) for i in range(3000))
    for name, packed in (("cut.csv.gz", gzip.compress(whole)), ("cut.tsv.bz2", bz2.compress(whole)), ("cut.jsonl.xz", lzma.compress(whole))):
        (tmp_path / name).write_bytes(packed[:len(packed) // 2])            # a download cut short (helper-26: a raw EOFError traceback)
        with pytest.raises(DataError, match=rf"{name}: cannot be decompressed .*damaged, incomplete"): read_table(tmp_path / name)
    (tmp_path / "plain.csv.gz").write_bytes(whole)                          # named .gz, never compressed
    with pytest.raises(DataError, match="not compressed as its name says"): read_table(tmp_path / "plain.csv.gz")


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_a_later_row_too_long_or_an_open_quote_is_named_by_its_row_and_line(tmp_path, newline):
    "pandas counts lines its own way (a quoted text over two lines, CRLF); the package names the row, counted from 0, and the file's line, for both readers."
    from llm_distill.boundary import read_table, table_chunks
    from llm_distill.core import DataError
    long_row = newline.join(["id,text,label", "1,hello,a", '2,"two', 'lines",b', "3,x,y,z", "4,ok,a", ""])
    open_quote = newline.join(["id,text", "1,ok", '2,"never closed', "3,x", ""])
    (tmp_path / "long.csv").write_bytes(long_row.encode()); (tmp_path / "quote.csv").write_bytes(open_quote.encode())
    for read in (read_table, lambda path: list(table_chunks(path))):
        with pytest.raises(DataError, match=r"long\.csv: row 2 \(line 5 of the file\) has 4 fields but the header has 3 \(extra: \['z'\]\); is a column name missing"):
            read(tmp_path / "long.csv")
        with pytest.raises(DataError, match=r"quote\.csv: row 1 \(line 3 of the file\) opens a quote \(\"\) never closed"):
            read(tmp_path / "quote.csv")


def test_a_table_read_as_one_column_is_told_its_separator_by_every_entry_point(tmp_path):
    "A semicolon file read with commas has one column: make_corpus and predict_file both say which separator to set."
    import numpy as np
    from llm_distill.boundary import read_table
    from llm_distill.core import DataError
    from llm_distill.corpus import make_corpus
    from llm_distill.predict import predict_file
    from llm_distill.students import make_recipe
    (tmp_path / "semi.csv").write_text("id;text;label\n1;hello;a\n2;bye;b\n")
    hint = r"text column 'text' not found; columns are \['id;text;label'\] .*set the sep option \(--sep ';'\)\)$"
    with pytest.raises(DataError, match=hint): make_corpus(read_table(tmp_path / "semi.csv"), name="semi.csv")
    student = make_recipe("tfidf", ["calm", "rude"]).fit(["calm words", "rude words", "more calm", "more rude"] * 3, np.eye(2)[[0, 1, 0, 1] * 3])
    with pytest.raises(DataError, match=hint): predict_file(student, tmp_path / "semi.csv", tmp_path / "out.csv", progress=False)
    assert not (tmp_path / "out.csv").exists()


def test_an_empty_id_is_named_by_its_row_with_what_to_do(tmp_path):
    from llm_distill.boundary import read_table
    from llm_distill.core import DataError
    from llm_distill.corpus import make_corpus
    (tmp_path / "ids.csv").write_text("id,text\n1,hello\n,bye\n3,again\n")
    with pytest.raises(DataError, match=r"id column 'id' is empty at row\(s\) \[1\] \(counted from 0\); give every row an id"):
        make_corpus(read_table(tmp_path / "ids.csv"), id="id", name="ids.csv")
    from llm_distill.predict import predict_file
    with pytest.raises(DataError, match=r"ids.csv: id column 'id' is empty at row\(s\) \[1\] \(counted from 0\); give every row an id"):
        predict_file(_tfidf_student(), tmp_path / "ids.csv", tmp_path / "out.csv", progress=False)   # the same words from predict


def _tfidf_student():
    import numpy as np
    from llm_distill.students import make_recipe
    return make_recipe("tfidf", ["calm", "rude"]).fit(["calm words", "rude words", "more calm", "more rude"] * 3, np.eye(2)[[0, 1, 0, 1] * 3])


def test_a_blank_line_of_a_one_column_table_is_an_empty_text_kept_in_its_row(tmp_path):
    "In a one-column CSV a blank line is an empty value (as a .txt file reads it): kept in its row, so the row numbers are the file's."
    import pandas as pd
    from llm_distill.boundary import read_table, table_chunks
    from llm_distill.predict import predict_file
    source = tmp_path / "one.csv"
    source.write_text('text\nyou are rude\n\nthank you so calm\n""\nrude words\n')
    for frame in (read_table(source), pd.concat(list(table_chunks(source, 2)), ignore_index=True)):
        assert frame["text"].isna().tolist() == [False, True, False, True, False] and frame["text"].tolist()[4] == "rude words"
    student = _tfidf_student()
    out = pd.read_csv(predict_file(student, source, tmp_path / "out.csv", progress=False))
    assert out["id"].tolist() == [0, 1, 2, 3, 4] and out["status"].tolist()[1] == "empty text: not labelled"
    assert out["label"].tolist()[4] == student.predict(["rude words"])[0]   # row 4 is the file's row 4, not the next one's
    (tmp_path / "two.csv").write_text("id,text\n1,a\n\n2,b\n\n")   # a blank line in a wider table is no row (it has no fields)
    assert read_table(tmp_path / "two.csv")["id"].tolist() == ["1", "2"]


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_a_table_read_only_in_part_is_closed(tmp_path, suffix):
    "A reader stopped early (the first chunk, or the row a repeated id is at) closes the file: no `ResourceWarning`, no handle left open."
    import gc
    import warnings
    import pandas as pd
    from llm_distill.boundary import table_chunks
    from llm_distill.predict import predict_file
    frame = pd.DataFrame({"id": ["1", "2", "1", "3"] * 50, "text": ["calm", "rude words", "x", "y"] * 50})
    source = tmp_path / f"ids.{suffix}"
    frame.to_csv(source, index=False) if suffix == "csv" else frame.to_parquet(source, index=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        next(iter(table_chunks(source, 10)))
        predict_file(_tfidf_student(), source, tmp_path / "out.csv", chunk_rows=30, progress=False)
        gc.collect()
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []
    assert any("repeat the id of an earlier row (the first at row 2" in str(w.message) for w in caught)


def test_an_id_column_named_in_another_case_is_pointed_out_not_guessed(tmp_path):
    "A file whose ids are in `ID` gets row numbers, as documented, and a warning naming the column and the option that copies it."
    import pandas as pd
    from llm_distill.predict import predict_file
    (tmp_path / "upper.csv").write_text("ID,text\n0007,calm words\n0008,rude words\n")
    with pytest.warns(UserWarning, match=r"upper\.csv: no column is named 'id', so the rows' ids are their row numbers.*pass id_column='ID' \(--id 'ID'\)"):
        numbered = predict_file(_tfidf_student(), tmp_path / "upper.csv", tmp_path / "numbered.csv", progress=False)
    assert pd.read_csv(numbered)["id"].tolist() == [0, 1]
    named = predict_file(_tfidf_student(), tmp_path / "upper.csv", tmp_path / "named.csv", id_column="ID", progress=False)
    assert pd.read_csv(named, dtype=str)["id"].tolist() == ["0007", "0008"]


def test_train_names_every_row_it_leaves_out(tmp_path, capsys):
    "A row with no label and a row with no text are both left out of training, and both are counted in what `train` says."
    import pandas as pd
    from llm_distill.cli import main
    (tmp_path / "codebook.yaml").write_text("task: sentiment\nrequire_definitions: false\nlabels:\n  - {name: neutral}\n  - {name: positive}\n")
    texts = [f"{w} day number {i}" for i in range(30) for w in ("plain", "lovely")]
    labels = ["neutral" if t.startswith("plain") else "positive" for t in texts]
    texts[3], labels[5] = "", None
    pd.DataFrame({"id": range(60), "text": texts, "label": labels}).to_csv(tmp_path / "coded.csv", index=False)
    assert main(["train", "-q", "--file", str(tmp_path / "coded.csv"), "--codebook", str(tmp_path / "codebook.yaml"), "--label", "label",
                 "--recipe", "tfidf", "--output", str(tmp_path / "student")]) == 0
    said = capsys.readouterr().err
    assert "training on 58 texts of coded.csv" in said and "1 text without a label left out" in said, said
    assert "note: 1 row(s) of coded.csv left out (missing text): ids ['3']" in said, said


def test_label_and_validate_say_which_rows_they_leave_out_for_an_empty_text(tmp_path, capsys):
    "label printed '58 of 58 texts labelled' and validate n=58 for a file of 60 rows, two with no text: nothing said which rows were left out."
    from llm_distill.cli import main
    rows = [(f"{i:04d}", f"text {i}" if i not in (5, 7) else ("" if i == 5 else "   "), "toxic" if i % 2 else "non-toxic") for i in range(60)]
    (tmp_path / "d.csv").write_text("id,text,label,llm\n" + "".join(f"{i},{t},{l},{l}\n" for i, t, l in rows))
    data = ["--file", str(tmp_path / "d.csv"), "--label", "label", "--codebook", "textclass-toxicity"]
    assert main(["label", *data, "--backend", "replay", "--column", "llm", "--model", "m", "--cache", str(tmp_path / "c.sqlite"),
                 "--output", str(tmp_path / "a.csv"), "-q"]) == 0
    said = capsys.readouterr().err
    assert "note: 2 row(s) of d.csv left out (missing text; empty or whitespace-only text): ids ['0005', '0007']" in said, said
    assert main(["validate", *data, str(tmp_path / "a.csv"), "--output", str(tmp_path / "v"), "-q"]) == 0
    assert "note: 2 row(s) of d.csv left out (missing text; empty or whitespace-only text): ids ['0005', '0007']" in capsys.readouterr().err
    assert main(["validate", *data, str(tmp_path / "a.csv"), "--output", str(tmp_path / "v2"), "--limit", "1000", "-q"]) == 0
    assert "note: --limit 1000 is more than the 58 texts of d.csv: all are used" in capsys.readouterr().err


@pytest.mark.parametrize("second_resumes", [True, False])
def test_a_second_run_on_the_same_output_is_refused_while_the_first_runs(tmp_path, second_resumes):
    "Two runs writing one output would mix and delete each other's parts (a run told not to resume cleared them); the second is refused, the first finishes whole, and the next run is free."
    import pandas as pd
    from llm_distill.core import DataError
    from llm_distill.predict import parts_folder, predict_file
    student, refused = _tfidf_student(), []
    source, destination = tmp_path / "texts.csv", tmp_path / "labels.csv"
    pd.DataFrame({"id": [f"{i:03d}" for i in range(100)], "text": ["calm words", "rude words"] * 50}).to_csv(source, index=False)
    class Meanwhile:   # the first run's student: on its third call (the second chunk), a second run starts on the same output
        calls = 0
        def __getattr__(self, name): return getattr(student, name)
        def predict_proba(self, texts, batch_size=64):
            Meanwhile.calls += 1
            if Meanwhile.calls == 3:
                with pytest.raises(DataError) as error: predict_file(student, source, destination, chunk_rows=20, progress=False, resume=second_resumes)
                refused.append(str(error.value))
            return student.predict_proba(texts, batch_size)
    predict_file(Meanwhile(), source, destination, chunk_rows=20, progress=False)
    assert len(refused) == 1 and "labels.csv.parts: another run is writing this output now" in refused[0]
    alone = predict_file(student, source, tmp_path / "alone.csv", chunk_rows=20, progress=False)
    assert destination.read_bytes() == alone.read_bytes() and not parts_folder(destination).exists()
    predict_file(student, source, destination, chunk_rows=20, progress=False)   # the first run over: its output can be made again


def test_labels_for_only_some_texts_are_refused_with_what_to_do(tmp_path, capsys):
    "An annotations file missing texts says how many, which ids of its own are strangers (written another way?), and what to give instead."
    import pandas as pd
    from llm_distill.cli import main
    (tmp_path / "codebook.yaml").write_text("task: sentiment\nrequire_definitions: false\nlabels:\n  - {name: neutral}\n  - {name: positive}\n")
    texts = [f"{w} day number {i}" for i in range(20) for w in ("plain", "lovely")]
    pd.DataFrame({"id": [f"{i:03d}" for i in range(40)], "text": texts}).to_csv(tmp_path / "posts.csv", index=False)
    pd.DataFrame({"id": [str(i) for i in range(40)], "label": ["neutral", "positive"] * 20}).to_csv(tmp_path / "annotations.csv", index=False)
    assert main(["train", "-q", "--file", str(tmp_path / "posts.csv"), "--codebook", str(tmp_path / "codebook.yaml"), "--annotations",
                 str(tmp_path / "annotations.csv"), "--recipe", "tfidf", "--output", str(tmp_path / "student")]) != 0
    said = capsys.readouterr().err
    assert "40 text id(s) of posts.csv have no row in" in said and "40 of its ids are not in posts.csv, e.g. ['0', '1'" in said, said
    assert "written another way?" in said and "label the others" in said and not (tmp_path / "student").exists(), said


def test_a_labels_file_missing_a_column_says_it_as_every_reader_does(tmp_path):
    "read_labels said 'missing column(s)' with no nearest name and no separator hint; it says what make_corpus and predict_file say."
    import pandas as pd, pytest
    from llm_distill.boundary import read_labels
    from llm_distill.core import DataError
    pd.DataFrame({"id": ["a"], "Label": ["x"]}).to_csv(tmp_path / "h.csv", index=False)
    with pytest.raises(DataError, match=r"h.csv: label column 'label' not found; columns are \['id', 'Label'\]; did you mean 'Label'\?$"):
        read_labels(tmp_path / "h.csv", ["x", "y"])
    (tmp_path / "s.csv").write_text("id;label\na;x\n")
    assert read_labels(tmp_path / "s.csv", ["x", "y"])["label"].tolist() == ["x"]   # its header names id and label split by ';': read so


def test_a_label_the_codebook_lacks_is_named_by_its_row_counted_from_0(tmp_path):
    "'at row 1' read as the file's first data line or its second; the message says rows are counted from 0, as the other readers' do."
    import pandas as pd
    from llm_distill.boundary import read_labels
    from llm_distill.core import LabelError
    pd.DataFrame({"id": ["a", "b"], "label": ["x", "z"]}).to_csv(tmp_path / "h.csv", index=False)
    with pytest.raises(LabelError, match=r"h.csv: column 'label' has label\(s\) \['z'\] not in codebook 'labels' at row 1 \(id 'b'\), counted from 0;"):
        read_labels(tmp_path / "h.csv", ["x", "y"])


def test_an_annotations_file_with_its_own_column_names_is_told_the_two_it_needs(tmp_path, capsys):
    "validate said 'id column 'id' not found' for an annotations file with 'doc id' (and --id names the human file's column): now it says to rename."
    import pandas as pd
    from llm_distill.cli import main
    (tmp_path / "codebook.yaml").write_text("task: t\nrequire_definitions: false\nlabels:\n  - {name: calm}\n  - {name: rude}\n")
    pd.DataFrame({"id": ["1", "2"], "text": ["a", "b"], "label": ["calm", "rude"]}).to_csv(tmp_path / "human.csv", index=False)
    pd.DataFrame({"doc id": ["1", "2"], "prediction": ["calm", "rude"]}).to_csv(tmp_path / "ann.csv", index=False)
    assert main(["validate", "--file", str(tmp_path / "human.csv"), "--codebook", str(tmp_path / "codebook.yaml"), "--label", "label",
                 str(tmp_path / "ann.csv"), "--output", str(tmp_path / "report")]) == 2
    said = capsys.readouterr().err
    assert "ann.csv: id column 'id' not found; columns are ['doc id', 'prediction']" in said
    assert "an annotations file has the columns id and label, as `label` and `predict` write them: rename yours to those" in said


def test_a_labels_file_with_another_separator_is_read_by_the_one_its_header_shows(tmp_path, capsys):
    "validate/train --annotations had no --sep (it applies to --file) and estimate's --sep to both files: a ';' labels file could not be read, its advice (--sep ';') did not work."
    import pandas as pd
    from llm_distill.boundary import as_codebook, read_labels
    from llm_distill.cli import main
    from llm_distill.core import DataError
    codebook = as_codebook(["yes", "no"])
    (tmp_path / "semi.csv").write_text("id;label;note\n007;yes;a, b\n8;no;c\n")
    (tmp_path / "comma.csv").write_text("id,label\n007,yes\n8,no\n")
    expected = read_labels(tmp_path / "comma.csv", codebook)
    assert read_labels(tmp_path / "semi.csv", codebook)[["id", "label"]].equals(expected)
    assert read_labels(tmp_path / "comma.csv", codebook, sep=";").equals(expected)   # --sep ';' meant for the other file
    assert read_labels(tmp_path / "semi.csv", codebook)["note"].tolist() == ["a, b", "c"]
    rows = [(f"t{i:03d}", "yes" if i % 3 else "no") for i in range(120)]
    (tmp_path / "machine.csv").write_text("id,label\n" + "".join(f"{i},{l}\n" for i, l in rows))
    (tmp_path / "human.csv").write_text("id;label\n" + "".join(f"{i};{l}\n" for i, l in rows[::2]))
    (tmp_path / "yes-no.yaml").write_text("task: yes or no\nrequire_definitions: false\nlabels: [{name: 'yes'}, {name: 'no'}]\n")
    assert main(["estimate", str(tmp_path / "machine.csv"), "--human", str(tmp_path / "human.csv"), "--codebook", str(tmp_path / "yes-no.yaml"),
                 "--sep", ";", "--output", str(tmp_path / "e.csv")]) == 0, capsys.readouterr().err
    assert pd.read_csv(tmp_path / "e.csv").query("method == 'ppi'").set_index("label").loc["yes", "n_human"] == 60
    (tmp_path / "one.csv").write_text("id label\n1 yes\n")   # no separator its header shows: the error as before
    with pytest.raises(DataError, match="column 'id' not found"): read_labels(tmp_path / "one.csv", codebook)
