"""Validation statistics against scikit-learn, krippendorff and statsmodels, textbook values, and bad input."""
import re

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, cohen_kappa_score, f1_score, precision_recall_fscore_support

from llm_distill.core import LabelError
from llm_distill.data import load_codebook
from llm_distill.validate import (NO_LABEL, accuracy_by_level, agreement_metrics, calibration, coder_agreement,
                                  compare_labels, compare_sources, multilabel_metrics, save_report, slice_metrics, validate)

RNG = np.random.default_rng(7)
LABELS = ["a", "b", "c"]
TRUTH = RNG.choice(LABELS, 300, p=[0.5, 0.3, 0.2])
NOISY = np.where(RNG.uniform(size=300) < 0.7, TRUTH, RNG.choice(LABELS, 300))


def test_metrics_match_scikit_learn():
    metrics = agreement_metrics(compare_labels(TRUTH, NOISY, labels=LABELS))
    assert metrics["accuracy"] == pytest.approx(accuracy_score(TRUTH, NOISY))
    assert metrics["macro_f1"] == pytest.approx(f1_score(TRUTH, NOISY, average="macro"))
    assert metrics["weighted_f1"] == pytest.approx(f1_score(TRUTH, NOISY, average="weighted"))
    assert metrics["cohen_kappa"] == pytest.approx(cohen_kappa_score(TRUTH, NOISY))


def test_binary_positive_class_metrics():
    truth = RNG.choice(["yes", "no"], 200)
    predicted = np.where(RNG.uniform(size=200) < 0.8, truth, np.where(truth == "yes", "no", "yes"))
    metrics = agreement_metrics(compare_labels(truth, predicted, labels=["yes", "no"], positive_label="yes"))
    precision, recall, f1, _ = precision_recall_fscore_support(truth, predicted, pos_label="yes", average="binary")
    assert (metrics["positive_precision"], metrics["positive_recall"], metrics["positive_f1"]) == pytest.approx((precision, recall, f1))


def test_ordinal_metrics_use_scale_order():
    codebook = load_codebook("benoit-immigration-stance")
    truth = ["open", "neutral", "closed", "closed", "open", "neutral"] * 10
    near = ["neutral", "neutral", "closed", "neutral", "open", "closed"] * 10
    far = ["closed", "neutral", "closed", "open", "open", "open"] * 10
    near_metrics = agreement_metrics(compare_labels(truth, near, codebook))
    far_metrics = agreement_metrics(compare_labels(truth, far, codebook))
    assert near_metrics["weighted_kappa"] == pytest.approx(cohen_kappa_score(truth, near, labels=codebook.label_names, weights="quadratic"))
    assert near_metrics["weighted_kappa"] > far_metrics["weighted_kappa"]
    assert near_metrics["alpha_ordinal"] > far_metrics["alpha_ordinal"]


def test_failures_count_as_errors_and_are_noted():
    predicted = list(TRUTH)
    predicted[:30] = [None] * 30
    report = validate(TRUTH, predicted, labels=LABELS, n_resamples=50)
    assert report.value("accuracy") == pytest.approx(0.9)
    assert NO_LABEL in report.confusion.columns and report.confusion[NO_LABEL].sum() == 30
    assert any("30 item(s) (10.0%) with no predicted label" in note for note in report.notes)


def test_intervals_are_seeded_and_cover_the_estimate():
    first = validate(TRUTH, NOISY, labels=LABELS, n_resamples=200, seed=3)
    again = validate(TRUTH, NOISY, labels=LABELS, n_resamples=200, seed=3)
    pd.testing.assert_frame_equal(first.table, again.table)
    table = first.table.set_index("metric")
    assert (table["ci_low"] <= table["value"]).all() and (table["value"] <= table["ci_high"]).all()
    assert (table["ci_high"] - table["ci_low"]).between(0.01, 0.3).all()


def test_single_class_truth_is_documented_not_silent():
    report = validate(["a"] * 10, ["a"] * 8 + ["b"] * 2, labels=["a", "b"], n_resamples=50)
    table = report.table.set_index("metric")
    assert np.isnan(table.at["cohen_kappa", "value"]) and table.at["cohen_kappa", "note"].startswith("undefined")
    assert any("single class" in note for note in report.notes)
    assert "undefined" in report.to_markdown()


@pytest.mark.parametrize("truth,predicted,options,message", [
    (["a", "b"], ["a"], {}, "length mismatch"),
    (["a"], ["a"], {}, "at least 2 items"),
    (["a", np.nan, "b"], ["a", "b", "b"], {}, "missing human label at item(s) 1"),
    (["a", "x", "b"], ["a", "b", "b"], {"labels": ["a", "b"]}, "human label(s) ['x'] not in the label set"),
    (["a", "b", "b"], ["a", "b", "z"], {"labels": ["a", "b"]}, "prediction(s) ['z'] not in the label set ['a', 'b'] at item(s) 2"),
])
def test_bad_input(truth, predicted, options, message):
    with pytest.raises(LabelError) as error:
        compare_labels(truth, predicted, **options)
    assert message in str(error.value)


def test_missing_truth_can_be_dropped_with_a_note():
    pair = compare_labels(["a", None, "b"], ["a", "b", "b"], labels=["a", "b"], missing_truth="drop")
    assert len(pair) == 2 and "1 item(s) without a human label left out" in pair.notes


def test_same_labels_whatever_their_type():
    pair = compare_labels(pd.Series([1, 0, 1.0]), ["1", "0", "0"], labels=["0", "1"])
    assert pair.truth.tolist() == ["1", "0", "1"]


def test_compare_sources_paired_difference_and_mcnemar():
    better = np.where(RNG.uniform(size=300) < 0.9, TRUTH, RNG.choice(LABELS, 300))
    table = compare_sources(TRUTH, better, NOISY, names=("better", "noisy"), labels=LABELS, n_resamples=200).set_index("metric")
    assert table.at["accuracy", "difference"] > 0 and table.at["accuracy", "ci_low"] > 0
    assert table.at["accuracy", "mcnemar_p"] < 0.01
    same = compare_sources(TRUTH, NOISY, NOISY, labels=LABELS, n_resamples=50).set_index("metric")
    assert same.at["accuracy", "difference"] == 0 and same.at["accuracy", "mcnemar_p"] == 1.0


def test_textbook_agreement_values():
    # Fleiss (1971) via Wikipedia's worked example: 0.210
    table = np.array([[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
                      [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]])
    assert coder_agreement(value_counts=table)["fleiss_kappa"] == pytest.approx(0.210, abs=1e-3)
    # Krippendorff (2011), "Computing Krippendorff's alpha-reliability": nominal 0.743 with missing data
    nan = np.nan
    codes = pd.DataFrame({"A": [1, 2, 3, 3, 2, 1, 4, 1, 2, nan, nan, nan], "B": [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, nan, 3],
                          "C": [nan, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, nan], "D": [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, nan]})
    result = coder_agreement(codes)
    assert result["alpha"] == pytest.approx(0.743, abs=1e-3) and np.isnan(result["fleiss_kappa"])


def test_accuracy_by_consistency_level():
    consistency = np.where(TRUTH == NOISY, 1.0, 0.6)
    table = accuracy_by_level(TRUTH, NOISY, consistency, labels=LABELS)
    top = table[table["level"].str.endswith("1.0]")].iloc[0]
    assert top["accuracy"] == 1.0 and top["n"] == (TRUTH == NOISY).sum()
    with pytest.raises(LabelError, match="length mismatch"):
        accuracy_by_level(TRUTH, NOISY, consistency[:5], labels=LABELS)


def test_calibration_bad_confidence():
    with pytest.raises(LabelError, match=r"\[0, 1\]"):
        calibration(TRUTH, NOISY, np.full(300, 1.5), labels=LABELS)


def test_slices_cover_all_items():
    groups = RNG.choice(["x", "y", "z"], 300)
    table = slice_metrics(TRUTH, NOISY, groups, labels=LABELS, n_resamples=50)
    assert table["n"].sum() == 300 and set(table["group"]) == {"x", "y", "z"}


def test_multilabel_matches_scikit_learn_and_rejects_unknown():
    summary, _ = multilabel_metrics(["a|b", "b", ""], ["a", "b", "c"], labels=LABELS)
    assert summary["exact_match"] == pytest.approx(1 / 3)
    with pytest.raises(LabelError, match=r"\['q'\]"):
        multilabel_metrics(["a"], ["q"], labels=LABELS)


def test_save_report_writes_figures(tmp_path):
    paths = save_report(validate(TRUTH, NOISY, labels=LABELS, n_resamples=50, name="t"), tmp_path)
    assert all(path.stat().st_size > 0 for path in paths)
    assert (tmp_path / "confusion.png").read_bytes()[:4] == b"\x89PNG"


def test_agreement_metrics_match_scikit_learn():
    "The confusion-count arithmetic (fast for bootstraps) equals scikit-learn's metrics, missing predictions included."
    from sklearn.metrics import accuracy_score, cohen_kappa_score, f1_score, precision_recall_fscore_support
    from llm_distill.validate import agreement_metrics, compare_labels
    rng = np.random.default_rng(0)
    for trial in range(30):
        k = int(rng.integers(2, 6))
        labels = [f"l{i}" for i in range(k + 1)]                         # the last label is never used by the truth
        truth = rng.choice(labels[:k], size=int(rng.integers(5, 80)))
        predicted = np.where(rng.random(len(truth)) < 0.6, truth, rng.choice(labels, size=len(truth))).astype(object)
        predicted[rng.random(len(truth)) < 0.1] = None
        pair = compare_labels(list(truth), list(predicted), labels=labels)
        ours = agreement_metrics(pair)
        t, p = pair.truth_codes, pair.predicted_codes
        occurring = sorted((set(t) | set(p)) - {pair.no_label})
        assert np.isclose(ours["accuracy"], accuracy_score(t, p))
        assert np.isclose(ours["macro_f1"], f1_score(t, p, labels=occurring, average="macro", zero_division=0))
        assert np.isclose(ours["weighted_f1"], f1_score(t, p, labels=list(range(len(labels))), average="weighted", zero_division=0))
        if len(set(t)) > 1:
            assert np.isclose(ours["cohen_kappa"], cohen_kappa_score(t, p))
        if pair.positive is not None:
            precision, recall, f1, _ = precision_recall_fscore_support(t, p, labels=[labels.index(pair.positive)], zero_division=0)
            assert np.allclose([ours["positive_precision"], ours["positive_recall"], ours["positive_f1"]], [precision[0], recall[0], f1[0]])


def test_an_unused_codebook_label_is_not_averaged_and_is_named():
    from llm_distill.data import Codebook
    codebook = Codebook("t", [{"name": n, "definition": "d"} for n in ("a", "b", "never used")])
    report = validate(["a", "b"] * 10, ["a", "b"] * 10, codebook, n_resamples=20)
    assert report.table.set_index("metric").at["macro_f1", "value"] == 1.0          # not 0.667
    assert any("'never used'" in note and "not scored" in note for note in report.notes)
    assert "never used" in report.per_class["label"].tolist()                          # the full label set stays beside


def test_codes_are_read_through_the_codebook():
    codebook = load_codebook("textclass-toxicity")            # toxic is code 1, non-toxic code 0
    report = validate(["toxic", "non-toxic"] * 5, [1, 0] * 5, codebook, n_resamples=20)
    assert report.table.set_index("metric").at["accuracy", "value"] == 1.0
    with pytest.raises(LabelError, match="7"):
        validate(["toxic", "non-toxic"], [1, 7], codebook, n_resamples=20)


def test_validate_pairs_two_series_by_their_index_not_their_position():
    "Labels of the same texts in another order are compared text by text; Series of different texts are refused."
    import pandas as pd
    from llm_distill.core import DataError
    from llm_distill.validate import validate
    human = pd.Series(["toxic", "non-toxic", "toxic", "non-toxic"], index=["a", "b", "c", "d"])
    toxicity = load_codebook("textclass-toxicity")
    report = validate(human, human.iloc[::-1], toxicity, n_resamples=50)
    assert report.value("accuracy") == 1.0
    with pytest.raises(DataError, match="Series of different texts"): validate(human, human.set_axis(list("abcz")), toxicity, n_resamples=50)


def test_label_sets_are_read_through_the_codebook_and_a_missing_human_label_is_not_the_empty_set():
    "validate on label sets reads both sides as every entry point does (spellings, codes, lists, (none), []); an uncoded text is refused or dropped, never scored as 'no label applies'."
    from llm_distill.boundary import as_codebook
    from llm_distill.validate import validate
    frames = as_codebook(["economy", "crime"], multi_label=True)
    names = ["economy", "crime", "", "economy|crime"] * 5
    spelled = ["Economy", ["crime"], "(none)", "[\"crime\", \"economy\"]"] * 5
    assert validate(spelled, names, frames, n_resamples=50).value("accuracy") == 1.0
    with pytest.raises(LabelError, match="missing human label at item"): validate([None, *names[1:]], names, frames, n_resamples=50)
    dropped = validate([None, *names[1:]], ["crime", *names[1:]], frames, n_resamples=50, missing_truth="drop")
    assert dropped.value("accuracy") == 1.0 and int(dropped.table["n"].max()) == 19   # not a wrong empty set
    with pytest.raises(LabelError, match="'sport'"): validate(["economy|sport"] * 2, ["economy"] * 2, frames)


def test_validate_warns_of_trained_on_texts_among_those_it_scores(tmp_path, capsys):
    "The warning counted every prediction (298 of 298) where only the human-coded ones (138) are scored; it counts the scored ones now."
    import pandas as pd
    from llm_distill.cli import main
    rows = [(f"{i:03d}", f"{'idiot moron' if i % 2 else 'thanks kindly'} {i}", "toxic" if i % 2 else "non-toxic") for i in range(60)]
    frame = pd.DataFrame(rows, columns=["id", "text", "label"])
    frame.to_csv(tmp_path / "train.csv", index=False)
    common = ["--id", "id", "--label", "label", "--codebook", "textclass-toxicity"]
    assert main(["train", "--file", str(tmp_path / "train.csv"), *common, "--recipe", "tfidf", "--output", str(tmp_path / "student")]) == 0
    assert main(["predict", "--student", str(tmp_path / "student"), "--input", str(tmp_path / "train.csv"), "--output", str(tmp_path / "pred.csv")]) == 0
    frame.assign(label=[l if i < 25 else None for i, l in enumerate(frame["label"])]).to_csv(tmp_path / "coded.csv", index=False)
    capsys.readouterr()
    assert main(["validate", "--file", str(tmp_path / "coded.csv"), *common, str(tmp_path / "pred.csv"), "--output", str(tmp_path / "val")]) == 0
    assert "warning: 25 of the 25 scored predictions are of texts the student was trained on" in capsys.readouterr().err


def test_validate_writes_each_labels_scores_and_its_notes_once_with_user_names_inert(tmp_path, capsys):
    "helper-25: per-label scores were only in the figure, the command's notes printed twice and missing from validation.md; and validation.md showed a file's name as raw HTML."
    import mistune
    import pandas as pd
    from sklearn.metrics import precision_recall_fscore_support
    from llm_distill.cli import main
    labels = ["<b>hate</b>", "offensive", "neither"]
    (tmp_path / "codebook.yaml").write_text("task: t\nrequire_definitions: false\nlabels:\n" + "".join(f"  - name: '{l}'\n" for l in labels))
    rng = np.random.default_rng(3)
    human = rng.choice(labels, 120)
    llm = np.where(rng.random(120) < 0.7, human, rng.choice(labels, 120))
    ids = [f"{i:03d}" for i in range(120)]
    pd.DataFrame({"id": ids, "text": [f"text {i}" for i in range(120)], "label": [h if i > 2 else None for i, h in enumerate(human)]}).to_csv(tmp_path / "coded.csv", index=False)
    hostile = tmp_path / "<img src=x onerror=alert(1)>.csv"
    pd.DataFrame({"id": ids, "label": llm}).to_csv(hostile, index=False)
    assert main(["validate", "--file", str(tmp_path / "coded.csv"), "--label", "label", "--codebook", str(tmp_path / "codebook.yaml"), str(hostile),
                 "--output", str(tmp_path / "val")]) == 0
    out, err = capsys.readouterr()
    assert out.count("3 text(s) without a human label left out") == 1 and "left out" not in err, (out, err)
    per_label = pd.read_csv(tmp_path / "val" / "per_label.csv").set_index("label")
    precision, recall, f1, support = precision_recall_fscore_support(human[3:], llm[3:], labels=labels, zero_division=0)
    assert np.allclose(per_label.loc[labels, "precision"], precision) and np.allclose(per_label.loc[labels, "f1"], f1)
    assert per_label.loc[labels, "support"].tolist() == support.tolist()
    confusion = pd.read_csv(tmp_path / "val" / "confusion.csv", index_col=0)
    assert int(confusion.to_numpy().sum()) == 117
    page = mistune.html((tmp_path / "val" / "validation.md").read_text())
    assert "<img" not in page and "<b>" not in page and "Per label" in page and "left out" in page, page


def test_figures_draw_a_users_names_as_text_and_every_cell_of_the_confusion(tmp_path):
    "A label `$\\foo{$` stopped validate's figure being saved (matplotlib read it as mathematics); the confusion's last column (no label) had no numbers."
    import matplotlib.pyplot as plt
    from llm_distill.data import Codebook, Label
    from llm_distill.validate import plot_confusion, plot_forest, save_report, validate
    labels = [r"costs $5 or $10", r"$\foo{$"]
    codebook = Codebook("t", tuple(Label(l) for l in labels), require_definitions=False)
    human = [labels[0], labels[1]] * 10
    predicted = [labels[0], None] * 5 + [labels[1], labels[0]] * 5
    report = validate(human, predicted, codebook, name=r"run $\bar{x}$ of mine", n_resamples=50)
    save_report(report, tmp_path)                                             # raised "Unknown symbol: \foo" on saving
    figure = plot_confusion(report)
    ax = figure.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()][:2] == [r"costs \$5 or \$10", r"\$\foo{\$"]
    written = sorted(t.get_text() for t in ax.texts)
    assert len(written) == report.confusion.size and "0.50" in written, written   # the (no label) column too
    plt.close(figure); plt.close(plot_forest([report]))


def test_a_label_in_neither_source_has_no_scores_rather_than_zero():
    "helper-26: a label no human and no prediction used was 'not scored' in the note but 0.000 [0.000, 0.000] in per_label.csv and validation.md."
    from llm_distill.data import Codebook, Label
    from llm_distill.validate import validate
    codebook = Codebook("t", (Label("hate"), Label("offensive"), Label("neither")), require_definitions=False)
    report = validate(["offensive", "neither"] * 10, ["offensive", "neither", "neither", "offensive"] * 5, codebook, n_resamples=50)
    row = report.per_class.set_index("label").loc["hate"]
    assert row[["precision", "recall", "f1", "f1_low", "f1_high"]].isna().all() and row["support"] == 0
    assert re.search(r"\| hate +\| undefined +\| undefined +\| undefined +\| +0 \|", report.per_label_markdown()), report.per_label_markdown()
    assert report.per_class.set_index("label").loc["offensive", ["precision", "f1"]].notna().all()
    sets = Codebook("t", codebook.labels, require_definitions=False, multi_label=True)
    report = validate(["offensive", "neither|offensive"] * 10, ["offensive", "neither"] * 10, sets, n_resamples=50)
    assert report.per_class.set_index("label").loc["hate", ["precision", "recall", "f1"]].isna().all()


def test_a_one_column_dataframe_is_its_column_and_a_wider_one_is_refused():
    "validate(df[['human_label']], predictions) said '1 human labels but 300 predictions': it counted the DataFrame's columns."
    import pandas as pd
    from llm_distill.core import DataError
    from llm_distill.boundary import as_codebook
    from llm_distill.validate import validate
    labels = as_codebook(["a", "b"])
    frame = pd.DataFrame({"human": ["a", "b", "a", "b"] * 10, "llm": ["a", "b", "b", "b"] * 10, "other": "x"}, index=[f"t{i}" for i in range(40)])
    shuffled = frame["llm"].sample(frac=1, random_state=0)
    assert validate(frame[["human"]], shuffled, labels, n_resamples=20).value("macro_f1") == validate(frame["human"], frame["llm"], labels, n_resamples=20).value("macro_f1")
    with pytest.raises(DataError, match="not a DataFrame of several columns"): validate(frame[["human", "other"]], frame["llm"], labels)
