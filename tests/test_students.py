"Student recipes: the interface every recipe keeps, the choice on training labels, large-data holdout, saving without pickle."
import json

import numpy as np
import pytest

import llm_distill.students as students
from llm_distill.core import ConfigError, LabelError
from llm_distill.data import load_dataset
from llm_distill.students import C_GRID, RECIPES, load_student, most_regularised_within_one_se, train_student


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
    monkeypatch.setattr(students, "HOLDOUT_ABOVE", 100)
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
