"""int8 for a kept student: the onnxruntime network predicts as the student does where it agrees, its agreement is recorded and
decides "auto", a tampered int8 file is refused, and the command line trains and predicts with it."""
import json

import numpy as np
import pytest

from llm_distill.core import ConfigError


@pytest.fixture(scope="module")
def kept(tmp_path_factory):
    from llm_distill.data import load_dataset
    from llm_distill.export import save_transformers, student_card
    from llm_distill.quantize import quantize_student
    from llm_distill.selection import train_student
    data = load_dataset("textclass-toxicity").data
    texts, labels = data["text"].iloc[:200].tolist(), data["human_label"].iloc[:200].tolist()
    student = train_student(texts, labels, load_dataset("textclass-toxicity").codebook, recipe="embed")
    folder = save_transformers(student, tmp_path_factory.mktemp("kept") / "student", student_card(student))
    return folder, student, texts, quantize_student(folder, texts), data["text"].iloc[200:400].tolist()


def test_the_agreement_is_measured_recorded_and_decides_auto(kept):
    from llm_distill.quantize import INT8_AGREEMENT, load_for_prediction
    folder, student, texts, record, new = kept
    int8 = load_for_prediction(folder, "int8")
    assert record["agreement"] == pytest.approx(np.mean(np.array(int8.predict(texts)) == np.array(student.predict(texts))), abs=1e-4)
    assert json.loads((folder / "llm_distill.json").read_text())["int8"] == record
    assert record["chosen"] == (record["agreement"] >= INT8_AGREEMENT)
    auto = load_for_prediction(folder)
    assert type(auto).__name__ == ("Int8Student" if record["chosen"] else "FinetuneRecipe")
    np.testing.assert_allclose(int8.predict_proba(new).sum(1), 1, atol=1e-5)
    assert np.mean(np.array(int8.predict(new)) == np.array(student.predict(new))) > 0.95
    assert "## int8 on CPU" in (folder / "README.md").read_text()


def test_what_cannot_be_done_is_refused(kept, tmp_path):
    import shutil
    from llm_distill.quantize import load_for_prediction, quantize_student
    from llm_distill.students import TfidfRecipe
    folder, student, texts, record, _ = kept
    with pytest.raises(ConfigError, match="precision must be auto, fp32 or int8"): load_for_prediction(folder, "int4")
    tfidf = TfidfRecipe(student.label_names).fit(texts, np.eye(2)[[student.label_names.index(l) for l in student.predict(texts)]])
    own = tfidf.save(tmp_path / "tfidf")
    with pytest.raises(ConfigError, match="int8 needs a student kept in transformers format"): quantize_student(own, texts)
    with pytest.raises(ConfigError, match="'tfidf' student has no int8 form"): load_for_prediction(own, "int8")
    plain = shutil.copytree(folder, tmp_path / "plain")   # kept in transformers format, never quantised
    meta = json.loads((plain / "llm_distill.json").read_text())
    meta.pop("int8"); meta["files"].pop("onnx/model_qint8.onnx")
    (plain / "llm_distill.json").write_text(json.dumps(meta)); (plain / "onnx" / "model_qint8.onnx").unlink()
    with pytest.raises(ConfigError, match="no int8 network; make one with `llm-distill train --int8`"): load_for_prediction(plain, "int8")
    tampered = shutil.copytree(folder, tmp_path / "tampered")
    (tampered / "onnx" / "model_qint8.onnx").write_bytes(b"not a model")
    with pytest.raises(ConfigError, match="model_qint8.onnx: not the file this student was saved with"): load_for_prediction(tampered, "int8")


def test_the_command_line_trains_and_predicts_in_int8(tmp_path):
    import contextlib, io
    import pandas as pd
    from llm_distill.cli import main
    with contextlib.redirect_stdout(io.StringIO()) as said, contextlib.redirect_stderr(io.StringIO()):
        assert main(["train", "-q", "--dataset", "textclass-toxicity", "--limit", "150", "--recipe", "embed", "--int8", "--output", str(tmp_path / "s")]) == 0
    assert "int8 network agrees with fp32 on" in said.getvalue()
    pd.DataFrame({"text": ["you are an idiot", "thank you so much", "what a stupid idea"]}).to_csv(tmp_path / "new.csv", index=False)
    told = {}
    for precision in ("int8", "fp32"):
        with contextlib.redirect_stdout(io.StringIO()) as said, contextlib.redirect_stderr(io.StringIO()):
            assert main(["predict", "-q", "--student", str(tmp_path / "s"), "--input", str(tmp_path / "new.csv"),
                         "--output", str(tmp_path / f"{precision}.csv"), "--precision", precision]) == 0
        told[precision] = said.getvalue()
    assert "(in int8: its labels agreed with fp32 on" in told["int8"] and "int8" not in told["fp32"]   # it says which it used
    assert oct((tmp_path / "s" / "model.safetensors").stat().st_mode & 0o077) == oct(0o077 & ~_umask() & 0o066)   # readable as a plain file is
    assert pd.read_csv(tmp_path / "int8.csv")["label"].tolist() == pd.read_csv(tmp_path / "fp32.csv")["label"].tolist()


def _umask() -> int:
    import os
    umask = os.umask(0); os.umask(umask)
    return umask
