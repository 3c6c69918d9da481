"""The deferring student (`defer`): the curve is monotone and chosen on training labels only, the rules behave as documented,
bad rules are refused by name, and an experiment's deferral never reads a test text's human label."""
import numpy as np
import pytest
from hypothesis import given, seed, settings, strategies as st

from llm_distill.core import ConfigError
from llm_distill.defer import SHARE_STEPS, choose_deferral, curve_from, defer_labels, text_confidence
from llm_distill.design import ExperimentConfig

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
    from llm_distill.report import write_report
    headline = write_report(result).read_text(encoding="utf-8").split("\n## ")[0]
    assert f"Sending its least confident texts to the LLM ({100 * np.mean(sent):.0f}% of them" in headline   # the share it sent, not "-%"
    assert "Against its teacher (student minus LLM)" in headline and "(the `llm_deferred` condition)" not in headline   # deferral is not advised: it ran


@pytest.fixture(scope="module")
def deferring_cli(tmp_path_factory):
    "A student trained from the command line on 200 replayed GPT-4 labels, and 120 new texts with the LLM's labels beside them."
    import contextlib, io
    import pandas as pd
    from llm_distill.cli import main
    from llm_distill.data import load_dataset
    folder = tmp_path_factory.mktemp("cli")
    with contextlib.redirect_stdout(io.StringIO()) as said, contextlib.redirect_stderr(io.StringIO()):
        assert main(["label", "-q", "--dataset", "textclass-toxicity", "--limit", "200", "--backend", "replay", "--column", "llm_gpt-4-0613",
                     "--model", "gpt-4-0613", "--cache", str(folder / "c.sqlite"), "--out", str(folder / "ann.csv")]) == 0
        assert main(["train", "-q", "--dataset", "textclass-toxicity", "--limit", "200", "--annotations", str(folder / "ann.csv"),
                     "--recipe", "embed", "--out", str(folder / "student")]) == 0
    assert "with its deferral curve" in said.getvalue()
    data = load_dataset("textclass-toxicity").data
    trained = set(pd.read_csv(folder / "ann.csv", dtype=str)["id"])
    new = data[~data["id"].astype(str).isin(trained)].head(120).assign(id=lambda d: d["id"].astype(str))   # ids as the file writes them
    new[["id", "text", "llm_gpt-4-0613"]].rename(columns={"llm_gpt-4-0613": "gpt4"}).to_csv(folder / "new.csv", index=False)
    return folder, new


def _cli(*arguments):
    import contextlib, io
    from llm_distill.cli import main
    with contextlib.redirect_stdout(io.StringIO()) as out, contextlib.redirect_stderr(io.StringIO()) as err:
        try: code = main(list(arguments))
        except SystemExit as stop: code = stop.code   # argparse refuses a bad value this way
    return code, out.getvalue() + err.getvalue()


def test_predict_defer_to_matches_predict_deferred(deferring_cli):
    "The command line's file path and the Python call send the same texts and give the same labels."
    import pandas as pd
    from llm_distill.defer import predict_deferred
    from llm_distill.llm import ReplayBackend
    from llm_distill.students import load_student
    from llm_distill.codebook import load_codebook
    folder, new = deferring_cli
    code, said = _cli("predict", "-q", "--student", str(folder / "student"), "--input", str(folder / "new.csv"), "--id", "id",
                      "--output", str(folder / "out.csv"), "--defer-to", "replay", "--column", "gpt4", "--codebook", "textclass-toxicity",
                      "--share", "0.25", "--cache", str(folder / "defer.sqlite"))
    assert code == 0 and "texts labelled by the LLM" in said, said
    out = pd.read_csv(folder / "out.csv", dtype={"id": str})
    codebook = load_codebook("textclass-toxicity")
    replay = ReplayBackend(new.set_index("id")["llm_gpt-4-0613"], "gpt-4-0613", codes=codebook)
    expected = predict_deferred(load_student(folder / "student"), new["text"].tolist(), new["id"].tolist(), replay, codebook, share=0.25,
                                cache=folder / "python.sqlite")
    assert out["id"].tolist() == new["id"].tolist()
    assert out["label"].tolist() == expected["label"].tolist() and out["source"].tolist() == expected["source"].tolist()
    assert 0 < (out["source"] == "llm").sum() < len(out)
    llm = dict(zip(new["id"], new["llm_gpt-4-0613"]))
    names = {str(label.code): label.name for label in codebook.labels}   # the file holds codes; they map through the codebook
    sent = out[out["source"] == "llm"]
    assert [names[str(llm[i])] for i in sent["id"]] == sent["label"].tolist()


def test_predict_defer_to_refuses_what_it_cannot_do(deferring_cli):
    folder, _ = deferring_cli
    base = ["predict", "-q", "--student", str(folder / "student"), "--input", str(folder / "new.csv"), "--output", str(folder / "bad.csv")]
    for extra, message in ((["--share", "0.2"], "--share is for deferring"),
                           (["--defer-to", "replay", "--column", "gpt4", "--share", "0.2"], "needs --codebook"),
                           (["--defer-to", "replay", "--column", "gpt4", "--codebook", "textclass-toxicity"], "exactly one of --share or --target"),
                           (["--defer-to", "replay", "--codebook", "textclass-toxicity", "--share", "0.2"], "needs --column"),
                           (["--defer-to", "replay", "--column", "nope", "--codebook", "textclass-toxicity", "--share", "0.2"], "'nope' is not a column"),
                           (["--defer-to", "openai", "--codebook", "textclass-toxicity", "--share", "0.2"], "needs --llm-model"),
                           (["--defer-to", "replay", "--column", "gpt4", "--codebook", "theocharis-incivility", "--share", "0.2"], "not the student's"),
                           (["--defer-to", "replay", "--column", "gpt4", "--codebook", "textclass-toxicity", "--share", "1.5"], "from 0 to 1"),
                           (["--defer-to", "replay", "--column", "gpt4", "--codebook", "textclass-toxicity", "--share", "0.2",
                             "--cache", str(folder / "new.csv")], "--cache")):
        code, said = _cli(*base, *extra)
        assert code != 0 and message in said, (extra, said)
    assert not (folder / "bad.csv").exists()
    assert (folder / "new.csv").read_text().startswith("id,text,gpt4")   # the input, never overwritten


def test_plan_prices_the_deferring_student(tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    config = tmp_path / "live.yaml"
    config.write_text("name: live\ndata: {dataset: textclass-toxicity, limit: 150}\nllm: {backend: openai, model: gpt-4o-mini}\n"
                      "conditions: [llm, llm_deferred]\ndeferral: {share: 0.2}\n")
    code, said = _cli("plan", str(config), "--output", str(tmp_path / "out"))
    assert code == 0 and "llm_deferred: nothing more in this experiment" in said and "sends 20% of new texts" in said, said
    llm_alone = float(said.split("against ~$")[1].split(" ")[0].replace(",", ""))
    deferred = float(said.split("new texts to gpt-4o-mini: ~$")[1].split(" ")[0].replace(",", ""))
    assert deferred == pytest.approx(0.2 * llm_alone, rel=0.01)


def test_costly_recipes_announce_their_time_and_quiet_silences_it(monkeypatch, capsys):
    from llm_distill.core import announce_duration
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    message = announce_duration("fine-tuning", 120, 1.5)
    assert capsys.readouterr().err.strip() == message and message.endswith("about 3 min")
    monkeypatch.setenv("TQDM_DISABLE", "1")
    announce_duration("fine-tuning", 120, 1.5)
    assert capsys.readouterr().err == ""


def test_the_cache_is_never_the_output_and_repeated_ids_are_asked_once(deferring_cli):
    folder, new = deferring_cli
    base = ["predict", "-q", "--student", str(folder / "student"), "--input", str(folder / "new.csv"), "--id", "id",
            "--defer-to", "replay", "--column", "gpt4", "--codebook", "textclass-toxicity", "--share", "0.5"]
    code, said = _cli(*base, "--output", str(folder / "same.csv"), "--cache", str(folder / "same.csv"))
    assert code != 0 and "--cache" in said and not (folder / "same.csv").exists()
    import pandas as pd
    repeated = pd.read_csv(folder / "new.csv", dtype=str)
    repeated.loc[1, "id"] = repeated.loc[0, "id"]   # one id, two different texts
    repeated.to_csv(folder / "repeated.csv", index=False)
    code, said = _cli(*base[:5], str(folder / "repeated.csv"), *base[6:], "--share", "1.0", "--output", str(folder / "r.csv"), "--cache", str(folder / "r.sqlite"))
    assert code != 0 and f"id {repeated.loc[0, 'id']!r} is given to two different texts" in said, said
