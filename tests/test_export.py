"Kept students in transformers format: every recipe with an encoder loads in `transformers.pipeline` and gives the student's labels."
import json

import numpy as np
import pytest
from transformers import pipeline

from llm_distill.core import ConfigError
from llm_distill.data import load_dataset
from llm_distill.export import save_transformers, student_card, to_transformers
from llm_distill.finetune import TrainingConfig, fit
from llm_distill.students import load_student
from llm_distill.selection import train_student

from test_multilabel import LABELS, codebook, davidson_sets  # noqa: F401 (the fixture)

LONG = " ".join(["a long text that runs past the student's token limit, so truncation decides its label"] * 40)


@pytest.fixture(scope="module")
def tweets():
    corpus = load_dataset("theocharis-incivility")
    data = corpus.data.iloc[:200].reset_index(drop=True)
    return data["text"].tolist()[:140], data["human_label"].tolist()[:140], data["text"].tolist()[140:] + [LONG], corpus.codebook


def piped_scores(folder, texts, names):
    "Scores from the plain pipeline, in the student's label order."
    rows = pipeline("text-classification", model=str(folder))(texts, truncation=True, top_k=None)
    return np.array([[{s["label"]: s["score"] for s in row}[n] for n in names] for row in rows])


@pytest.mark.parametrize("pooling", ["mean", "native"])
def test_fine_tuned_student_through_pipeline(tmp_path, tweets, pooling):
    train, labels, held, codebook = tweets
    student = fit(train, labels, codebook, config=TrainingConfig(epochs=1, max_length=32, validation_fraction=0.0, pooling=pooling))
    folder = save_transformers(student, tmp_path / "kept")
    scores = piped_scores(folder, held, student.label_names)
    np.testing.assert_allclose(scores, student.predict_proba(held), atol=1e-5)
    assert [student.label_names[i] for i in scores.argmax(1)] == student.predict(held)
    assert json.loads((folder / "tokenizer_config.json").read_text())["model_max_length"] == 32
    assert load_student(folder).predict(held) == student.predict(held)


def test_embedding_student_with_label_sets(tmp_path, codebook):
    data = davidson_sets(150)
    student = train_student(data["text"].tolist(), data["teacher"].tolist(), codebook, recipe="embed")
    folder = save_transformers(student, tmp_path / "kept")
    held = data["text"].tolist()[:40] + [LONG]
    np.testing.assert_allclose(piped_scores(folder, held, list(LABELS)), student.predict_proba(held), atol=1e-5)   # sigmoid per label
    assert json.loads((folder / "config.json").read_text())["problem_type"] == "multi_label_classification"
    assert load_student(folder).predict(held) == student.predict(held)   # the same sets: thresholds kept in llm_distill.json


def test_no_local_paths_and_an_escaped_card(tmp_path, tweets):
    train, labels, held, codebook = tweets
    student = train_student(train, labels, codebook, recipe="embed")
    card = student_card(student, {"macro_f1": (0.7, 0.6, 0.8)}, "60 held-out tweets", teacher="<script>alert(1)</script>", task="civility")
    folder = save_transformers(student, tmp_path / "kept", card)
    text = (folder / "README.md").read_text()
    assert "<script>" not in text and r"\<script\>alert\(1\)\</script\>" in text   # inert: shown as text wherever the card is rendered
    assert "base_model: sentence-transformers/all-MiniLM-L6-v2" in text and "[0.600, 0.800]" in text
    for name in ("config.json", "tokenizer_config.json", "llm_distill.json", "README.md"):
        assert "site-packages" not in (folder / name).read_text(), name


def test_tfidf_has_no_transformers_form(tweets):
    train, labels, _, codebook = tweets
    with pytest.raises(ConfigError, match="no transformers form"):
        to_transformers(train_student(train, labels, codebook, recipe="tfidf"))


def test_setfit_student_through_pipeline(tmp_path, tweets):
    train, labels, held, codebook = tweets
    student = train_student(train, labels, codebook, recipe="setfit", settings={"setfit": {"max_steps": 4, "batch_size": 8, "max_length": 64}})
    folder = save_transformers(student, tmp_path / "kept")
    np.testing.assert_allclose(piped_scores(folder, held, student.label_names), student.predict_proba(held), atol=1e-5)
    assert load_student(folder).predict(held) == student.predict(held)


def test_label_sets_through_the_plain_pipeline(tmp_path, codebook):
    "README: `top_k=None` gives every label's score (a sigmoid each); the labels at or above llm_distill.json's thresholds are the student's set."
    data = davidson_sets(150)
    for student in (train_student(data["text"].tolist(), data["teacher"].tolist(), codebook, candidates=("embed",)),   # thresholds chosen by CV
                    train_student(data["text"].tolist(), data["teacher"].tolist(), codebook, recipe="embed")):      # none chosen: 0.5
        folder = save_transformers(student, tmp_path / student.name / str(student.metadata["thresholds"] is None))
        meta = json.loads((folder / "llm_distill.json").read_text())
        assert len(meta["thresholds"]) == len(LABELS)                                    # once: null for a named recipe
        held = data["text"].tolist()[:40]
        scores = piped_scores(folder, held, meta["label_names"])
        sets = ["|".join(n for n, s, t in zip(meta["label_names"], row, meta["thresholds"]) if s >= t) for row in scores]
        assert sets == student.predict(held)
        card = (folder / "README.md").read_text()
        assert "top_k=None" in card and "thresholds" in card                            # the card says how


@pytest.fixture(scope="module")
def kept(tmp_path_factory, tweets):
    "An embedding student kept in transformers format once; each test tampers with its own copy."
    train, labels, _, codebook = tweets
    return save_transformers(train_student(train, labels, codebook, recipe="embed"), tmp_path_factory.mktemp("kept") / "student")


def _tampered(kept, tmp_path, change):
    import shutil
    folder = tmp_path / "student"
    shutil.copytree(kept, folder)
    change(folder)
    return folder


def _edit(file, change):
    file.write_text(json.dumps(change(json.loads(file.read_text()))))


TAMPERED = {
    "label order edited": (lambda f: _edit(f / "llm_distill.json", lambda m: dict(m, label_names=m["label_names"][::-1])),
                           r"student: llm_distill\.json lists labels .* restore llm_distill\.json"),
    "half-written llm_distill.json": (lambda f: (f / "llm_distill.json").write_text((f / "llm_distill.json").read_text()[:80]),
                                      r"student/llm_distill\.json: not valid JSON \(truncated\?\)"),
    "tokenizer files deleted": (lambda f: (f / "tokenizer.json").unlink(), r"student: tokenizer files missing \(tokenizer\.json\); re-save the student"),
    "config.json garbage": (lambda f: (f / "config.json").write_text("{\"model_type\": \"llm_distill_pooled\", \"enc"),
                            r"student/config\.json: not valid JSON \(truncated\?\)"),
    "config.json of another model": (lambda f: (f / "config.json").write_text(json.dumps({"model_type": "bert", "num_hidden_layers": 2})),
                                     r"student/config\.json: not the file this student was saved with \(model_type 'bert'\)"),
    "config.json with the labels swapped": (lambda f: _edit(f / "config.json", lambda c: dict(c, id2label={"0": c["id2label"]["1"], "1": c["id2label"]["0"]})),
                                            r"student/config\.json: not the file this student was saved with"),
}


@pytest.mark.parametrize("case", list(TAMPERED))
def test_a_tampered_transformers_folder_names_the_file(tmp_path, kept, case):
    change, message = TAMPERED[case]
    assert load_student(kept).label_names                     # the untouched folder loads
    with pytest.raises(ConfigError, match=message):
        load_student(_tampered(kept, tmp_path, change))


def test_the_card_of_a_student_on_human_labels_says_so():
    "A student trained on human coding is not 'distilled from the labels of human', and is not warned of an LLM's errors."
    from llm_distill.codebook import load_codebook
    from llm_distill.export import student_card
    from llm_distill.selection import train_student
    student = train_student([f"{w} text {i}" for i, w in enumerate(["awful", "kind"] * 10)], ["toxic", "non-toxic"] * 10,
                            load_codebook("textclass-toxicity"), recipe="tfidf", label_source="human")
    card = str(student_card(student, teacher="human", task="toxicity"))
    assert "on **human** labels" in card and "distilled" not in card and "an LLM's labels" not in card
    assert "distilled" in str(student_card(student, teacher="gpt-4o (replay)", task="toxicity"))


def test_the_plain_pipeline_refuses_a_damaged_student(tmp_path):
    "Without llm_distill's loader too: a deleted tokenizer (transformers would build an empty one) or an edited config is refused, naming the file."
    import json
    import shutil
    from transformers import pipeline
    import llm_distill.export  # noqa: F401  (registers the architecture)
    from llm_distill.codebook import load_codebook
    from llm_distill.export import save_transformers, student_card
    from llm_distill.selection import train_student
    texts = [f"{w} text {i}" for i, w in enumerate(["awful idiot", "kind thanks"] * 10)]
    student = train_student(texts, ["toxic", "non-toxic"] * 10, load_codebook("textclass-toxicity"), recipe="embed")
    folder = save_transformers(student, tmp_path / "student", student_card(student, teacher="t", task="t"))
    assert [r["label"] for r in pipeline("text-classification", model=str(folder))(["awful idiot", "kind thanks"])] == list(student.predict(["awful idiot", "kind thanks"]))
    no_tokenizer = shutil.copytree(folder, tmp_path / "no-tokenizer")
    (no_tokenizer / "tokenizer.json").unlink()
    swapped = shutil.copytree(folder, tmp_path / "swapped")
    config = json.loads((swapped / "config.json").read_text())
    config["id2label"] = {"0": config["id2label"]["1"], "1": config["id2label"]["0"]}
    (swapped / "config.json").write_text(json.dumps(config))
    for damaged, words in ((no_tokenizer, "tokenizer files missing"), (swapped, "config.json: not the file this student was saved with")):
        with pytest.raises(ValueError, match=words):
            pipeline("text-classification", model=str(damaged))


def test_a_collaborator_loads_the_folder_without_llm_distill(tmp_path):
    "The folder carries its architecture (auto_map -> modeling_llm_distill.py): a fresh process that never imports llm_distill gets the student's labels and probabilities."
    import json
    import subprocess
    import sys
    from llm_distill.codebook import load_codebook
    from llm_distill.export import REMOTE_CODE, save_transformers, student_card
    from llm_distill.selection import train_student
    texts = [f"{w} text {i}" for i, w in enumerate(["awful idiot", "kind thanks", "you moron", "lovely day"] * 8)]
    labels = ["toxic", "non-toxic", "toxic", "non-toxic"] * 8
    student = train_student(texts, labels, load_codebook("textclass-toxicity"), recipe="embed")
    folder = save_transformers(student, tmp_path / "student", student_card(student, teacher="t", task="t"))
    config = json.loads((folder / "config.json").read_text())
    assert config["auto_map"]["AutoModelForSequenceClassification"] == f"{REMOTE_CODE}.PooledClassifier" and (folder / f"{REMOTE_CODE}.py").is_file()
    import ast
    imported = {(n.module or "") if isinstance(n, ast.ImportFrom) else a.name for n in ast.walk(ast.parse((folder / f"{REMOTE_CODE}.py").read_text()))
                if isinstance(n, (ast.Import, ast.ImportFrom)) for a in n.names}
    assert not [m for m in imported if m.startswith("llm_distill") or m.startswith(".")], imported   # it imports nothing of ours
    probe = ["awful idiot", "lovely day", "what a moron"]
    code = (f"import json, sys\nfrom transformers import pipeline\n"
            f"classify = pipeline('text-classification', model={str(folder)!r}, trust_remote_code=True)\n"
            f"out = classify({probe!r}, truncation=True, top_k=None)\n"
            f"assert not [m for m in sys.modules if m.startswith('llm_distill')], 'llm_distill was imported'\n"
            f"print(json.dumps([{{s['label']: s['score'] for s in r}} for r in out]))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=tmp_path,
                         env={**__import__("os").environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": ""})
    assert run.returncode == 0, run.stderr[-2000:]
    scores = json.loads(run.stdout.strip().splitlines()[-1])
    expected = student.predict_proba(probe)
    assert np.allclose([[row[n] for n in student.label_names] for row in scores], expected, atol=1e-5)
    assert "trust_remote_code=True" in (folder / "README.md").read_text()


@pytest.mark.parametrize("save", ["recipe", "transformers", "network"])
def test_saving_a_student_from_python_never_writes_over_a_users_folder(tmp_path, save):
    "Recipe.save, Student.save and save_transformers wrote over a user's README.md and config.json (train --output refused the folder); they refuse it too."
    from llm_distill.core import ConfigError
    from llm_distill.export import save_transformers
    from llm_distill.selection import train_student
    from llm_distill.students import load_student
    texts, labels = ["calm words here", "rude words here", "calm again", "rude again"] * 5, ["civil", "uncivil", "civil", "uncivil"] * 5
    if save == "network":   # a fine-tuned network (`finetune.Student`), one quick epoch
        from llm_distill.finetune import TrainingConfig, fit
        student = fit(texts, labels, config=TrainingConfig(epochs=1, max_length=16, batch_size=16, validation_fraction=0.0))
    else: student = train_student(texts, labels, recipe="tfidf" if save == "recipe" else "embed")
    write = {"recipe": lambda path, **o: student.save(path, **o), "transformers": lambda path, **o: save_transformers(student, path, **o),
             "network": lambda path, **o: student.save(path, **o)}[save]
    theirs = tmp_path / "thesis"
    theirs.mkdir(); (theirs / "README.md").write_text("MY THESIS NOTES"); (theirs / "config.json").write_text('{"my": 1}'); (theirs / "llm_distill.json").write_text("{}")
    for force in (False, True):   # refused alike: force would not write over a file of theirs, so it is not offered
        with pytest.raises(ConfigError, match="did not write, holding file\\(s\\) of yours that llm_distill would write over") as refused: write(theirs, force=force)
        assert "--force" not in str(refused.value)
    assert (theirs / "README.md").read_text() == "MY THESIS NOTES" and (theirs / "config.json").read_text() == '{"my": 1}'
    kept = write(tmp_path / "student")
    (kept / "notes.txt").write_text("mine")
    write(kept)   # a student of ours saved again: replaced, the user's file kept
    assert (kept / "notes.txt").read_text() == "mine" and list(load_student(kept).predict(texts[:4])) == list(student.predict(texts[:4]))


def test_saving_a_student_with_force_into_another_commands_folder_keeps_its_results(tmp_path):
    "train --force (or save(force=True)) into a run's folder deleted its report.md, results.csv and figures; they are kept, and never listed as the student's."
    from llm_distill.core import ConfigError
    from llm_distill.folders import RUN_FOLDER, claimed_folder, seal_folder, user_files
    with claimed_folder(tmp_path / "run", kind=RUN_FOLDER) as run:
        (run / "report.md").write_text("# results"); (run / "results.csv").write_text("a,b\n1,2\n"); seal_folder(run, kind=RUN_FOLDER)
    student = train_student(["calm words", "rude words", "calm again", "rude again"] * 3, ["a", "b"] * 6, recipe="tfidf")
    with pytest.raises(ConfigError, match="holds an experiment run llm_distill wrote, not a student; writing there would mix the two"): student.save(run)
    student.save(run, force=True)
    assert (run / "report.md").read_text() == "# results" and (run / "results.csv").exists()
    assert {"report.md", "results.csv"} <= user_files(run)   # kept as files the student's saves never remove
    student.save(run)   # saved again: a student's folder now; the run's files still kept
    assert (run / "report.md").read_text() == "# results" and load_student(run).predict(["calm words"]) == student.predict(["calm words"])
