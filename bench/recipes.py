"""Each student recipe on the same LLM labels, scored on the same held-out human labels.

For each task and recipe: k-fold cross-fitting over the labelled pool; the recipe is trained on the
teacher's labels of k-1 folds and scored (macro-F1) on the human labels of the held-out fold, pooled.
One JSON object per (task, recipe):
  {"bench":"recipes","task":...,"recipe":...,"n_train":...,"student_llm_f1":...,"seconds":...}
This is what `06b_finetune` and `06c_students` cite for "when each recipe wins". SetFit and fine-tuning
take minutes per fold on a CPU; on a GPU they take seconds.
"""
import argparse
import json
import time
import warnings

warnings.filterwarnings("ignore")

import numpy as np
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedKFold

from llm_distill.data import load_dataset
from llm_distill.encoder import SentenceEncoder
from llm_distill.students import RECIPES, EmbeddingRecipe

TEACHERS = {"textclass-toxicity": "llm_gpt-4o-2024-08-06", "textclass-misinformation": "llm_gpt-4o-2024-08-06"}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=["salt-semeval-stance"])
    parser.add_argument("--recipes", nargs="+", default=["tfidf", "embed", "tfidf+embed", "setfit", "finetune"])
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--limit", type=int, default=0, help="at most this many texts per task (0: all)")
    args = parser.parse_args()
    encoder = SentenceEncoder()
    for task in args.tasks:
        corpus = load_dataset(task, codebook=None)
        data = corpus.data
        column = TEACHERS.get(task, "chatgpt_label")
        teacher = data[column].astype(str)
        if task in TEACHERS:   # TextClass columns hold label codes 0/1, as the human labels do
            teacher = teacher.str.replace(r"\.0$", "", regex=True)
        human = data["human_label"].astype(str)
        names = sorted(set(human))
        keep = teacher.isin(names).to_numpy()
        texts, human, teacher = data["text"][keep].tolist(), human[keep].to_numpy(), teacher[keep].to_numpy()
        if args.limit: texts, human, teacher = texts[:args.limit], human[:args.limit], teacher[:args.limit]
        folds = list(StratifiedKFold(args.folds, shuffle=True, random_state=0).split(texts, human))
        for name in args.recipes:
            started, predicted = time.monotonic(), np.empty(len(texts), dtype=object)
            for train, test in folds:
                targets = np.eye(len(names))[[names.index(t) for t in teacher[train]]]
                options = {"encoder": encoder} if issubclass(RECIPES[name], EmbeddingRecipe) else {}
                recipe = RECIPES[name](names, seed=0, **options).fit([texts[i] for i in train], targets)
                predicted[test] = recipe.predict([texts[i] for i in test])
            print(json.dumps({"bench": "recipes", "task": task, "recipe": name, "texts": len(texts), "classes": len(names),
                              "n_train": int(np.mean([len(t) for t, _ in folds])),
                              "student_llm_f1": round(float(f1_score(human, predicted.astype(str), average="macro")), 4),
                              "teacher_f1": round(float(f1_score(human, teacher, average="macro")), 4),
                              "seconds": round(time.monotonic() - started, 1)}), flush=True)


if __name__ == "__main__":
    main()
