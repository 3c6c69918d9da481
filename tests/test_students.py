"Student recipes: the interface every recipe keeps, the choice on training labels, large-data holdout, saving without pickle."
import json
from pathlib import Path

import numpy as np
import pytest

import llm_distill.selection as selection
import llm_distill.students as students
from llm_distill.core import ConfigError, LabelError
from llm_distill.data import load_dataset
from llm_distill.students import C_GRID, RECIPES, load_student, most_regularised_within_one_se
from llm_distill.selection import train_student


@pytest.fixture(scope="module")
def tweets():
    corpus = load_dataset("theocharis-incivility")
    data = corpus.data.iloc[:240].reset_index(drop=True)
    return data["text"].tolist(), data["human_label"].tolist(), corpus.codebook


@pytest.fixture(scope="module")
def encoder():
    return students.SentenceEncoder()


@pytest.mark.parametrize("name", ["tfidf", "embed", "tfidf+embed"])
def test_cheap_recipes_keep_the_interface_and_round_trip(tmp_path, tweets, encoder, name):
    texts, labels, codebook = tweets
    targets = np.eye(2)[[codebook.label_names.index(l) for l in labels]]
    options = {"encoder": encoder} if issubclass(RECIPES[name], students.EmbeddingRecipe) else {}
    recipe = RECIPES[name](codebook.label_names, **options).fit(texts[:200], targets[:200])
    probabilities = recipe.predict_proba(texts[200:])
    assert probabilities.shape == (40, 2) and np.allclose(probabilities.sum(1), 1, atol=1e-5)
    loaded = load_student(recipe.save(tmp_path / name))
    assert loaded.name == name and np.allclose(loaded.predict_proba(texts[200:]), probabilities, atol=1e-5)
    assert not list((tmp_path / name).glob("*.pkl"))


def test_unknown_recipe_and_setting_are_named(tweets):
    texts, labels, codebook = tweets
    with pytest.raises(ConfigError, match="no-such"):
        train_student(texts, labels, codebook, candidates=("tfidf", "no-such"))
    with pytest.raises(ConfigError, match="'Cee'"):
        RECIPES["tfidf"](codebook.label_names, Cee=3)
    with pytest.raises(LabelError, match="one class"):
        train_student(texts[:20], ["civil"] * 20, codebook)


def test_a_named_recipe_skips_cross_validation_and_auto_always_validates(tweets, encoder):
    texts, labels, codebook = tweets
    student = train_student(texts, labels, codebook, recipe="tfidf", encoder=encoder)
    assert student.metadata["recipe_scores"] is None and "not cross-validated" in student.metadata["why"]
    auto = train_student(texts, labels, codebook, candidates=("embed",), encoder=encoder)   # one candidate: still scored, so flags work
    assert [r["recipe"] for r in auto.metadata["recipe_scores"]] == ["majority", "embed"] and auto.metadata["flags"] == []
    assert auto.metadata["C"] == 1.0
    tuned = train_student(texts, labels, codebook, candidates=("embed",), settings={"embed": {"C": "cv"}}, encoder=encoder)
    assert "one standard error" in tuned.metadata["why"] and tuned.metadata["C"] in C_GRID


def test_soft_labels_and_confidence_weights(tweets, encoder):
    texts, labels, codebook = tweets
    soft = np.eye(2)[[codebook.label_names.index(l) for l in labels]] * 0.8 + 0.1
    student = train_student(texts, soft_labels=soft, label_names=codebook, confidence=np.linspace(0.5, 1, len(texts)), encoder=encoder,
                            candidates=("embed", "tfidf"))
    assert student.name in ("tfidf", "embed") and len(student.metadata["recipe_scores"]) == 3


def test_large_training_sets_use_one_holdout(tweets, encoder, monkeypatch):
    texts, labels, codebook = tweets
    monkeypatch.setattr(selection, "HOLDOUT_ABOVE", 100)
    student = train_student(texts, labels, codebook, candidates=("tfidf", "embed"), encoder=encoder)
    assert "one 80/20 holdout" in student.metadata["why"]


def test_saved_student_refuses_untrusted_types(tmp_path, tweets):
    texts, labels, codebook = tweets
    targets = np.eye(2)[[codebook.label_names.index(l) for l in labels]]
    folder = RECIPES["tfidf"](codebook.label_names).fit(texts, targets).save(tmp_path / "s")
    import skops.io as sio
    from sklearn.preprocessing import FunctionTransformer
    sio.dump({"vectorizer": FunctionTransformer(func=print), "head": None}, folder / "tfidf.skops")   # would call a builtin: untrusted
    with pytest.raises(ConfigError, match="untrusted"):
        load_student(folder)


def test_cli_predicts_a_file_with_any_recipe(tmp_path, tweets):
    "`llm-distill predict` loads whatever recipe `train_student` saved and streams a file through it."
    import pandas as pd
    from llm_distill.cli import main
    texts, labels, codebook = tweets
    targets = np.eye(2)[[codebook.label_names.index(l) for l in labels]]
    RECIPES["tfidf"](codebook.label_names).fit(texts, targets).save(tmp_path / "student")
    pd.DataFrame({"text": texts[:30]}).to_csv(tmp_path / "in.csv", index=False)
    assert main(["predict", "--model", str(tmp_path / "student"), "--input", str(tmp_path / "in.csv"), "--output", str(tmp_path / "out.csv")]) == 0
    out = pd.read_csv(tmp_path / "out.csv")
    assert len(out) == 30 and set(out["label"]) <= set(codebook.label_names)


def test_one_standard_error_rule_prefers_the_stronger_regularisation():
    results = {"param_C": np.array([0.1, 1.0, 10.0]), "mean_test_score": np.array([0.60, 0.63, 0.64]),
               "std_test_score": np.array([0.05, 0.05, 0.05]), "split0_test_score": 0, "split1_test_score": 0,
               "split2_test_score": 0, "split3_test_score": 0}
    assert most_regularised_within_one_se(results) == 1          # 0.63 is within 0.05/2 of 0.64; 0.60 is not
    results["std_test_score"] = np.array([0.0, 0.0, 0.0])
    assert most_regularised_within_one_se(results) == 2          # no spread: the best


# --- saved folders: labels bound to the head, and a folder that is not as it was saved refused by name ---

def _reversed_labels(folder):
    "Swap the label order in a saved student's llm_distill.json (what would silently flip every prediction)."
    meta = json.loads((folder / "llm_distill.json").read_text())
    (folder / "llm_distill.json").write_text(json.dumps(dict(meta, label_names=meta["label_names"][::-1])))


def _fine_tuned(tweets, pooling):
    texts, labels, codebook = tweets
    return train_student(texts[:40], labels[:40], codebook, recipe="finetune",
                         settings={"finetune": {"epochs": 1, "min_steps": 1, "max_length": 16, "validation_fraction": 0.0, "pooling": pooling}})


@pytest.mark.parametrize("name", ["tfidf", "embed", "tfidf+embed"])
def test_an_edited_label_order_is_refused_for_every_cheap_recipe(tmp_path, tweets, encoder, name):
    texts, labels, codebook = tweets
    targets = np.eye(2)[[codebook.label_names.index(l) for l in labels]]
    options = {"encoder": encoder} if issubclass(RECIPES[name], students.EmbeddingRecipe) else {}
    folder = RECIPES[name](codebook.label_names, **options).fit(texts, targets).save(tmp_path / "s")
    _reversed_labels(folder)
    with pytest.raises(ConfigError, match=r"llm_distill\.json.*restore llm_distill\.json"):
        load_student(folder)


@pytest.mark.parametrize("pooling", ["mean", "native"])
def test_a_fine_tuned_student_round_trips_and_refuses_an_edited_label_order(tmp_path, tweets, pooling):
    "Both save routes: `train_student(recipe='finetune')` through `load_student`, and the bare `Student` through `Student.load`."
    from llm_distill.finetune import Student
    recipe = _fine_tuned(tweets, pooling)
    texts = tweets[0][40:60]
    kept, bare = recipe.save(tmp_path / "recipe"), recipe.student.save(tmp_path / "student")
    assert load_student(kept).predict(texts) == recipe.predict(texts)          # once: KeyError 'max_length' (and a mean-pooled one read at random)
    assert Student.load(bare).predict(texts) == recipe.predict(texts)
    for folder, load in ((kept, load_student), (bare, Student.load)):
        _reversed_labels(folder)
        with pytest.raises(ConfigError, match=r"llm_distill\.json.*restore llm_distill\.json"):
            load(folder)


@pytest.fixture(scope="module")
def mean_pooled(tmp_path_factory, tweets):
    "A fine-tuned mean-pooled student saved once; each test tampers with its own copy."
    return _fine_tuned(tweets, "mean").save(tmp_path_factory.mktemp("kept") / "student")


def _copy(folder, tmp_path):
    import shutil
    return Path(shutil.copytree(folder, tmp_path / "student"))


def _another_architecture(folder):
    "A real configuration of another architecture (a two-layer BERT: it would load six layers' weights into two, silently)."
    from transformers import BertConfig
    (folder / "config.json").write_text(BertConfig(num_hidden_layers=2, hidden_size=384, intermediate_size=1536, num_attention_heads=12).to_json_string())


TAMPERED = {
    "half-written llm_distill.json": (lambda f: (f / "llm_distill.json").write_text((f / "llm_distill.json").read_text()[:60]),
                                      r"student/llm_distill\.json: not valid JSON \(truncated\?\)"),
    "llm_distill.json without labels": (lambda f: (f / "llm_distill.json").write_text('{"recipe": "tfidf"}'), r"student/llm_distill\.json: no label_names"),
    "tokenizer files deleted": (lambda f: [(f / n).unlink() for n in ("tokenizer.json", "tokenizer_config.json")],
                                r"student: tokenizer files missing \(tokenizer_config\.json / tokenizer\.json\); re-save the student"),
    "config.json replaced by garbage": (lambda f: (f / "config.json").write_text('{"model_type": "bert", "hidd'),
                                        r"student/config\.json: not valid JSON \(truncated\?\)"),
    "config.json of another architecture": (_another_architecture, r"student/config\.json: not the file this student was saved with"),
    "config.json of another model type": (lambda f: (f / "config.json").write_text(json.dumps({"model_type": "gpt2", "n_layer": 2})),
                                          r"student/config\.json: not the file this student was saved with \(model_type 'gpt2'\)"),
    "weights truncated": (lambda f: (f / "model.safetensors").write_bytes((f / "model.safetensors").read_bytes()[:1000]),
                          r"student: the saved model does not load"),
}


@pytest.mark.parametrize("case", list(TAMPERED))
def test_a_tampered_fine_tuned_student_names_the_file(tmp_path, mean_pooled, case):
    tamper, message = TAMPERED[case]
    folder = _copy(mean_pooled, tmp_path)
    tamper(folder)
    with pytest.raises(ConfigError, match=message):
        load_student(folder)


def test_a_tampered_tfidf_student_names_the_file(tmp_path, tweets):
    texts, labels, codebook = tweets
    targets = np.eye(2)[[codebook.label_names.index(l) for l in labels]]
    folder = RECIPES["tfidf"](codebook.label_names).fit(texts, targets).save(tmp_path / "student")
    (folder / "tfidf.skops").write_bytes((folder / "tfidf.skops").read_bytes()[:500])
    with pytest.raises(ConfigError, match=r"student/tfidf\.skops: not a readable skops file \(truncated\?\)"):
        load_student(folder)
    (folder / "tfidf.skops").unlink()
    with pytest.raises(ConfigError, match=r"student/tfidf\.skops: missing"):
        load_student(folder)
    (folder / "llm_distill.json").write_text('{"recipe": "tfidf", "label_na')
    with pytest.raises(ConfigError, match=r"student/llm_distill\.json: not valid JSON \(truncated\?\)"):
        load_student(folder)


def test_training_pairs_pandas_texts_and_labels_by_index_and_reads_labels_through_the_codebook():
    "train_student paired two Series by position: labels shuffled against their texts trained a student on scrambled pairs (in-sample F1 0.43, not 0.89); `(none)` and codes were refused."
    import pandas as pd
    from llm_distill.codebook import codebook_from_dict
    rude, calm = ["you idiot", "shut up fool", "stupid clown", "you moron"], ["thank you", "lovely day", "kind words", "well said"]
    texts = pd.Series(rude * 3 + calm * 3, index=[f"p{i:02d}" for i in range(24)])
    labels = pd.Series(["rude"] * 12 + ["calm"] * 12, index=texts.index)
    shuffled = labels.sample(frac=1, random_state=0)
    assert list(shuffled.index) != list(labels.index)
    aligned, scrambled = (train_student(texts, l, ["calm", "rude"], recipe="tfidf") for l in (labels, shuffled))
    assert scrambled.predict(texts.tolist()) == aligned.predict(texts.tolist()) == labels.tolist()
    weights = pd.Series(np.r_[np.ones(12), np.full(12, 0.5)], index=texts.index)
    weighted = train_student(texts, shuffled, ["calm", "rude"], recipe="tfidf", confidence=weights.sample(frac=1, random_state=1))
    assert np.allclose(weighted.predict_proba(texts.tolist()), train_student(texts, labels, ["calm", "rude"], recipe="tfidf", confidence=weights).predict_proba(texts.tolist()))
    with pytest.raises(Exception, match="different texts"): train_student(texts, labels.rename(lambda i: i + "x"), ["calm", "rude"], recipe="tfidf")
    frames = codebook_from_dict({"task": "frames", "multi_label": True, "require_definitions": False,
                                 "labels": [{"name": "rude", "code": 1}, {"name": "calm", "code": 2}]})
    sets = pd.Series(["1"] * 6 + ["(none)"] * 6 + ["calm"] * 6 + ["[]"] * 6, index=texts.index)   # codes, the empty set as label writes it
    student = train_student(texts, sets, frames, recipe="tfidf")
    assert student.metadata["train_examples"] == 24 and set(student.predict(texts.tolist())) <= {"rude", "calm", ""}
    with pytest.raises(LabelError, match=r"training data has label\(s\) \['angry'\] not in codebook 'frames' at row 3 \(id 'p03'\)"):
        train_student(texts, sets.where(sets.index != "p03", "angry"), frames, recipe="tfidf")


def test_a_negative_or_missing_confidence_is_refused_by_its_row():
    "Confidence -1 on 100 texts was accepted (the student then agreed with its own labels on 0.62 of them); NaN silently became weight 0."
    texts, labels = ["calm words", "rude words", "calm again", "rude again"] * 5, ["a", "b"] * 10
    for bad, said in ((-1.0, "is -1.0"), (float("nan"), "is nan"), (float("inf"), "is inf")):
        confidence = [1.0] * 20
        confidence[7] = bad
        with pytest.raises(LabelError, match=rf"confidence of row 7 \(counted from 0\) {said}; a text's confidence is a number of at least 0"):
            train_student(texts, labels, ["a", "b"], recipe="tfidf", confidence=confidence)
    with pytest.raises(LabelError, match="20 texts but 19 confidence values"): train_student(texts, labels, ["a", "b"], recipe="tfidf", confidence=[1.0] * 19)
    assert train_student(texts, labels, ["a", "b"], recipe="tfidf", confidence=[0.0] + [1.0] * 19).predict(["rude words"]) == ["b"]
