"""Label-set scoring: the bootstrap of `validate` for label sets, vectorised over resamples, against the simple thing
(scikit-learn's `f1_score` once per resample, as the package did before), on the same texts, resamples and seed.

One JSON object per line:
  {"bench": "label_set_scoring", "texts": ..., "labels": ..., "resamples": 1000, "seconds_per_resample_sklearn": ...,
   "seconds_vectorised": ..., "speedup": ..., "identical_intervals": true}

The label sets are real: the Davidson et al. tweets' coder counts turned into sets (a label is in a tweet's set when at
least one coder chose it), and a machine that is the human set with each label flipped in 15% of the texts.
"""
import json
import time
import warnings

import numpy as np
from sklearn.metrics import f1_score

from llm_distill.data import load_dataset
from llm_distill.validate import _label_set_matrix, _label_set_metric_rows, bootstrap_intervals

warnings.filterwarnings("ignore")


def sklearn_metrics(truth, predicted):
    "The metrics as the package computed them before: scikit-learn once per resample."
    used = truth.any(0) | predicted.any(0)
    if not used.any(): used[:] = True
    return [(truth == predicted).all(1).mean(), f1_score(truth[:, used], predicted[:, used], average="macro", zero_division=0),
            f1_score(truth, predicted, average="micro", zero_division=0), f1_score(truth, predicted, average="weighted", zero_division=0),
            float("nan")]


def main(texts=1200, resamples=1000, seed=0):
    data = load_dataset("davidson-hate-offensive").data.iloc[:texts]
    labels = ["hate_speech", "offensive_language", "neither"]
    sets = ["|".join(l for l in labels if row[l] > 0) for _, row in data.iterrows()]
    truth = _label_set_matrix(sets, labels, "human")
    rng = np.random.default_rng(seed)
    predicted = truth ^ (rng.random(truth.shape) < 0.15)
    started = time.perf_counter()
    simple = bootstrap_intervals(lambda rows: sklearn_metrics(truth[rows], predicted[rows]), len(truth), resamples, 0.95, seed)
    seconds_simple = time.perf_counter() - started
    started = time.perf_counter()
    fast = bootstrap_intervals(lambda rows: _label_set_metric_rows(truth, predicted, rows), len(truth), resamples, 0.95, seed, vectorized=True)
    seconds_fast = time.perf_counter() - started
    same = bool(np.allclose(simple[:4], fast[:4], atol=1e-12))
    print(json.dumps({"bench": "label_set_scoring", "texts": len(truth), "labels": len(labels), "resamples": resamples,
                      "seconds_per_resample_sklearn": round(seconds_simple, 3), "seconds_vectorised": round(seconds_fast, 3),
                      "speedup": round(seconds_simple / seconds_fast, 1), "identical_intervals": same}), flush=True)


if __name__ == "__main__":
    main()
