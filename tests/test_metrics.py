"""The metric registry: a metric registered from outside is reported by `validate` and `compare_sources` with its
interval, and every built-in metric equals scikit-learn's on random label pairs."""
import numpy as np
import pytest
from hypothesis import assume, given, seed, settings, strategies as st
from sklearn.metrics import (accuracy_score, balanced_accuracy_score, cohen_kappa_score, f1_score,
                             precision_recall_fscore_support)

from llm_distill.data import load_dataset
from llm_distill.metrics import HEADLINE_METRICS, METRICS, Metric, SetCounts, agreement_metrics, compare_labels, register_metric
from llm_distill.validate import _label_set_metric_rows, compare_sources, validate


@pytest.fixture
def restored_metrics():
    "METRICS as it was before the test, whatever the test registers."
    saved = dict(METRICS)
    yield METRICS
    METRICS.clear()
    METRICS.update(saved)


@pytest.fixture(scope="module")
def toxicity():
    return load_dataset("textclass-toxicity")


def test_a_metric_registered_from_outside_is_reported_with_its_interval(toxicity, restored_metrics):
    data, codebook = toxicity.data, toxicity.codebook
    register_metric(Metric("balanced_accuracy", "mean recall over the human labels",
                           lambda pair: balanced_accuracy_score(pair.truth_codes, pair.predicted_codes)))
    report = validate(data["human_label"], data["llm_gpt-4-0613"], codebook, n_resamples=200)
    table = report.table.set_index("metric")
    pair = compare_labels(data["human_label"], data["llm_gpt-4-0613"], codebook)
    assert list(table.index[-1:]) == ["balanced_accuracy"]                                   # after the built-in ones
    assert table.at["balanced_accuracy", "value"] == pytest.approx(balanced_accuracy_score(pair.truth_codes, pair.predicted_codes))
    low, high = table.loc["balanced_accuracy", ["ci_low", "ci_high"]]
    assert low < table.at["balanced_accuracy", "value"] < high and high - low < 0.2
    comparison = compare_sources(data["human_label"], data["llm_gpt-4-0613"], data["llm_gpt-3.5-turbo-0125"],
                                 ("gpt-4", "gpt-3.5"), codebook, n_resamples=200).set_index("metric")
    row = comparison.loc["balanced_accuracy"]
    assert row["difference"] == pytest.approx(row["gpt-4"] - row["gpt-3.5"])
    assert np.isfinite([row["ci_low"], row["ci_high"]]).all() and row["ci_low"] <= row["difference"] <= row["ci_high"]


def test_the_registry_is_restored_and_declares_the_headline(restored_metrics):
    assert "balanced_accuracy" not in METRICS
    assert all(name in METRICS and METRICS[name].single_label and METRICS[name].label_sets for name in HEADLINE_METRICS)
    with pytest.raises(TypeError):
        register_metric(Metric("nothing", "scores no task"))
    with pytest.raises(TypeError):
        register_metric("accuracy")


def label_pairs(draw_labels=st.integers(2, 5)):
    "Random (truth, predicted, labels): the last label may go unused, some predictions missing."
    @st.composite
    def pairs(draw):
        k = draw(draw_labels)
        labels = [f"l{i}" for i in range(k + 1)]
        n = draw(st.integers(2, 60))
        truth = draw(st.lists(st.sampled_from(labels[:k]), min_size=n, max_size=n))
        predicted = draw(st.lists(st.one_of(st.none(), st.sampled_from(labels)), min_size=n, max_size=n))
        return truth, predicted, labels
    return pairs()


@seed(0)
@settings(max_examples=150, deadline=None)
@given(label_pairs())
def test_built_in_metrics_equal_scikit_learn(case):
    truth, predicted, labels = case
    assume(any(p is not None for p in predicted))   # ordinal alpha with no answer at all raises in krippendorff (as it always did)
    pair = compare_labels(truth, predicted, labels=labels, ordinal=True, positive_label=labels[0])
    ours = agreement_metrics(pair)
    t, p = pair.truth_codes, pair.predicted_codes
    occurring = sorted((set(t) | set(p)) - {pair.no_label})
    assert ours["accuracy"] == pytest.approx(accuracy_score(t, p))
    assert ours["macro_f1"] == pytest.approx(f1_score(t, p, labels=occurring, average="macro", zero_division=0))
    assert ours["weighted_f1"] == pytest.approx(f1_score(t, p, labels=list(range(len(labels))), average="weighted", zero_division=0))
    precision, recall, f1, _ = precision_recall_fscore_support(t, p, labels=[0], zero_division=0)
    assert [ours["positive_precision"], ours["positive_recall"], ours["positive_f1"]] == pytest.approx([precision[0], recall[0], f1[0]])
    if len(set(t)) > 1:
        with np.errstate(all="ignore"):
            expected = cohen_kappa_score(t, p)
        assert ours["cohen_kappa"] == pytest.approx(expected, nan_ok=True)
        answered = p != pair.no_label
        if answered.sum() >= 2:
            with np.errstate(all="ignore"):
                expected = cohen_kappa_score(t[answered], p[answered], labels=list(range(len(labels))), weights="quadratic")
            assert ours["weighted_kappa"] == pytest.approx(expected, nan_ok=True)
    else:
        assert np.isnan([ours["cohen_kappa"], ours["alpha_nominal"], ours["weighted_kappa"], ours["alpha_ordinal"]]).all()
    assert list(ours) == [name for name, metric in METRICS.items() if metric.applies(pair)]


@seed(0)
@settings(max_examples=100, deadline=None)
@given(st.integers(2, 5), st.integers(2, 40), st.integers(0, 2**32 - 1))   # one label: scikit-learn reads a column
def test_built_in_label_set_metrics_equal_scikit_learn(n_labels, n_texts, state):
    rng = np.random.default_rng(state)
    truth, predicted = rng.random((n_texts, n_labels)) < 0.4, rng.random((n_texts, n_labels)) < 0.4
    names = [m.name for m in METRICS.values() if m.label_sets]
    ours = dict(zip(names, _label_set_metric_rows(truth, predicted, np.arange(n_texts)[None])[:, 0]))
    used = truth.any(0) | predicted.any(0)
    if not used.any(): used[:] = True
    assert ours["accuracy"] == pytest.approx(accuracy_score(truth, predicted))                    # exact match
    assert ours["macro_f1"] == pytest.approx(f1_score(truth, predicted, average=None, zero_division=0)[used].mean())   # over labels that occur
    for average in ("micro", "weighted"):
        assert ours[f"{average}_f1"] == pytest.approx(f1_score(truth, predicted, average=average, zero_division=0))
    assert np.isnan(ours["cohen_kappa"])


def test_set_counts_score_every_resample_at_once():
    truth = np.array([[1, 0], [1, 1], [0, 0]], dtype=bool)
    predicted = np.array([[1, 0], [0, 1], [0, 1]], dtype=bool)
    counts = SetCounts(np.array([[1, 1]]), np.array([[0, 1]]), np.array([[1, 0]]), np.array([[2, 2]]), np.array([1 / 3]))
    assert counts.f1[0].tolist() == pytest.approx([2 / 3, 2 / 3])
    assert METRICS["macro_f1"].set_score(counts).tolist() == pytest.approx([f1_score(truth, predicted, average="macro")])
