"""Prediction-powered estimates on simulated labels with a planted bias: the corrected interval covers, the naive one does not."""
import re

import numpy as np
import pandas as pd
import pytest

from llm_distill.core import ConfigError, DataError
from llm_distill.inference import estimate_regression, estimate_shares, indicator, plan_human_sample, uncertainty_sampling, draw_sample


def planted(rng, n=3000, share=0.3, false_positive=0.25, false_negative=0.1):
    "Human truth with the given share; machine labels that call 25% of negatives positive and miss 10% of positives."
    truth = np.where(rng.random(n) < share, "yes", "no")
    flip = np.where(truth == "no", rng.random(n) < false_positive, rng.random(n) < false_negative)
    machine = np.where(flip, np.where(truth == "yes", "no", "yes"), truth)
    return truth.tolist(), machine.tolist()


def coverage(draws=200, n_human=150, probabilities=None, seed=0):
    rng, hits = np.random.default_rng(seed), {"ppi": 0, "human": 0, "naive": 0}
    for _ in range(draws):
        truth, machine = planted(rng)
        coded = draw_sample(probabilities, seed=int(rng.integers(1 << 30))) if probabilities is not None else \
            np.isin(np.arange(len(truth)), rng.choice(len(truth), n_human, replace=False))
        table = estimate_shares(machine, [t if c else None for t, c in zip(truth, coded)], ["yes"], probabilities=probabilities).set_index("method")
        true_share = indicator(truth, "yes").mean()
        for method in hits: hits[method] += table.at[method, "ci_low"] <= true_share <= table.at[method, "ci_high"]
    return {m: h / draws for m, h in hits.items()}


def test_a_planted_bias_is_corrected():
    covered = coverage()
    assert covered["ppi"] >= 0.9 and covered["human"] >= 0.9, covered
    assert covered["naive"] < 0.1, covered                       # the machine's bias makes the naive interval miss


def test_unequal_inclusion_probabilities_stay_valid():
    probabilities = uncertainty_sampling(np.linspace(0.05, 1.0, 3000), 200)
    covered = coverage(draws=150, probabilities=probabilities, seed=1)
    assert covered["ppi"] >= 0.88, covered


def test_groups_regression_and_planning():
    rng = np.random.default_rng(3)
    truth, machine = planted(rng, n=2000)
    groups = np.where(np.arange(2000) % 2 == 0, "a", "b")
    coded = rng.random(2000) < 0.1
    human = [t if c else None for t, c in zip(truth, coded)]
    shares = estimate_shares(machine, human, ["yes", "no"], groups=groups)
    assert set(shares["group"]) == {"a", "b"} and len(shares) == 2 * 2 * 3
    x = pd.DataFrame({"x": rng.normal(size=2000)})
    coefficients = estimate_regression(machine, human, "yes", x, kind="ols")
    assert set(coefficients["term"]) == {"intercept", "x"}
    plan = plan_human_sample(machine[:80], truth[:80], "yes", half_width=0.03)
    assert 0 < plan["n_human"] <= plan["n_human_only"]


def test_bad_inputs_name_the_problem():
    with pytest.raises(DataError, match="same texts"):
        estimate_shares(["yes"] * 3, ["yes"] * 2, ["yes"])
    with pytest.raises(DataError, match="at least 30"):   # 3 human labels: no interval
        estimate_shares(["yes", None, "no"] * 100, ["yes", "no", None] + [None] * 297, ["yes"])
    with pytest.raises(DataError, match="inclusion probability"):
        estimate_shares(["yes", "no", "no"], ["yes", "no", None], ["yes"], probabilities=[0.5, 0.5, 0.0], min_human=2)
    with pytest.raises(DataError, match="occur in no machine or human label"):
        estimate_shares(["yes", "no"] * 30, ["yes", "no"] * 30, ["yess"])


def test_machine_gaps_keep_their_human_labels_and_degenerate_cases_say_so():
    rng = np.random.default_rng(3)
    truth, machine = planted(rng, n=600)
    machine = [None if i % 7 == 0 else m for i, m in enumerate(machine)]   # the machine refused some texts
    human = [t if i % 4 == 0 else None for i, t in enumerate(truth)]
    table = estimate_shares(machine, human, ["yes"])
    assert (table["n_human"] == 150).all() and (table["n_machine_unlabelled"] == 86).all()   # no human label dropped with a refusal
    nobody = estimate_shares(machine, [("no" if h else None) for h in human], ["yes", "no"]).query("label == 'yes'").set_index("method")
    assert nobody.loc["ppi", "estimate"] == 0 and 0 < nobody.loc["ppi", "ci_high"] < 0.05 and "Clopper-Pearson" in nobody.loc["ppi", "note"]
    everyone = estimate_shares(machine, truth, ["yes"]).set_index("method")
    assert "every text is human-coded" in everyone.loc["ppi", "note"] and not everyone[["estimate", "ci_low", "ci_high"]].isna().any().any()
    with pytest.raises(ConfigError, match="kind"):
        estimate_regression(["yes", "no"], ["yes", "no"], "yes", pd.DataFrame({"x": [1, 2]}), kind="probit")


def test_regression_covariates_that_are_not_numbers_or_are_missing_are_refused_by_name():
    from llm_distill.core import DataError
    from llm_distill.inference import estimate_outcome_on_label
    rng = np.random.default_rng(3)
    machine = list(rng.choice(["yes", "no"], 200))
    human = [m if i < 80 else None for i, m in enumerate(machine)]
    party = pd.DataFrame({"party": rng.choice(["A", "B"], 200)})
    with pytest.raises(DataError, match=r"covariate 'party' is not numbers .*pd.get_dummies\(covariates, columns=\['party'\]"):
        estimate_regression(machine, human, "yes", party, kind="ols")
    with pytest.raises(DataError, match=r"covariate 'party' is not numbers"):
        estimate_outcome_on_label(rng.normal(size=200), machine, human, "yes", party)
    age = pd.DataFrame({"age": rng.normal(40, 10, 200)}).assign(age=lambda d: d["age"].where(~d.index.isin([7, 9])))
    with pytest.raises(DataError, match=r"covariate 'age' is missing or infinite at 2 text\(s\) \(index \[7, 9\]\)"):
        estimate_regression(machine, human, "yes", age, kind="logistic")
    coded = pd.get_dummies(party, columns=["party"], drop_first=True, dtype=float)   # what the message says to do works
    assert estimate_regression(machine, human, "yes", coded, kind="ols")["term"].unique().tolist() == ["intercept", "party_B"]


def test_command_line_estimate(tmp_path, capsys):
    from llm_distill.cli import main
    rng = np.random.default_rng(5)
    truth, machine = planted(rng, n=600)
    pd.DataFrame({"id": range(600), "label": machine, "party": np.where(np.arange(600) < 300, "left", "right")}).to_csv(tmp_path / "a.csv", index=False)
    coded = rng.choice(600, 120, replace=False)
    pd.DataFrame({"id": coded, "label": [truth[i] for i in coded]}).to_csv(tmp_path / "h.csv", index=False)
    (tmp_path / "yes-no.yaml").write_text("task: yes or no\nrequire_definitions: false\nlabels: [{name: 'yes', code: 1}, {name: 'no', code: 0}]\n")
    codebook = ["--codebook", str(tmp_path / "yes-no.yaml")]
    assert main(["estimate", str(tmp_path / "a.csv"), "--human", str(tmp_path / "h.csv"), "--labels", "yes", "--group", "party",
                 "--out", str(tmp_path / "e.csv"), *codebook]) == 0
    table = pd.read_csv(tmp_path / "e.csv")
    assert set(table["method"]) == {"ppi", "human", "naive"} and set(table["group"]) == {"left", "right"}
    pd.DataFrame({"id": [9999], "label": ["yes"]}).to_csv(tmp_path / "stranger.csv", index=False)
    assert main(["estimate", str(tmp_path / "a.csv"), "--human", str(tmp_path / "stranger.csv"), *codebook]) == 2
    assert "9999" in capsys.readouterr().err
    # human labels as codes, machine labels as names in other spellings: the same estimates
    pd.DataFrame({"id": coded, "label": [int(truth[i] == "yes") for i in coded]}).to_csv(tmp_path / "codes.csv", index=False)
    pd.read_csv(tmp_path / "a.csv").assign(label=lambda f: f["label"].str.upper() + " ").to_csv(tmp_path / "A.csv", index=False)
    assert main(["estimate", str(tmp_path / "A.csv"), "--human", str(tmp_path / "codes.csv"), "--labels", "yes", "--group", "party",
                 "--out", str(tmp_path / "e2.csv"), *codebook]) == 0
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "e2.csv"), table)
    assert main(["estimate", str(tmp_path / "a.csv"), "--human", str(tmp_path / "h.csv"), "--labels", "yess", *codebook]) == 2
    assert "did you mean 'yes'" in capsys.readouterr().err
    pd.concat([pd.read_csv(tmp_path / "h.csv")] * 2).to_csv(tmp_path / "twice.csv", index=False)   # an id coded twice: refused, never "last wins"
    assert main(["estimate", str(tmp_path / "a.csv"), "--human", str(tmp_path / "twice.csv"), *codebook]) == 2
    assert "both have id" in capsys.readouterr().err


def test_estimate_reads_the_columns_a_user_named_and_says_why_an_id_has_no_machine_label(tmp_path, capsys):
    "A coder's file with its own column names (doc, code) needed renaming; an id of the human sample missing from the machine labels said no remedy."
    from llm_distill.cli import main
    rng = np.random.default_rng(7)
    truth, machine = planted(rng, n=400)
    ids = [f"{i:04d}" for i in range(400)]   # zero-padded, as a coder's export writes them
    pd.DataFrame({"doc": ids, "predicted": machine}).to_csv(tmp_path / "machine.csv", index=False)
    coded = sorted(rng.choice(400, 90, replace=False))
    pd.DataFrame({"article": [ids[i] for i in coded], "code": [int(truth[i] == "yes") for i in coded]}).to_csv(tmp_path / "coders.csv", index=False)
    pd.DataFrame({"id": [ids[i] for i in coded], "label": [truth[i] for i in coded]}).to_csv(tmp_path / "h.csv", index=False)
    pd.DataFrame({"id": ids, "label": machine}).to_csv(tmp_path / "a.csv", index=False)
    (tmp_path / "yes-no.yaml").write_text("task: yes or no\nrequire_definitions: false\nlabels: [{name: 'yes', code: 1}, {name: 'no', code: 0}]\n")
    codebook = ["--codebook", str(tmp_path / "yes-no.yaml"), "--labels", "yes"]
    assert main(["estimate", str(tmp_path / "machine.csv"), "--human", str(tmp_path / "coders.csv"), "--id", "doc", "--label", "predicted",
                 "--human-id", "article", "--human-label", "code", "--output", str(tmp_path / "named.csv"), *codebook]) == 0
    assert main(["estimate", str(tmp_path / "a.csv"), "--human", str(tmp_path / "h.csv"), "--output", str(tmp_path / "plain.csv"), *codebook]) == 0
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "named.csv"), pd.read_csv(tmp_path / "plain.csv"))   # the same numbers
    capsys.readouterr()
    assert main(["estimate", str(tmp_path / "machine.csv"), "--human", str(tmp_path / "coders.csv"), *codebook]) == 2
    assert "machine.csv: id column 'id' not found; columns are ['doc', 'predicted']; name its id and label columns with --id and --label" in capsys.readouterr().err
    pd.DataFrame({"id": [str(int(ids[i])) for i in coded], "label": [truth[i] for i in coded]}).to_csv(tmp_path / "unpadded.csv", index=False)
    assert main(["estimate", str(tmp_path / "a.csv"), "--human", str(tmp_path / "unpadded.csv"), *codebook]) == 2
    err = capsys.readouterr().err
    assert "human-coded id(s) have no machine label" in err and "label those texts too" in err, err
    here, there = re.search(r"differ only in how they are written, e\.g\. '(\d+)' here and '(\d+)' there", err).groups()
    assert there == f"{int(here):04d}" and here != there, err


def test_outcome_on_a_predicted_label_is_corrected():
    "An outcome that depends on the true label; machine labels with false positives dilute the naive slope; PPI covers."
    from llm_distill.inference import estimate_outcome_on_label
    rng, hits, naive_hits, draws = np.random.default_rng(11), 0, 0, 200
    for _ in range(draws):
        truth, machine = planted(rng, n=2000)
        x = pd.DataFrame({"x": rng.normal(size=2000)})
        y = 1.0 + 2.0 * indicator(truth, "yes") + 0.5 * x["x"].to_numpy() + rng.normal(0, 1, 2000)
        coded = np.isin(np.arange(2000), rng.choice(2000, 200, replace=False))
        table = estimate_outcome_on_label(y, machine, [t if c else None for t, c in zip(truth, coded)], "yes", x)
        row = table.query("term == 'yes'").set_index("method")
        hits += row.at["ppi", "ci_low"] <= 2.0 <= row.at["ppi", "ci_high"]
        naive_hits += row.at["naive", "ci_low"] <= 2.0 <= row.at["naive", "ci_high"]
    assert hits / draws >= 0.9 and naive_hits / draws < 0.1, (hits / draws, naive_hits / draws)


def test_estimate_counts_a_human_coded_empty_label_set_as_coded(tmp_path):
    "`estimate` on label sets: a human-coded '(none)' or '[]' is a coded text whose set is empty, not an uncoded one (it was dropped, biasing every share)."
    import numpy as np
    import pandas as pd
    from llm_distill.cli import main
    rng = np.random.default_rng(1)
    names = ["moral", "cost"]
    sets = ["|".join(n for n in names if rng.random() < 0.3) or "(none)" for _ in range(300)]
    pd.DataFrame({"id": [f"t{i}" for i in range(300)], "label": sets}).to_csv(tmp_path / "ann.csv", index=False)
    coded = rng.choice(300, 120, replace=False)
    pd.DataFrame({"id": [f"t{i}" for i in coded], "label": [sets[i].replace("(none)", "[]") for i in coded]}).to_csv(tmp_path / "human.csv", index=False)
    (tmp_path / "cb.yaml").write_text("task: frames\nmulti_label: true\nrequire_definitions: false\nlabels:\n  - {name: moral}\n  - {name: cost}\n")
    assert main(["estimate", str(tmp_path / "ann.csv"), "--human", str(tmp_path / "human.csv"), "--codebook", str(tmp_path / "cb.yaml"),
                 "--output", str(tmp_path / "e.csv")]) == 0
    table = pd.read_csv(tmp_path / "e.csv").set_index(["label", "method"])
    assert (table["n_human"] == 120).all()
    assert table.loc[("moral", "human"), "estimate"] == pytest.approx(np.mean(["moral" in sets[i] for i in coded]))


def test_estimate_shares_counts_read_labels_empty_sets_as_coded(tmp_path):
    "The Python path: read_labels gives '' for a human-coded empty set; estimate_shares on it counts those texts as coded (it counted 47 of 120)."
    import numpy as np
    import pandas as pd
    from llm_distill.boundary import as_codebook, read_labels
    from llm_distill.inference import estimate_shares
    rng = np.random.default_rng(2)
    codebook = as_codebook(["moral", "cost"], multi_label=True)
    sets = ["|".join(n for n in codebook.label_names if rng.random() < 0.3) or "(none)" for _ in range(300)]
    coded = set(rng.choice(300, 120, replace=False).tolist())
    pd.DataFrame({"id": [f"t{i}" for i in range(300)], "label": sets}).to_csv(tmp_path / "ann.csv", index=False)
    pd.DataFrame({"id": [f"t{i}" for i in sorted(coded)], "label": [sets[i] for i in sorted(coded)]}).to_json(tmp_path / "human.jsonl", orient="records", lines=True)
    machine = read_labels(tmp_path / "ann.csv", codebook)
    human = read_labels(tmp_path / "human.jsonl", codebook).set_index("id")["label"]
    assert (human == "").sum() == sum(sets[i] == "(none)" for i in coded) > 0
    table = estimate_shares(machine["label"].tolist(), [human.get(i) for i in machine["id"]], codebook, codebook=codebook).set_index(["label", "method"])
    assert (table["n_human"] == 120).all()
    assert table.loc[("moral", "human"), "estimate"] == pytest.approx(np.mean(["moral" in sets[i] for i in coded]))


def test_every_group_short_of_human_codes_is_named_at_once():
    "estimate --group stopped at the first small group; the refusal now names each group below min_human, with its count."
    from llm_distill.core import DataError
    from llm_distill.inference import estimate_shares
    rng = np.random.default_rng(3)
    groups = ["big"] * 200 + ["tiny"] * 20 + ["small"] * 40
    machine = rng.choice(["yes", "no"], len(groups)).tolist()
    human = [m if i % 2 == 0 else None for i, m in enumerate(machine)]   # 100, 10 and 20 coded
    with pytest.raises(DataError, match=r"2 group\(s\) have fewer than 30 human-coded texts \(min_human, --min-human\): 'tiny' \(10\), 'small' \(20\)"):
        estimate_shares(machine, human, ["yes"], groups=groups)
    assert set(estimate_shares(machine, human, ["yes"], groups=groups, min_human=10)["group"]) == {"big", "tiny", "small"}


def test_estimate_says_how_many_human_rows_have_no_label(tmp_path, capsys):
    "A blank cell in --human is a text nobody coded: left out of n_human, and now said (it was dropped without a word)."
    from llm_distill.cli import main
    rng = np.random.default_rng(6)
    truth, machine = planted(rng, n=300)
    pd.DataFrame({"id": range(300), "label": machine}).to_csv(tmp_path / "a.csv", index=False)
    human = pd.DataFrame({"id": range(100), "label": [truth[i] if i >= 3 else None for i in range(100)]})
    human.to_csv(tmp_path / "h.csv", index=False)
    (tmp_path / "yes-no.yaml").write_text("task: yes or no\nrequire_definitions: false\nlabels: [{name: 'yes'}, {name: 'no'}]\n")
    assert main(["estimate", str(tmp_path / "a.csv"), "--human", str(tmp_path / "h.csv"), "--codebook", str(tmp_path / "yes-no.yaml"),
                 "--output", str(tmp_path / "e.csv")]) == 0
    assert "note: 3 row(s) of h.csv have no label: counted as texts nobody coded" in capsys.readouterr().out
    assert (pd.read_csv(tmp_path / "e.csv")["n_human"] == 97).all()


def test_estimate_groups_are_read_as_written_and_trained_on_counts_coded_texts(tmp_path, capsys):
    "A group column of `01` and `1` is two groups (they merged into one, renamed `1`); a trained-on refusal counts human-coded texts only (it counted blank rows)."
    from llm_distill.cli import main
    rng = np.random.default_rng(7)
    truth, machine = planted(rng, n=300)
    pd.DataFrame({"id": range(300), "label": machine, "district": ["01"] * 150 + ["1"] * 150}).to_csv(tmp_path / "a.csv", index=False)
    coded = [i for i in range(300) if i % 3 == 0]
    pd.DataFrame({"id": coded, "label": [truth[i] for i in coded]}).to_csv(tmp_path / "h.csv", index=False)
    (tmp_path / "yes-no.yaml").write_text("task: yes or no\nrequire_definitions: false\nlabels: [{name: 'yes'}, {name: 'no'}]\n")
    codebook = ["--codebook", str(tmp_path / "yes-no.yaml")]
    assert main(["estimate", str(tmp_path / "a.csv"), "--human", str(tmp_path / "h.csv"), "--group", "district", "--output", str(tmp_path / "e.csv"), *codebook]) == 0
    table = pd.read_csv(tmp_path / "e.csv", dtype={"group": str})
    assert sorted(set(table["group"])) == ["01", "1"] and (table["n_texts"] == 150).all()
    pd.DataFrame({"id": range(300), "label": machine, "trained_on": [True] * 300}).to_csv(tmp_path / "pred.csv", index=False)
    pd.DataFrame({"id": range(300), "label": [truth[i] if i in set(coded) else None for i in range(300)]}).to_csv(tmp_path / "all.csv", index=False)
    capsys.readouterr()
    assert main(["estimate", str(tmp_path / "pred.csv"), "--human", str(tmp_path / "all.csv"), "--output", str(tmp_path / "e2.csv"), *codebook]) == 2
    assert "100 human-coded text(s) were in the student's training set" in capsys.readouterr().err


def _planted_series(seed=0, n=600, coded=200):
    "Machine and human labels as Series indexed by text id (human missing where not coded), and a party per text."
    rng = np.random.default_rng(seed)
    truth, machine = planted(rng, n)
    ids = [f"{i:03d}" for i in range(n)]
    party = pd.Series(np.where(rng.random(n) < 0.5, "D", "R"), index=ids)
    human = pd.Series([t if i in set(rng.choice(n, coded, replace=False)) else None for i, t in enumerate(truth)], index=ids, dtype=object)
    return pd.Series(machine, index=ids), human, party


def test_groups_covariates_and_outcomes_given_as_series_are_matched_by_their_index():
    "groups= and covariates= in another row order were read by position: party R got 32 human-coded texts instead of 36, silently."
    from llm_distill.inference import estimate_outcome_on_label
    machine, human, party = _planted_series()
    shuffled = party.sample(frac=1, random_state=0)
    assert not shuffled.index.equals(party.index)
    pd.testing.assert_frame_equal(estimate_shares(machine, human, ["yes"], groups=shuffled), estimate_shares(machine, human, ["yes"], groups=party))
    X = pd.DataFrame({"R": (party == "R").astype(float)})
    pd.testing.assert_frame_equal(estimate_regression(machine, human, "yes", X.iloc[::-1], kind="ols"), estimate_regression(machine, human, "yes", X, kind="ols"))
    outcome = pd.Series(np.random.default_rng(1).normal(size=len(machine)), index=machine.index)
    pd.testing.assert_frame_equal(estimate_outcome_on_label(outcome.iloc[::-1], machine, human, "yes"), estimate_outcome_on_label(outcome, machine, human, "yes"))
    with pytest.raises(DataError, match="groups and the machine labels are indexed by different texts"):
        estimate_shares(machine, human, ["yes"], groups=party.iloc[1:])


def test_regressions_read_labels_as_the_shares_do():
    "estimate_regression took human labels spelled 'YES' (or coded 1/0) as no label at all: coefficients of 0 with intervals [0, 0], or NaN."
    from llm_distill.boundary import as_codebook
    from llm_distill.codebook import Codebook
    from llm_distill.inference import estimate_outcome_on_label
    machine, human, party = _planted_series(seed=2)
    X = pd.DataFrame({"R": (party == "R").astype(float)})
    expected = estimate_regression(machine, human, "yes", X, kind="ols")
    coded = Codebook("yes or no", (dict(name="yes", code=1), dict(name="no", code=0)), require_definitions=False)
    for other_human, label, codebook in ((human.str.upper(), "yes", None), (human, "Yes", None), (human.map({"yes": 1, "no": 0}), "yes", coded)):
        pd.testing.assert_frame_equal(estimate_regression(machine, other_human, label, X, kind="ols", codebook=codebook), expected)
    outcome = np.random.default_rng(3).normal(size=len(machine))
    pd.testing.assert_frame_equal(estimate_outcome_on_label(outcome, machine, human.str.upper(), "yes"), estimate_outcome_on_label(outcome, machine, human, "yes"))
    with pytest.raises(DataError, match="not label names, e.g. 1.*pass codebook="): estimate_regression(machine, human.map({"yes": 1, "no": 0}), "yes", X)


def test_human_labels_in_another_vocabulary_are_refused_not_counted_as_no_label():
    "Without a codebook, human labels 1/0 or 'uncivil'/'civil' beside machine 'yes'/'no' gave a share of 0.00 [0, 0.03] and a note."
    machine, human, _ = _planted_series(seed=4)
    with pytest.raises(DataError, match="human labels include values that are not label names"): estimate_shares(machine, human.map({"yes": 1, "no": 0}), ["yes"])
    with pytest.raises(DataError, match=r"the human labels \(\['negative', 'positive'\]\) share no label with the machine labels \(\['no', 'yes'\]\)"):
        estimate_shares(machine, human.map({"yes": "positive", "no": "negative"}), ["yes"])


def test_a_pilot_whose_labels_do_not_vary_is_planned_for_human_coding_alone():
    "A pilot of one machine label (or human labels spelled another way) crashed inside ppi_py ('cannot convert float NaN to integer')."
    plan = plan_human_sample(["yes"] * 20 + ["no"] * 20, ["no"] * 40, "yes", half_width=0.05)
    assert plan["n_machine"] == 0 and plan["n_human"] == plan["n_human_only"] and plan["ppi_correlation"] == 0
    spelled = plan_human_sample(["yes"] * 20 + ["no"] * 20, ["YES"] * 20 + ["no"] * 20, "yes", half_width=0.05)
    assert spelled == plan_human_sample(["yes"] * 20 + ["no"] * 20, ["yes"] * 20 + ["no"] * 20, "yes", half_width=0.05)
    assert plan_human_sample(["yes"] * 40, ["yes"] * 20 + ["no"] * 20, "yes", budget=200)["n_machine"] == 0


def test_estimate_names_the_row_and_id_of_a_missing_group_or_probability(tmp_path, capsys):
    "A probability of 'high' was a float() traceback, a blank one (or 0, inf) 'probabilities must give each text's inclusion probability'; a blank group named no file."
    from llm_distill.cli import main
    rng = np.random.default_rng(3)
    truth, machine = planted(rng, n=200)
    coded = sorted(rng.choice(200, 60, replace=False))
    ids = [f"t{i:03d}" for i in range(200)]
    frame = pd.DataFrame({"id": ids, "label": machine, "party": ["D", "R"] * 100, "p": ["0.3"] * 200})
    frame.loc[5, "p"], frame.loc[9, "p"], frame.loc[7, "party"], frame.loc[11, "p"], frame.loc[12, "p"] = "high", None, None, "0", "inf"
    frame.to_csv(tmp_path / "a.csv", index=False)
    pd.DataFrame({"id": [ids[i] for i in coded], "label": [truth[i] for i in coded]}).to_csv(tmp_path / "h.csv", index=False)
    (tmp_path / "yes-no.yaml").write_text("task: yes or no\nrequire_definitions: false\nlabels: [{name: 'yes', code: 1}, {name: 'no', code: 0}]\n")
    run = lambda *options: main(["estimate", str(tmp_path / "a.csv"), "--human", str(tmp_path / "h.csv"), "--codebook", str(tmp_path / "yes-no.yaml"),
                                 "--labels", "yes", *options])
    assert run("--probability-column", "p") == 2
    assert "a.csv: column 'p' has no number in (0, 1] at row 5 (id 't005', 'high'), row 9 (id 't009'), row 11 (id 't011', '0'), row 12 (id 't012', 'inf'), counted from 0; give each text the probability" in capsys.readouterr().err
    assert run("--group", "party") == 2
    assert "a.csv: column 'party' has no value at row 7 (id 't007'), counted from 0; give every text its group" in capsys.readouterr().err
    assert run("--group", "region") == 2
    assert "column 'region' not found; columns are ['id', 'label', 'party', 'p']" in (said := capsys.readouterr().err) and "join a group or probability column onto their output by id" in said
    assert run("--labels", "yes", "YES", "1", "--output", str(tmp_path / "e.csv")) == 0
    assert pd.read_csv(tmp_path / "e.csv")["label"].tolist() == ["yes"] * 3   # one label asked for twice: its rows once


def test_training_on_one_class_says_which_file_and_label(tmp_path, capsys):
    from llm_distill.cli import main
    pd.DataFrame({"id": range(30), "text": [f"text number {i}" for i in range(30)], "label": ["yes"] * 30}).to_csv(tmp_path / "coded.csv", index=False)
    (tmp_path / "yes-no.yaml").write_text("task: yes or no\nrequire_definitions: false\nlabels: [{name: 'yes', code: 1}, {name: 'no', code: 0}]\n")
    assert main(["train", "--file", str(tmp_path / "coded.csv"), "--label", "label", "--codebook", str(tmp_path / "yes-no.yaml"), "--recipe", "tfidf",
                 "--output", str(tmp_path / "student")]) == 2
    assert "coded.csv: the training labels have one class only (all 30 are 'yes'): nothing to learn; a student needs texts of at least two of the labels ['yes', 'no']" in capsys.readouterr().err


def test_human_labels_of_the_coded_texts_alone_are_read_as_every_texts():
    "A Series of the coded texts' labels (human.dropna()) was refused as 'pandas Series of different texts'; it is what it says: the others are uncoded."
    machine, human, party = _planted_series(seed=5)
    pd.testing.assert_frame_equal(estimate_shares(machine, human.dropna(), ["yes"], groups=party), estimate_shares(machine, human, ["yes"], groups=party))
    X = pd.DataFrame({"R": (party == "R").astype(float)})
    pd.testing.assert_frame_equal(estimate_regression(machine, human.dropna(), "yes", X, kind="ols"), estimate_regression(machine, human, "yes", X, kind="ols"))
    stranger = pd.concat([human.dropna(), pd.Series(["yes"], index=["9999"])])
    with pytest.raises(DataError, match="Series of different texts"): estimate_shares(machine, stranger, ["yes"])   # a text the machine never labelled


def test_a_pilot_with_uncoded_texts_is_planned_from_the_coded_ones():
    "plan_human_sample counted a missing human label as the label absent (p 0.16 for 0.32: 207 texts planned for 335); the coded texts alone count."
    machine, human, _ = _planted_series(seed=6, n=200, coded=100)
    coded = human.notna()
    expected = plan_human_sample(machine[coded], human[coded], "yes", half_width=0.05)
    assert plan_human_sample(machine, human, "yes", half_width=0.05) == expected
    assert plan_human_sample(machine, human.dropna(), "yes", half_width=0.05) == expected
    assert plan_human_sample(machine.tolist(), human.tolist(), "yes", half_width=0.05) == expected


def test_a_probability_outside_zero_one_is_named_by_its_position():
    "A probability of 0 (or NaN) among 200 was refused without saying which text had it."
    rng = np.random.default_rng(4)
    truth, machine = planted(rng, n=200)
    human = [t if i % 4 == 0 else None for i, t in enumerate(truth)]
    probabilities = np.full(200, 0.25)
    probabilities[[17, 40]] = [0.0, np.nan]
    with pytest.raises(DataError, match=r"text 17 \(counted from 0\) has 0.0, and 1 more"):
        estimate_shares(machine, human, ["yes"], probabilities=probabilities)
    with pytest.raises(DataError, match="3 for 200 texts"):
        estimate_shares(machine, human, ["yes"], probabilities=[0.5] * 3)
