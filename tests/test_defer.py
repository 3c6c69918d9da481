"""The deferring student (`defer`): the curve is monotone and chosen on training labels only, the rules behave as documented,
bad rules are refused by name, and an experiment's deferral never reads a test text's human label."""
import numpy as np
import pytest
from hypothesis import given, seed, settings, strategies as st

from llm_distill.core import ConfigError
from llm_distill.defer import SHARE_STEPS, choose_deferral, curve_from, defer_labels, text_confidence
from llm_distill.experiment import ExperimentConfig

SETTINGS = settings(max_examples=60, deadline=None, derandomize=True)


@seed(0)
@SETTINGS
@given(st.lists(st.tuples(st.floats(0.34, 1.0), st.booleans()), min_size=1, max_size=300))
def test_the_curve_sends_the_least_confident_first(rows):
    confidence, agrees = np.array([c for c, _ in rows]), np.array([a for _, a in rows])
    curve = curve_from(confidence, agrees)
    assert len(curve) == SHARE_STEPS and curve["kept"].is_monotonic_decreasing
    assert curve.at[0, "kept"] == len(rows) and curve.at[SHARE_STEPS - 1, "kept"] == 0
    np.testing.assert_allclose(curve.at[0, "agreement"], agrees.mean())
    finite = curve["threshold"][np.isfinite(curve["threshold"])]
    assert finite.is_monotonic_increasing
    kept = curve.dropna(subset=["agreement"])
    assert (kept["agreement_low"] <= kept["agreement"] + 1e-12).all()


@seed(0)
@SETTINGS
@given(st.lists(st.floats(0.34, 1.0), min_size=1, max_size=200), st.floats(0, 1))
def test_a_share_sends_at_most_that_share_of_the_same_texts(confidence, share):
    confidence = np.array(confidence)
    curve = curve_from(confidence, np.ones(len(confidence), bool))
    chosen = choose_deferral(curve, share=share)
    labels, sent = defer_labels(["student"] * len(confidence), confidence, chosen["threshold"], ["llm"] * len(confidence))
    assert sent.sum() <= round(chosen["share"] * len(confidence))   # ties at the threshold stay with the student
    assert [l == "llm" for l in labels] == list(sent)


@seed(0)
@SETTINGS
@given(st.floats(0.5, 0.999), st.floats(0, 1))
def test_a_target_is_met_or_said_to_be_missed(target, max_share):
    rng = np.random.default_rng(0)
    confidence = rng.uniform(0.5, 1, 400)
    agrees = rng.uniform(size=400) < confidence   # confident answers agree more often
    chosen = choose_deferral(curve_from(confidence, agrees), target=target, max_share=max_share)
    assert chosen["share"] <= max_share + 1e-9
    assert chosen["met"] == (chosen["agreement_low"] >= target)


def test_bad_rules_are_refused_by_name():
    curve = curve_from(np.linspace(0.5, 1, 50), np.ones(50, bool))
    with pytest.raises(ConfigError, match="exactly one of share or target"): choose_deferral(curve, share=0.1, target=0.9)
    with pytest.raises(ConfigError, match="deferral.share: must be between 0 and 1"): choose_deferral(curve, share=1.5)
    base = dict(name="x", data={"dataset": "textclass-toxicity"}, llm={"backend": "replay", "model": "m", "column": "c"})
    with pytest.raises(ConfigError, match="unknown key"): ExperimentConfig(**base, deferral={"shares": 0.2})
    with pytest.raises(ConfigError, match="share or target, not both"): ExperimentConfig(**base, deferral={"share": 0.2, "target": 0.9})
    with pytest.raises(ConfigError, match="deferral"): ExperimentConfig(**base, deferral={"target": 2})
    with pytest.raises(ConfigError, match="need an llm section"): ExperimentConfig(name="x", data={"dataset": "textclass-toxicity"}, conditions=["llm_deferred"])
    deferring = dict(base, conditions=["llm", "llm_deferred"])
    with pytest.raises(ConfigError, match="deferral.share: YAML read True"): ExperimentConfig(**deferring, deferral={"share": True})
    with pytest.raises(ConfigError, match="with share, the share itself is the cap"): ExperimentConfig(**deferring, deferral={"share": 0.2, "max_share": 0.1})
    with pytest.raises(ConfigError, match="deferral must be a mapping"): ExperimentConfig(**deferring, deferral=0.2)
    with pytest.raises(ConfigError, match="no effect without the llm_deferred condition"): ExperimentConfig(**base, deferral={"share": 0.2})
    assert ExperimentConfig(**base).deferral_rule() == {"share": None, "target": 0.95, "max_share": 0.3}
    assert ExperimentConfig(**deferring, deferral={"share": 0.2}).deferral_rule() == {"share": 0.2, "target": None, "max_share": 1.0}


def test_sending_none_sends_none_and_all_sends_all():
    confidence = np.array([0.5, 0.5, 0.7, 0.9])
    curve = curve_from(confidence, np.ones(4, bool))
    for share, sent in ((0.0, 0), (1.0, 4)):
        _, was_sent = defer_labels(["s"] * 4, confidence, choose_deferral(curve, share=share)["threshold"], ["l"] * 4)
        assert was_sent.sum() == sent


def test_label_set_confidence_is_the_least_certain_label():
    probabilities = np.array([[0.95, 0.02, 0.6], [0.5, 0.5, 0.5]])
    confidence = text_confidence(probabilities, multi_label=True, thresholds=[0.5, 0.5, 0.5])
    np.testing.assert_allclose(confidence, [0.6, 0.5])


def test_the_deferring_student_is_the_llm_student_with_the_llm_on_the_texts_it_sends(tmp_path):
    "Same training rows as the LLM-label student; its own answer where it keeps a text, the LLM's where it sends one."
    from llm_distill.experiment import run_experiment
    config = ExperimentConfig(name="d", data={"dataset": "textclass-toxicity", "limit": 150},
                              llm={"backend": "replay", "model": "gpt-4-0613", "column": "llm_gpt-4-0613"},
                              conditions=["llm", "llm_direct", "llm_deferred"], train_sizes=[None], folds=0, bootstrap=200, output=str(tmp_path / "d"))
    result = run_experiment(config, progress=False)
    cells = {c["condition"]: c for c in result.cells}
    student, llm, deferred = cells["llm"], cells["llm_direct"], cells["llm_deferred"]
    assert deferred["n_train"] == student["n_train"] and deferred["test_ids"] == student["test_ids"] == llm["test_ids"]
    sent = deferred["deferral"]["sent"]
    assert 0 < sum(sent) < len(sent)
    assert deferred["predictions"] == [l if s else o for o, l, s in zip(student["predictions"], llm["predictions"], sent)]
    assert deferred["deferral"]["grid"]["1.0"]["predictions"] == llm["predictions"]
    assert deferred["deferral"]["grid"]["0.0"]["predictions"] == student["predictions"]
