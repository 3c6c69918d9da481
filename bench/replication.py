"""The seed paper's comparison on every shared task with published LLM labels.

For each task: the student (recipe chosen automatically by cross-validation on each fold's training
labels) trained on the teacher LLM's replayed labels and on the human labels, the two baselines
(TF-IDF + logistic regression, frozen MiniLM embeddings + logistic regression) on the same LLM labels,
and the teacher itself, all scored by macro-F1 on the same held-out human labels (k-fold cross-fitting
over the labelled pool). One JSON object per line:
  {"bench":"replication","task":...,"n_train":...,"classes":...,"multi_label":...,"teacher_f1":...,
   "student_llm_f1":...,"student_human_f1":...,"tfidf_llm_f1":...,"embed_llm_f1":...,"recipe":...,"seconds":...,
   "deferred_f1":...,"deferred_share":...,"more_llm_labels":...,"student_llm_more_f1":...,"teacher_more_f1":...}
   (deferred: the student on LLM labels sending its least confident texts to the LLM, the threshold chosen on each fold's
   training labels by the default rule; more: a second run with `--more` of the labelled texts' human labels withheld as if
   never coded, so the LLM-label student learns from more LLM labels than the humans coded)
and a final {"bench":"replication_summary",...}: the median student/teacher F1 ratio, the median
human-minus-LLM gap (the paper: 0.039) and the number of tasks where the student on LLM labels is
below a baseline, and the medians of the deferring student's F1 against the teacher's and of its share sent. `--quick` (under 10 minutes on 2 cores) runs four tasks on 300 texts each with 3
folds; the full run uses every task and text, 5 folds. `--candidates` widens the recipes tried
(default: the package's default, which adds SetFit and fine-tuning only on a GPU). Results are cached
under --output, so a rerun only scores.
"""
import argparse
import json
import statistics
import sys
import time
import warnings
from pathlib import Path

import yaml

warnings.filterwarnings("ignore")

from llm_distill.data import Codebook, Label, list_datasets, load_dataset, save_codebook
from llm_distill.experiment import run_experiment
from llm_distill.design import ExperimentConfig

QUICK_TASKS = ("salt-semeval-stance", "salt-ibc", "textclass-toxicity", "textclass-misinformation")
TEXTCLASS = {"textclass-toxicity": "llm_gpt-4o-2024-08-06", "textclass-misinformation": "llm_gpt-4o-2024-08-06"}


def tasks():
    "(dataset, LLM column, teacher) for every registered dataset with published LLM labels."
    for name in list_datasets().iloc[:, 0].tolist():
        if name.startswith("salt-"):
            yield name, "chatgpt_label", "gpt-3.5-turbo (ChatGPT, SALT)"
        elif name in TEXTCLASS:
            yield name, TEXTCLASS[name], TEXTCLASS[name][4:] + " (TextClass)"


def codebook_for(name, folder):
    """The dataset's own codebook, or one whose labels are its human label values (names as text, codes as given)."""
    corpus = load_dataset(name, codebook=None)
    if name == "textclass-toxicity":
        return None, corpus
    values = sorted(corpus.data["human_label"].dropna().unique().tolist(), key=str)
    labels = [Label(name=str(v), code=v if not isinstance(v, str) else None) for v in values]
    path = folder / f"{name}.yaml"
    save_codebook(Codebook(task=name, labels=tuple(labels), instructions=f"Label the text for the task {name}.",
                           require_definitions=False), path)
    return str(path), corpus


def row_for(name, teacher, result, started):
    "The task's JSON row from an experiment's results."
    scores = result.results.set_index("condition")
    f1 = lambda condition: round(float(scores.at[condition, "macro_f1"]), 4)
    return {"bench": "replication", "task": name, "teacher": teacher, "texts": int(scores.at["human", "n_test"]),
            "n_train": int(scores.at["llm", "n_train"]), "classes": len(result.llm_report.per_class),
            "multi_label": bool(yaml.safe_load(result.methods["codebook"]["text"]).get("multi_label", False)),
            "teacher_f1": f1("llm_direct"), "student_llm_f1": f1("llm"), "student_human_f1": f1("human"),
            "tfidf_llm_f1": f1("baseline_tfidf"), "embed_llm_f1": f1("baseline_embed"),
            "deferred_f1": f1("llm_deferred"), "deferred_share": round(float(scores.at["llm_deferred", "deferred_share"]), 3),
            "recipe": scores.at["llm", "recipe"], "recipe_human": scores.at["human", "recipe"],
            "flags": scores.at["llm", "flags"] or "", "teacher_unlabelled": int(scores.at["llm_direct", "unlabelled"]),
            "seconds": round(time.monotonic() - started, 1)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="four tasks, 300 texts each, 3 folds (under 10 minutes)")
    parser.add_argument("--output", default="runs/replication")
    parser.add_argument("--minimum", type=int, default=300, help="tasks with at least this many labelled texts")
    parser.add_argument("--only", nargs="*", help="run only these tasks")
    parser.add_argument("--candidates", nargs="*", help="recipes the automatic choice tries (default: the package's)")
    parser.add_argument("--more", type=float, default=0.6, help="share of the labelled texts whose human labels a second run withholds, "
                        "as if never coded: the LLM labels them and only the LLM-label students train on them (0: no second run)")
    args = parser.parse_args()
    output = Path(args.output) / ("quick" if args.quick else "full")
    (output / "codebooks").mkdir(parents=True, exist_ok=True)
    rows, started = [], time.monotonic()
    for name, column, teacher in tasks():
        if args.only and name not in args.only:
            continue
        if args.quick and not args.only and name not in QUICK_TASKS:
            continue
        codebook, corpus = codebook_for(name, output / "codebooks")
        if len(corpus.labelled) < args.minimum:
            continue
        task_started = time.monotonic()
        student = {"recipe": "auto", **({"candidates": args.candidates} if args.candidates else {})}
        config = ExperimentConfig(
            name=name, data={"dataset": name, **({"limit": 300} if args.quick else {})}, codebook=codebook,
            llm={"backend": "replay", "model": teacher, "column": column},
            student=student, conditions=["human", "llm", "llm_direct", "llm_deferred"], folds=3 if args.quick else 5, train_sizes=[None],   # the full-size comparison only
            bootstrap=200 if args.quick else 1000, output=str(output / name))
        result = run_experiment(config, progress=False)
        row = row_for(name, teacher, result, task_started)
        if args.more:   # more LLM labels than humans coded: withhold most texts' human labels, as if never coded
            withheld = int(args.more * row["texts"])
            more = run_experiment(ExperimentConfig(**{**config.__dict__, "name": f"{name}-more", "output": str(output / f"{name}-more"),
                                                      "data": {**config.data, "unlabelled": withheld}, "source": "bench",
                                                      "conditions": ["human", "llm", "llm_direct"]}), progress=False)
            scores = more.results.set_index("condition")
            row.update(more_llm_labels=withheld, more_test_texts=int(scores.at["human", "n_test"]),
                       student_llm_more_f1=round(float(scores.at["llm", "macro_f1"]), 4),
                       student_llm_pool_only_n_train=int(scores.at["human", "n_train"]),
                       teacher_more_f1=round(float(scores.at["llm_direct", "macro_f1"]), 4),
                       student_human_more_f1=round(float(scores.at["human", "macro_f1"]), 4))
        rows.append(row)
        print(json.dumps(row), flush=True)
    if not rows:
        sys.exit("no task found: is the data directory set? (llm-distill info)")
    ratios = [r["student_llm_f1"] / r["teacher_f1"] for r in rows if r["teacher_f1"] > 0]
    gaps = [r["student_human_f1"] - r["student_llm_f1"] for r in rows]
    below = [r["task"] for r in rows if r["student_llm_f1"] < max(r["tfidf_llm_f1"], r["embed_llm_f1"])]
    print(json.dumps({"bench": "replication_summary", "mode": "quick" if args.quick else "full", "tasks": len(rows),
                      "median_student_teacher_ratio": round(statistics.median(ratios), 3),
                      "median_human_minus_llm_gap": round(statistics.median(gaps), 3), "paper_gap": 0.039,
                      "tasks_below_a_baseline": len(below), "below": below,
                      "median_deferred_teacher_ratio": round(statistics.median(r["deferred_f1"] / r["teacher_f1"] for r in rows if r["teacher_f1"] > 0), 3),
                      "median_deferred_share": round(statistics.median(r["deferred_share"] for r in rows), 3),
                      **({"median_student_more_teacher_ratio": round(statistics.median(
                          r["student_llm_more_f1"] / r["teacher_more_f1"] for r in rows if r.get("teacher_more_f1")), 3),
                          "more_share_withheld": args.more} if args.more else {}),
                      "candidates": args.candidates or "default", "seconds": round(time.monotonic() - started)}), flush=True)


if __name__ == "__main__":
    main()
