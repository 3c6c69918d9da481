"The static (model2vec) recipe: distilled once and cached, fit/predict/save/load with identical probabilities, label sets, a changed file refused."
import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score

import llm_distill.students as students
from llm_distill.core import DEFAULT_ENCODER, ConfigError, find_data_dir
from llm_distill.data import load_dataset
from llm_distill.selection import DEFAULT_CANDIDATES, cross_validate_recipes
from llm_distill.students import RECIPES, StaticRecipe, load_student, make_recipe

pytest.importorskip("model2vec")


@pytest.fixture(scope="module")
def tweets():
    corpus = load_dataset("theocharis-incivility")
    data = corpus.data.iloc[:400].reset_index(drop=True)
    names = corpus.codebook.label_names
    return data["text"].tolist(), data["human_label"].tolist(), names, np.eye(len(names))[[names.index(l) for l in data["human_label"]]]


@pytest.fixture(scope="module")
def fitted(tweets):
    "One static student on 200 tweets (the distillation runs once per machine: cached on disk, then in the process)."
    texts, _, names, targets = tweets
    return StaticRecipe(names).fit(texts[:200], targets[:200])


def test_round_trip_gives_identical_probabilities(tmp_path, tweets, fitted):
    texts = tweets[0][200:]
    probabilities = fitted.predict_proba(texts)
    assert probabilities.shape == (200, 2) and np.allclose(probabilities.sum(1), 1, atol=1e-5)
    loaded = load_student(fitted.save(tmp_path / "static"))
    assert loaded.name == "static" and isinstance(loaded, StaticRecipe) and loaded.checkpoint == DEFAULT_ENCODER
    assert np.array_equal(loaded.predict_proba(texts), probabilities)
    assert loaded.predict(texts[:5]) == fitted.predict(texts[:5])
    assert (tmp_path / "static" / "static" / "model.safetensors").is_file() and not list((tmp_path / "static").rglob("*.pkl"))


@pytest.mark.parametrize("changed", ["static/model.safetensors", "static/tokenizer.json", "static/config.json", "head.skops"])
def test_a_changed_file_is_refused(tmp_path, fitted, changed):
    folder = fitted.save(tmp_path / "static")
    file = folder / changed
    if file.suffix == ".json": file.write_text(json.dumps(dict(json.loads(file.read_text()), edited=True)))   # still valid JSON
    else: file.write_bytes(file.read_bytes()[:-8] + b"12345678")
    with pytest.raises(ConfigError, match="not the file this student was saved with"):
        load_student(folder)


def test_a_missing_static_model_is_refused(tmp_path, fitted):
    folder = fitted.save(tmp_path / "static")
    (folder / "static" / "model.safetensors").unlink()
    with pytest.raises(ConfigError, match="missing"):
        load_student(folder)


def test_scores_above_the_majority_baseline(tweets, fitted):
    _, labels, _, _ = tweets
    truth = labels[200:]
    majority = f1_score(truth, [pd.Series(labels[:200]).mode()[0]] * len(truth), average="macro")
    static = f1_score(truth, fitted.predict(tweets[0][200:]), average="macro")
    assert majority + 0.1 < static < 1, (majority, static)


def test_make_recipe_and_cross_validation_offer_it_but_not_by_default(tweets):
    texts, _, names, targets = tweets
    recipe = make_recipe("static", names, C=1.0, pca_dims=256)
    assert isinstance(recipe, StaticRecipe) and recipe.settings == {"C": 1.0, "pca_dims": 256} and not recipe.uses_encoder
    assert RECIPES["static"] is StaticRecipe and "static" not in DEFAULT_CANDIDATES
    with pytest.raises(ConfigError, match="unknown setting"):
        make_recipe("static", names, dims=3)
    table, _ = cross_validate_recipes(texts[:150], targets[:150], names, candidates=("embed", "static"))
    assert list(table["recipe"]) == ["majority", "embed", "static"] and table["cv_macro_f1"].notna().all()


def test_label_sets(tmp_path):
    "A multi-label fit on Davidson et al.'s tweets: the label sets at least two coders chose."
    frame = pd.read_csv(find_data_dir().path / "davidson_hate_offensive" / "labeled_data.csv").iloc[:300]
    labels = ["hate_speech", "offensive_language", "neither"]
    targets = (frame[labels].to_numpy() >= 2).astype(float)
    recipe = StaticRecipe(labels, multi_label=True).fit(frame["tweet"].tolist()[:200], targets[:200])
    probabilities = recipe.predict_proba(frame["tweet"].tolist()[200:])
    assert probabilities.shape == (100, 3) and not np.allclose(probabilities.sum(1), 1)
    assert len(recipe.metadata["C"]) == 3
    loaded = load_student(recipe.save(tmp_path / "sets"))
    assert loaded.multi_label and np.array_equal(loaded.predict_proba(frame["tweet"].tolist()[200:]), probabilities)


def test_distilled_once_then_read_from_the_disk_cache(monkeypatch, fitted):
    "A second process (here: an emptied memory) loads the cached folder and never distils again."
    import model2vec.distill
    monkeypatch.setattr(students, "_STATIC_MODELS", {})
    monkeypatch.setattr(model2vec.distill, "distill", lambda *a, **k: pytest.fail("distilled again"))
    model = students._static_model(DEFAULT_ENCODER, 256)
    assert np.array_equal(model.encode(["you are an idiot"]), fitted.model.encode(["you are an idiot"]))
    assert students._static_model(DEFAULT_ENCODER, 256) is model   # then remembered in the process


def test_its_model_card_says_how_it_really_loads(fitted):
    "A static student has no transformers form: its card points to load_student, not to a pipeline it cannot serve."
    from llm_distill.export import has_transformers_form, student_card
    card = str(student_card(fitted, task="incivility"))
    assert not has_transformers_form(fitted)
    assert "load_student" in card and "trust_remote_code" not in card and "library_name: sklearn" in card
    assert "the tokenizer limit" not in card
