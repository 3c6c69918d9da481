"""The seed paper's comparison on every shared task with published LLM labels and at least 300 texts.

For each task: MiniLM fine-tuned on human labels, on the teacher LLM's labels (replayed), and the teacher
itself, all scored on the same held-out human labels (k-fold cross-fitting over the labelled pool).
One JSON object per line:
  {"bench":"replication","task":...,"teacher":...,"teacher_f1":...,"student_llm_f1":...,"student_human_f1":...,"n_train":...}
and a final {"bench":"replication_summary",...} with the median student/teacher F1 ratio and the median
human-minus-LLM gap (the paper: 0.039). `--quick` (under 10 minutes on 2 cores) runs four tasks (two SALT,
two TextClass) on 300 texts each with 3 folds; the full run uses every task and text, 5 folds. Results are
cached under --output, so a rerun only scores.
"""
import argparse
import json
import statistics
import sys
import time
import warnings
from pathlib import Path

warnings.filterwarnings("ignore")

from llm_distill.data import Codebook, Label, list_datasets, load_dataset, save_codebook
from llm_distill.experiment import ExperimentConfig, run_experiment

QUICK_TASKS = ("salt-semeval-stance", "salt-mrf-misinfo", "textclass-toxicity", "textclass-misinformation")
TEXTCLASS = {"textclass-toxicity": "llm_gpt-4o-2024-08-06", "textclass-misinformation": "llm_gpt-4o-2024-08-06"}


def tasks(minimum):
    names = list_datasets().iloc[:, 0].tolist()
    for name in names:
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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="four tasks, 300 texts each, 3 folds (under 10 minutes)")
    parser.add_argument("--output", default="runs/replication")
    parser.add_argument("--minimum", type=int, default=300, help="tasks with at least this many labelled texts")
    parser.add_argument("--only", nargs="*", help="run only these tasks")
    args = parser.parse_args()
    output = Path(args.output) / ("quick" if args.quick else "full")
    (output / "codebooks").mkdir(parents=True, exist_ok=True)
    rows, started = [], time.monotonic()
    for name, column, teacher in tasks(args.minimum):
        if args.only and name not in args.only:
            continue
        if args.quick and not args.only and name not in QUICK_TASKS:
            continue
        codebook, corpus = codebook_for(name, output / "codebooks")
        if len(corpus.labelled) < args.minimum:
            continue
        config = ExperimentConfig(
            name=name, data={"dataset": name, **({"limit": 300} if args.quick else {})}, codebook=codebook,
            llm={"backend": "replay", "model": teacher, "column": column, "codes": not column.startswith("chatgpt")},
            student={"training": {"epochs": 6, "batch_size": 16, "max_length": 64 if args.quick else 128}},
            conditions=["human", "llm", "llm_direct"], folds=3 if args.quick else 5, bootstrap=200 if args.quick else 1000,
            output=str(output / name))
        result = run_experiment(config, progress=False)
        scores = result.results.set_index("condition")
        row = {"bench": "replication", "task": name, "teacher": teacher, "texts": int(scores.at["human", "n_test"]),
               "teacher_f1": round(float(scores.at["llm_direct", "macro_f1"]), 4),
               "student_llm_f1": round(float(scores.at["llm", "macro_f1"]), 4),
               "student_human_f1": round(float(scores.at["human", "macro_f1"]), 4),
               "n_train": int(scores.at["llm", "n_train"]), "teacher_unlabelled": int(scores.at["llm_direct", "unlabelled"])}
        rows.append(row)
        print(json.dumps(row), flush=True)
    if not rows:
        sys.exit("no task found: is the data directory set? (llm-distill info)")
    ratios = [r["student_llm_f1"] / r["teacher_f1"] for r in rows if r["teacher_f1"] > 0]
    gaps = [r["student_human_f1"] - r["student_llm_f1"] for r in rows]
    print(json.dumps({"bench": "replication_summary", "mode": "quick" if args.quick else "full", "tasks": len(rows),
                      "median_student_teacher_ratio": round(statistics.median(ratios), 3),
                      "median_human_minus_llm_gap": round(statistics.median(gaps), 3), "paper_gap": 0.039,
                      "seconds": round(time.monotonic() - started)}), flush=True)


if __name__ == "__main__":
    main()
