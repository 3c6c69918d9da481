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
    from llm_distill.quantize import INT8_AGREEMENT, auto_precision, load_for_prediction
    folder, student, texts, record, new = kept
    int8 = load_for_prediction(folder, "int8")
    assert record["agreement"] == pytest.approx(np.mean(np.array(int8.predict(texts)) == np.array(student.predict(texts))), abs=1e-4)
    assert json.loads((folder / "llm_distill.json").read_text())["int8"] == record
    assert record["chosen"] == (record["agreement"] >= INT8_AGREEMENT)
    from llm_distill.core import precision_of
    from llm_distill.quantize import bf16_native
    bf16 = json.loads((folder / "llm_distill.json").read_text()).get("bf16")
    assert (bf16 is not None) == bf16_native()   # bf16 is measured only where this CPU computes in it
    assert precision_of(load_for_prediction(folder)) == auto_precision(record, bf16=bf16)
    np.testing.assert_allclose(int8.predict_proba(new).sum(1), 1, atol=1e-5)
    assert np.mean(np.array(int8.predict(new)) == np.array(student.predict(new))) > 0.95
    assert "## int8 and bf16 on CPU" in (folder / "README.md").read_text()


def test_what_cannot_be_done_is_refused(kept, tmp_path):
    import shutil
    from llm_distill.core import precision_of
    from llm_distill.quantize import load_for_prediction, quantize_student
    from llm_distill.students import TfidfRecipe
    folder, student, texts, record, _ = kept
    with pytest.raises(ConfigError, match="precision must be one of auto, fp32, bf16, int8, int8-checked"): load_for_prediction(folder, "int4")
    tfidf = TfidfRecipe(student.label_names).fit(texts, np.eye(2)[[student.label_names.index(l) for l in student.predict(texts)]])
    own = tfidf.save(tmp_path / "tfidf")
    with pytest.raises(ConfigError, match="int8 needs a student kept in transformers format"): quantize_student(own, texts)
    with pytest.raises(ConfigError, match="'tfidf' student has no int8 form"): load_for_prediction(own, "int8")
    with pytest.raises(ConfigError, match=r"'tfidf' student has no bf16 form \(bf16 needs a student kept in transformers format: recipe embed, setfit or finetune\)"):
        load_for_prediction(own, "bf16")
    plain = shutil.copytree(folder, tmp_path / "plain")   # kept in transformers format, never quantised
    meta = json.loads((plain / "llm_distill.json").read_text())
    meta.pop("int8"); meta["files"].pop("onnx/model_qint8.onnx")
    (plain / "llm_distill.json").write_text(json.dumps(meta)); (plain / "onnx" / "model_qint8.onnx").unlink()
    with pytest.raises(ConfigError, match="no int8 network; make one with `llm-distill train --int8`"): load_for_prediction(plain, "int8")
    gone = shutil.copytree(folder, tmp_path / "gone")
    (gone / "onnx" / "model_qint8.onnx").unlink()
    assert load_for_prediction(gone, "fp32").predict(texts[:5]) == student.predict(texts[:5])   # a lost int8 network never blocks fp32
    for precision in ("int8", "int8-checked"):
        with pytest.raises(ConfigError, match=r"onnx/model_qint8\.onnx: missing; restore it, or make the int8 network again") as refused:
            load_for_prediction(gone, precision)
        assert "tokenizer" not in str(refused.value) and "--precision fp32" in str(refused.value)
    with pytest.warns(UserWarning, match="missing, so auto does not consider int8"):
        assert precision_of(load_for_prediction(gone, "auto")) in ("fp32", "bf16")
    tampered = shutil.copytree(folder, tmp_path / "tampered")
    (tampered / "onnx" / "model_qint8.onnx").write_bytes(b"not a model")
    with pytest.raises(ConfigError, match="model_qint8.onnx: not the file this student was saved with"): load_for_prediction(tampered, "int8")


def test_bf16_is_measured_recorded_and_chosen_only_where_the_cpu_computes_in_it(kept, tmp_path, monkeypatch):
    "Where the CPU has bfloat16 units bf16 is measured on the training texts, recorded, and chosen by auto when it agrees; elsewhere it is refused and unrecorded."
    import contextlib, io, shutil
    import pandas as pd
    from llm_distill import quantize
    from llm_distill.cli import main
    from llm_distill.core import precision_of
    folder, student, texts, _, new = kept
    monkeypatch.setattr(quantize, "bf16_native", lambda: True)   # as on AMX or AVX512-BF16 (elsewhere emulated: slower, the same kind of numbers)
    here = shutil.copytree(folder, tmp_path / "bf16")
    quantize.quantize_student(here, texts)
    meta = json.loads((here / "llm_distill.json").read_text())
    half = quantize.load_for_prediction(here, "bf16")
    assert half.name == "bf16" and str(next(half.student.model.parameters()).dtype) == "torch.bfloat16"
    assert meta["bf16"]["agreement"] == pytest.approx(np.mean(np.array(half.predict(texts)) == np.array(student.predict(texts))), abs=1e-4)
    assert meta["bf16"]["chosen"] == (meta["bf16"]["agreement"] >= quantize.INT8_AGREEMENT) and meta["bf16"]["texts"] == len(texts)
    assert np.mean(np.array(half.predict(new)) == np.array(student.predict(new))) > 0.97
    assert precision_of(quantize.load_for_prediction(here)) == quantize.auto_precision(meta["int8"], bf16=meta["bf16"])
    assert "In bf16 (the same network in bfloat16, on a CPU's bfloat16 units):" in (here / "README.md").read_text()
    with pytest.raises(ConfigError, match="save the full-precision student"): half.save(tmp_path / "never")
    pd.DataFrame({"text": new[:5]}).to_csv(tmp_path / "new.csv", index=False)
    with contextlib.redirect_stdout(io.StringIO()) as said, contextlib.redirect_stderr(io.StringIO()):
        assert main(["predict", "-q", "--student", str(here), "--input", str(tmp_path / "new.csv"), "--output", str(tmp_path / "half.csv"), "--precision", "bf16"]) == 0
    assert f"(in bf16: its labels agreed with fp32 on {meta['bf16']['agreement']:.1%} of the training texts)" in said.getvalue()
    monkeypatch.setattr(quantize, "bf16_native", lambda: False)   # the same folder on a CPU without bfloat16 units
    with pytest.raises(ConfigError, match=r"this CPU has no bfloat16 units \(AMX or AVX512-BF16\): bf16 would be slower than fp32 here"):
        quantize.load_for_prediction(here, "bf16")
    assert precision_of(quantize.load_for_prediction(here)) == quantize.auto_precision(meta["int8"]) != "bf16"   # its record is not used here
    quantize.quantize_student(here, texts)   # measured again here: no bf16 record, and the card says why
    assert "bf16" not in json.loads((here / "llm_distill.json").read_text())
    assert "bf16 was not measured: the CPU that kept it has no bfloat16 units." in (here / "README.md").read_text()
    assert (here / "README.md").read_text().count("## int8 and bf16 on CPU") == 1


def test_int8_reads_the_tokens_fp32_reads(kept, monkeypatch):
    "A text longer than 128 tokens reaches the int8 network truncated where fp32 truncates it (the student's max_length), not at 128."
    from llm_distill.quantize import load_for_prediction
    folder, student, _, _, _ = kept
    int8, widths = load_for_prediction(folder, "int8"), []

    class Watched:   # the session, noting the width of every batch it is fed
        def __init__(self, session): self.session = session
        def run(self, names, feed): widths.append(feed["input_ids"].shape[1]); return self.session.run(names, feed)
    monkeypatch.setattr(int8, "session", Watched(int8.session))
    int8.predict_proba(["word " * 400, "short"])
    from llm_distill.students import load_student
    kept_length = load_student(folder).student.max_length
    assert widths == [kept_length] and kept_length > 128


def test_int8_checked_scores_the_texts_near_a_boundary_again_in_fp32(kept):
    from llm_distill.quantize import INT8_AGREEMENT, Int8Student, load_for_prediction
    from llm_distill.targets import label_margins
    folder, student, texts, record, new = kept
    checked = load_for_prediction(folder, "int8-checked")
    assert checked.name == "int8-checked" and checked.bound == record["checked"]["bound"]
    quick, full, answered = checked.int8_proba(new), student.predict_proba(new), checked.predict_proba(new)
    near = label_margins(quick, student.multi_label) < checked.bound
    np.testing.assert_allclose(answered[near], full[near], atol=1e-5)
    np.testing.assert_allclose(answered[~near], quick[~near], atol=1e-6)
    on_training = np.mean(np.array(checked.predict(texts)) == np.array(student.predict(texts)))
    assert on_training >= max(record["agreement"], INT8_AGREEMENT)   # the bound was chosen on these texts
    assert 0 <= record["checked"]["rescored"] <= 1 and record["checked"]["chosen"] == (record["checked"]["agreement"] >= INT8_AGREEMENT)
    assert isinstance(checked, Int8Student) and "Checked (texts whose int8 margin is below" in (folder / "README.md").read_text()


def test_an_int8_network_recorded_before_int8_checked_is_refused_for_it_and_auto_keeps_fp32(kept, tmp_path):
    import shutil
    from llm_distill.quantize import load_for_prediction
    folder, student, _, record, _ = kept
    older = shutil.copytree(folder, tmp_path / "older")
    meta = json.loads((older / "llm_distill.json").read_text())
    meta["int8"].pop("checked"); meta["int8"]["chosen"] = False; meta.pop("bf16", None)   # int8's record alone decides
    (older / "llm_distill.json").write_text(json.dumps(meta))
    with pytest.raises(ConfigError, match="no recorded bound for int8-checked; make it again"): load_for_prediction(older, "int8-checked")
    meta["int8"]["checked"] = {"agreement": 1.0, "chosen": True}   # a record edited by hand: chosen, but its bound gone
    (older / "llm_distill.json").write_text(json.dumps(meta))
    with pytest.raises(ConfigError, match="no recorded bound for int8-checked"): load_for_prediction(older, "int8-checked")
    assert load_for_prediction(older).name == "finetune"   # auto: fp32, not a KeyError
    from llm_distill.students import load_student
    assert load_for_prediction(older).name == load_student(folder).name == "finetune"   # fp32: the kept network


def test_a_dask_partition_predicts_in_the_precision_asked(kept):
    import pandas as pd
    from llm_distill.predict import predict_partition
    from llm_distill.quantize import load_for_prediction
    folder, _, _, _, new = kept
    frame = pd.DataFrame({"text": new[:50]}, index=range(100, 150))
    int8, fp32 = predict_partition(frame, folder, precision="int8"), predict_partition(frame, folder)
    columns = [c for c in int8 if c.startswith("p_")]
    expected = load_for_prediction(folder, "int8").predict_proba(new[:50])
    np.testing.assert_allclose(int8[columns].to_numpy(), expected, atol=1e-6)
    assert not np.allclose(fp32[columns].to_numpy(), expected, atol=1e-6)   # fp32 unless asked
    assert int8.index.tolist() == list(range(100, 150))


def test_the_command_line_trains_and_predicts_in_int8(tmp_path):
    import contextlib, io
    import pandas as pd
    from llm_distill.cli import main
    with contextlib.redirect_stdout(io.StringIO()) as said, contextlib.redirect_stderr(io.StringIO()):
        assert main(["train", "-q", "--dataset", "textclass-toxicity", "--limit", "150", "--recipe", "embed", "--int8", "--output", str(tmp_path / "s")]) == 0
    assert "int8 network agrees with fp32 on" in said.getvalue()
    pd.DataFrame({"text": ["you are an idiot", "thank you so much", "what a stupid idea"]}).to_csv(tmp_path / "new.csv", index=False)
    told = {}
    for precision in ("int8", "fp32", "int8-checked"):
        with contextlib.redirect_stdout(io.StringIO()) as said, contextlib.redirect_stderr(io.StringIO()):
            assert main(["predict", "-q", "--student", str(tmp_path / "s"), "--input", str(tmp_path / "new.csv"),
                         "--output", str(tmp_path / f"{precision}.csv"), "--precision", precision]) == 0
        told[precision] = said.getvalue()
    assert "(in int8: its labels agreed with fp32 on" in told["int8"] and "int8" not in told["fp32"]   # it says which it used
    assert "(in int8-checked, texts near a label boundary again in fp32: its labels agreed with fp32 on" in told["int8-checked"]
    assert told["fp32"].rstrip().endswith("(in fp32)")
    with contextlib.redirect_stdout(io.StringIO()) as said, contextlib.redirect_stderr(io.StringIO()):   # again, without --int8
        (tmp_path / "s" / "notes.txt").write_text("mine")
        assert main(["train", "-q", "--dataset", "textclass-toxicity", "--limit", "150", "--recipe", "embed", "--output", str(tmp_path / "s")]) == 0
    assert not (tmp_path / "s" / "onnx").exists() and (tmp_path / "s" / "notes.txt").read_text() == "mine"   # no stale int8 network; the user's file kept
    assert oct((tmp_path / "s" / "model.safetensors").stat().st_mode & 0o077) == oct(0o077 & ~_umask() & 0o066)   # readable as a plain file is
    assert pd.read_csv(tmp_path / "int8.csv")["label"].tolist() == pd.read_csv(tmp_path / "fp32.csv")["label"].tolist()


def _umask() -> int:
    import os
    umask = os.umask(0); os.umask(umask)
    return umask


from hypothesis import given, settings, strategies as st


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.lists(st.tuples(st.floats(0, 1, allow_nan=False), st.booleans(), st.floats(0, 0.2, allow_nan=False)), min_size=1, max_size=60),
       st.floats(0.5, 1.0))
def test_the_recheck_bound_reaches_the_threshold_and_is_no_larger_than_it_needs(texts, threshold):
    from llm_distill.quantize import SHIFT_QUANTILE, recheck_bound
    margins, agree, shifts = (np.array(column) for column in zip(*texts))
    bound, floor = recheck_bound(margins, agree, shifts, threshold), np.quantile(shifts, SHIFT_QUANTILE)
    assert bound >= floor                                                     # at least the texts within the usual shift
    assert np.mean(agree | (margins < bound)) >= threshold - 1e-12            # re-scoring below it reaches the threshold
    if bound > floor: assert np.mean(agree | (margins < np.nextafter(bound, -np.inf))) < threshold   # and nothing smaller above the floor does


_records = st.one_of(st.none(), st.integers(), st.text(max_size=3), st.fixed_dictionaries({}, optional={
    "chosen": st.one_of(st.booleans(), st.none(), st.text(max_size=3), st.integers(-1, 2)),
    "agreement": st.one_of(st.floats(allow_nan=True), st.floats(0.99, 1.0), st.text(max_size=3)),
    "threshold": st.one_of(st.floats(), st.none(), st.booleans()),
    "checked": st.one_of(st.none(), st.fixed_dictionaries({}, optional={
        "chosen": st.one_of(st.booleans(), st.none(), st.integers(-1, 2)), "bound": st.one_of(st.floats(), st.booleans(), st.none(), st.text(max_size=3)),
        "agreement": st.one_of(st.floats(), st.floats(0.99, 1.0), st.none())}),
        st.text(max_size=3))}))


@settings(max_examples=300, deadline=None, derandomize=True)
@given(_records, _records, st.booleans())
def test_auto_never_picks_a_form_its_record_did_not_choose(int8, bf16, gpu):
    "Whatever a (hand-edited) llm_distill.json holds, auto names a precision, fp32 on a GPU, and a quicker form only where its own record chose it."
    from llm_distill.core import PRECISIONS
    from llm_distill.quantize import auto_precision
    form = auto_precision(int8, gpu=gpu, bf16=bf16)
    assert form in PRECISIONS[1:]
    if gpu: assert form == "fp32"
    if not gpu and isinstance(bf16, dict) and bf16.get("chosen") is True and _reaches(bf16.get("agreement"), bf16.get("threshold")): assert form == "bf16"
    if form == "bf16": assert bf16["chosen"] is True and _reaches(bf16["agreement"], bf16.get("threshold"))
    if form == "int8": assert int8["chosen"] is True and _reaches(int8["agreement"], int8.get("threshold"))
    if form == "int8-checked":
        checked = int8["checked"]
        assert checked["chosen"] is True and _finite(checked["bound"]) and _reaches(checked["agreement"], int8.get("threshold"))


def _finite(value) -> bool: return isinstance(value, float) and bool(np.isfinite(value))


def _share(value) -> bool: return _finite(value) and 0 <= value <= 1


def _reaches(agreement, threshold) -> bool:
    "An agreement (a share) at or above the record's threshold (99.5% where it has none that is a share)."
    return _share(agreement) and agreement >= (threshold if _share(threshold) else 0.995)


def test_a_quicker_form_is_never_saved_and_a_resaved_student_claims_no_networks_it_lacks(kept, tmp_path):
    "bf16 weights saved as the student would crash its fp32 form: refused before any folder is made; a re-saved student is measured again, not trusted."
    from llm_distill.export import save_transformers
    from llm_distill.quantize import bf16_student, load_for_prediction
    from llm_distill.students import load_student
    folder, _, _, _, _ = kept
    half = bf16_student(load_student(folder))
    with pytest.raises(ConfigError, match="this student computes in bf16: save the full-precision student"): save_transformers(half, tmp_path / "half")
    with pytest.raises(ConfigError, match="this student computes in bf16: save the full-precision student"): half.save(tmp_path / "half-own")
    assert not (tmp_path / "half").exists() and not (tmp_path / "half-own").exists()
    again = save_transformers(load_student(folder), tmp_path / "again")
    meta = json.loads((again / "llm_distill.json").read_text())
    assert "int8" not in meta and "bf16" not in meta and not (again / "onnx").exists()
    with pytest.raises(ConfigError, match="no int8 network; make one"): load_for_prediction(again, "int8")
    assert load_for_prediction(again).name == "finetune"   # auto: fp32, with no record of networks it does not have


def test_python_quantize_student_lists_its_network_so_a_retrain_removes_it(tmp_path):
    import contextlib, io
    from llm_distill.cli import main
    from llm_distill.folders import OWNED_MARKER
    from llm_distill.quantize import INT8_FILE, quantize_student
    from llm_distill.data import load_dataset
    train = ["train", "-q", "--dataset", "textclass-toxicity", "--limit", "150", "--recipe", "embed", "--output", str(tmp_path / "s")]
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()): assert main(train) == 0
    (tmp_path / "s" / "mine.txt").write_text("the user's")
    quantize_student(tmp_path / "s", load_dataset("textclass-toxicity").data["text"].iloc[:150].tolist())
    listed = json.loads((tmp_path / "s" / OWNED_MARKER).read_text())["files"]
    assert INT8_FILE in listed and "mine.txt" not in listed
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()): assert main(train) == 0   # again, without --int8
    assert not (tmp_path / "s" / INT8_FILE).exists() and (tmp_path / "s" / "mine.txt").read_text() == "the user's"


def test_predict_says_when_bf16_was_never_measured_and_reads_hand_edited_records_safely(kept, tmp_path, monkeypatch):
    import contextlib, io, shutil
    import pandas as pd
    from llm_distill import quantize
    from llm_distill.cli import main
    folder, _, _, _, new = kept
    monkeypatch.setattr(quantize, "bf16_native", lambda: True)
    pd.DataFrame({"text": new[:4]}).to_csv(tmp_path / "new.csv", index=False)
    def said(student, precision):
        with contextlib.redirect_stdout(io.StringIO()) as out, contextlib.redirect_stderr(io.StringIO()):
            assert main(["predict", "-q", "--student", str(student), "--input", str(tmp_path / "new.csv"), "--output", str(tmp_path / f"{precision}.csv"),
                         "--precision", precision, "--no-resume"]) == 0
        return out.getvalue()
    edited = shutil.copytree(folder, tmp_path / "edited")
    meta = json.loads((edited / "llm_distill.json").read_text())
    meta.pop("bf16", None)
    (edited / "llm_distill.json").write_text(json.dumps(meta))
    assert "(in bf16: its labels were never compared with fp32's; `train --int8` measures how often they agree)" in said(edited, "bf16")
    for agreement in (1.5, float("nan"), "high"):   # edited by hand: never printed as 150.0% or nan%, never chosen
        meta["bf16"] = {"agreement": agreement, "chosen": True, "texts": 3, "threshold": 0.995}
        (edited / "llm_distill.json").write_text(json.dumps(meta))
        assert "agreed with fp32 on an unrecorded share of the training texts" in said(edited, "bf16")
        assert "auto chose bf16" not in said(edited, "auto")
