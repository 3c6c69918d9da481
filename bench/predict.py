"""Throughput and memory of `predict_file` with a saved student, and whether a killed run resumes and Dask agree.

Trains an embedding student on 300 human-labelled incivility comments (and, for fp32 and the bf16 and int8 forms only, one on 300 toxicity
comments: whether they keep a student's labels depends on the student), saves it, and classifies 20,000 distinct tweets
(from the shared datasets: none repeats, so the encoder's memory of embeddings gives no free answers) from Parquet with `predict_file`, each precision in a fresh process so
its peak memory is its own. One JSON line per precision, then the checks and the projection:
  {"bench":"predict","precision":"fp32","texts_per_s":...,"peak_mb":...,"agreement_with_fp32":1.0}
  {"bench":"predict","precision":"resume","identical":true}   (a run SIGKILLed part-way, rerun: the bytes of one never stopped)
  {"bench":"predict","precision":"dask","identical":true}     (map_partitions on a 2-worker LocalCluster: the labels of predict_file)
  {"bench":"predict","precision":"fp32","projected_hours":...,"for_texts":6200000}
fp32, bf16, int8 and int8-checked are one network: the student kept in transformers format, its weights in bfloat16 (run where
the CPU has bfloat16 units: AMX or AVX512-BF16; skipped elsewhere), its ONNX export quantised by onnxruntime
(`quantize.quantize_student`), and that int8 network with the texts near a boundary scored again in fp32.
Another precision is a row more: add `name: function(folder, dataset) -> a loaded predictor` to `PRECISIONS`
(and, when it needs its own training, a recipe to `TRAINED`).
"""
import argparse
import json
import multiprocessing
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

warnings.filterwarnings("ignore")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pandas as pd

from llm_distill.data import load_dataset
from llm_distill.quantize import bf16_native
from llm_distill.predict import parts_folder, partition_meta, predict_file, predict_partition
from llm_distill.students import RECIPES, load_student


def _kept(folder, dataset):
    "The student kept in transformers format (as `llm-distill train` keeps it) beside its recipe folder, with its int8 network (agreement measured on its 300 training texts); made once."
    from llm_distill.export import save_transformers, student_card
    from llm_distill.quantize import quantize_student
    kept = Path(folder).with_name(Path(folder).name + "-kept")
    if not (kept / "onnx").is_dir():
        student = load_student(folder)
        save_transformers(student, kept, student_card(student))
        quantize_student(kept, _training(dataset)[0])
    return kept


def _fp32(folder, dataset):
    "The kept student in full precision: the network int8 is made from, so the two rows compare one network."
    return load_student(_kept(folder, dataset))


def _int8(folder, dataset):
    "The same kept student's int8 network."
    from llm_distill.quantize import load_for_prediction
    return load_for_prediction(_kept(folder, dataset), "int8")


def _bf16(folder, dataset):
    "The same kept student's network in bfloat16 (on a CPU with bfloat16 units; refused elsewhere)."
    from llm_distill.quantize import load_for_prediction
    return load_for_prediction(_kept(folder, dataset), "bf16")


def _checked(folder, dataset):
    "The same kept student's int8 network, with the texts near a boundary scored again in fp32."
    from llm_distill.quantize import load_for_prediction
    return load_for_prediction(_kept(folder, dataset), "int8-checked")


def _recipe(folder, dataset): return load_student(folder)   # a student with no transformers form (static), from its own folder


PRECISIONS = {"fp32": _fp32, "bf16": _bf16, "int8": _int8, "int8-checked": _checked}   # precision name -> function(saved student folder) -> a loaded predictor
TRAINED = {"fp32": "embed", "bf16": "embed", "int8": "embed", "int8-checked": "embed"}     # precision name -> the recipe its student is trained with
if "static" in RECIPES: PRECISIONS["static"], TRAINED["static"] = _recipe, "static"
STUDENTS = {"incivility": "theocharis-incivility", "toxicity": "textclass-toxicity-train"}   # student -> the dataset it learns from
ALSO = {"toxicity": ("fp32", "bf16", "int8", "int8-checked")}   # the precisions measured for students after the first (int8's agreement depends on the student)
PROJECTED = 6_200_000                 # texts in the corpus the projection is for
CHUNK = 2_000


def _training(dataset):
    "The first 300 human-labelled texts of `dataset`, and their labels."
    data = load_dataset(dataset).data.dropna(subset=["human_label"])
    return data["text"].iloc[:300].tolist(), data["human_label"].iloc[:300].astype(str).tolist()


def _train(recipe, folder, dataset):
    "Train `recipe` on 300 human-labelled texts of `dataset` and save it to `folder`."
    from llm_distill.selection import train_student
    return train_student(*_training(dataset), recipe=recipe).save(folder)


CORPUS = ("tweeteval-offensive", "davidson-hate-offensive", "olid")   # distinct tweets: no text is seen twice, so nothing is remembered


def _corpus(path, texts):
    "`texts` distinct tweets from the shared datasets, as Parquet with an id column."
    pool = list(dict.fromkeys(t for name in CORPUS for t in load_dataset(name).data["text"].astype(str) if t.strip()))
    if len(pool) < texts: raise SystemExit(f"the shared datasets hold {len(pool)} distinct tweets; ask for at most that many")
    pd.DataFrame({"id": [f"t{i}" for i in range(texts)], "text": pool[:texts]}).to_parquet(path, index=False)
    return path


def _timed(precision, folder, dataset, source, destination, queue):
    "In a fresh process: load the predictor, classify the file; texts per second and this process's peak memory."
    predictor = PRECISIONS[precision](folder, dataset)
    start = time.perf_counter()
    predict_file(predictor, source, destination, id_column="id", chunk_rows=CHUNK, progress=False)
    seconds = time.perf_counter() - start
    queue.put((seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))


def _measure(precision, folder, dataset, source, destination):
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    child = context.Process(target=_timed, args=(precision, folder, dataset, source, destination, queue))
    child.start(); seconds, peak = queue.get(); child.join()
    return seconds, peak


def _rescored(outputs, name, precision):
    "For int8-checked: the share of texts scored again in fp32 (their probabilities are not int8's)."
    if precision != "int8-checked" or (name, "int8") not in outputs: return {}
    mine, int8 = pd.read_parquet(outputs[name, precision]), pd.read_parquet(outputs[name, "int8"])
    columns = [c for c in mine if c.startswith("p_")]
    return {"rescored": round(float((mine[columns].to_numpy() != int8[columns].to_numpy()).any(axis=1).mean()), 4)}


CHILD = ("import sys; from llm_distill.predict import predict_file; from llm_distill.students import load_student; "
         "predict_file(load_student(sys.argv[1]), sys.argv[2], sys.argv[3], id_column='id', chunk_rows=int(sys.argv[4]), progress=False)")


def _resume_identical(folder, source, reference, work, chunk_rows):
    "Kill a run once two parts are kept, rerun it; True when the output's bytes are those of `reference` (an uninterrupted run)."
    destination = work / f"resumed{reference.suffix}"
    command = [sys.executable, "-c", CHILD, str(folder), str(source), str(destination), str(chunk_rows)]
    child = subprocess.Popen(command)
    while len(list(parts_folder(destination).glob("part-*.parquet"))) < 2 and child.poll() is None: time.sleep(0.05)
    killed = child.poll() is None
    child.send_signal(signal.SIGKILL); child.wait()
    subprocess.run(command, check=True)
    return killed and destination.read_bytes() == reference.read_bytes() and not parts_folder(destination).exists()


def _dask_identical(folder, source, reference):
    "Labels from `map_partitions(predict_partition)` on a 2-worker LocalCluster, compared with `predict_file`'s."
    import dask.dataframe as dd
    from distributed import Client, LocalCluster
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, Client(cluster):
        labels = dd.read_parquet(source).repartition(npartitions=4).map_partitions(
            predict_partition, str(folder), id_column="id", meta=partition_meta(folder, id_column="id")).compute()
    expected = pd.read_parquet(reference)
    return labels["id"].tolist() == expected["id"].tolist() and labels["label"].tolist() == expected["label"].tolist()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=20_000)
    parser.add_argument("--check-texts", type=int, default=4_000, help="texts of the resume and Dask checks")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp())
    source = _corpus(work / "corpus.parquet", args.texts)
    folders, trained, outputs, speed = {}, {}, {}, {}
    for name, dataset in STUDENTS.items():
        for precision in ALSO.get(name, PRECISIONS):
            if precision == "bf16" and not bf16_native():
                print(json.dumps({"bench": "predict", "precision": "bf16", "student": name, "skipped": "this CPU has no bfloat16 units"}), flush=True); continue
            recipe, row = TRAINED.get(precision, "embed"), (name, precision)
            trained[name, recipe] = trained.get((name, recipe)) or _train(recipe, work / f"student-{name}-{recipe}", dataset)
            folders[row], outputs[row] = trained[name, recipe], work / f"labels-{name}-{precision}.parquet"
            seconds, peak = _measure(precision, folders[row], dataset, source, outputs[row])
            agreement = (pd.read_parquet(outputs[row])["label"] == pd.read_parquet(outputs[name, "fp32"])["label"]).mean()
            speed[row] = args.texts / seconds
            print(json.dumps({"bench": "predict", "precision": precision, "student": name, "texts": args.texts, "texts_per_s": round(speed[row], 1),
                              "vs_fp32": round(speed[row] / speed[name, "fp32"], 2), "peak_mb": round(peak), "agreement_with_fp32": round(float(agreement), 4),
                              **_rescored(outputs, name, precision)}), flush=True)
    first = next(iter(STUDENTS))
    folders["fp32"], speed["fp32"] = folders[first, "fp32"], speed[first, "fp32"]
    check = _corpus(work / "check.parquet", args.check_texts)
    reference = predict_file(load_student(folders["fp32"]), check, work / "check-labels.parquet", id_column="id", chunk_rows=500, progress=False)
    print(json.dumps({"bench": "predict", "precision": "resume", "texts": args.check_texts,
                      "identical": bool(_resume_identical(folders["fp32"], check, reference, work, 500))}), flush=True)
    try: identical = bool(_dask_identical(folders["fp32"], check, reference))
    except ImportError: identical = None   # dask is an optional extra
    print(json.dumps({"bench": "predict", "precision": "dask", "texts": args.check_texts, "identical": identical}), flush=True)
    print(json.dumps({"bench": "predict", "precision": "fp32", "for_texts": PROJECTED, "cpus": os.cpu_count(),
                      "projected_hours": round(PROJECTED / speed["fp32"] / 3600, 2)}), flush=True)


if __name__ == "__main__":
    main()
