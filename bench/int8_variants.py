"""Why `int8` keeps only 96-97% of fp32's labels on tweets: onnxruntime's other int8 forms of the same network, side by side.

The issue's target is int8 >= 2.5x fp32 with >= 99.5% of fp32's labels. `bench/predict.py` measures the package's form
(dynamic, per-channel weights, each batch's activations under one scale). This bench asks whether another form onnxruntime
offers would do better, on the students and tweets of `bench/predict.py` (trained on 300 human-labelled comments, kept in
transformers format, classifying distinct tweets unlike their training texts). One JSON line per (student, form):
  {"bench":"int8_variants","student":...,"form":...,"texts_per_s":...,"vs_fp32":...,"agreement_with_fp32":...,"mean_shift":...}
`mean_shift` is the mean absolute change of a probability from fp32's. The forms, all onnxruntime's own quantisers:
  onnx-fp32               the exported network, unquantised (what the others start from)
  dynamic                 the package's: `quantize_dynamic`, per-channel int8 weights, per-tensor uint8 activations
  dynamic-per-tensor      the same with one scale per weight matrix
  dynamic-fused           the same after `onnxruntime.transformers.optimizer` fuses attention, LayerNorm and GELU
  blockwise-int8          `MatMulNBitsQuantizer`, 8-bit weights in blocks of 32, activations int8 in blocks of 32 (accuracy_level 4)
  weights-only-int8       8-bit weights in blocks of 32, computed in fp32 (accuracy_level 0): the rounding of the weights alone
  blockwise-int4          4-bit weights in blocks of 32, activations int8 in blocks of 32
"""
import argparse
import json
import logging
import os
import tempfile
import time
import warnings
from pathlib import Path

warnings.filterwarnings("ignore")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
logging.disable(logging.WARNING)   # the quantisers log every node they skip

import numpy as np
import pandas as pd

import predict as bench_predict   # the students, the corpus and the kept folders of bench/predict.py
from llm_distill.quantize import Int8Student, _export_onnx
from llm_distill.students import load_student


def _dynamic(source, target, per_channel=True):
    from onnxruntime.quantization import QuantType, quantize_dynamic
    quantize_dynamic(str(source), str(target), per_channel=per_channel, weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul"],
                     extra_options={"DefaultTensorType": 1})   # fused graphs hold ops whose types shape inference cannot give


def _fused(source, target):
    from onnxruntime.transformers import optimizer
    fused = Path(target).with_suffix(".fused.onnx")
    optimizer.optimize_model(str(source), model_type="bert", num_heads=12, hidden_size=384, opt_level=1).save_model_to_file(str(fused))
    _dynamic(fused, target)


def _nbits(bits, accuracy_level):
    def make(source, target):
        from onnxruntime.quantization.matmul_nbits_quantizer import DefaultWeightOnlyQuantConfig, MatMulNBitsQuantizer
        config = DefaultWeightOnlyQuantConfig(block_size=32, is_symmetric=True, accuracy_level=accuracy_level, bits=bits)
        quantizer = MatMulNBitsQuantizer(str(source), bits=bits, block_size=32, is_symmetric=True, accuracy_level=accuracy_level, algo_config=config)
        quantizer.process(); quantizer.model.save_model_to_file(str(target), use_external_data_format=False)
    return make


FORMS = {"onnx-fp32": None, "dynamic": _dynamic, "dynamic-per-tensor": lambda s, t: _dynamic(s, t, per_channel=False),
         "dynamic-fused": _fused, "blockwise-int8": _nbits(8, 4), "weights-only-int8": _nbits(8, 0), "blockwise-int4": _nbits(4, 4)}   # form -> function(fp32 onnx, target)


def _rate(predict, texts):
    "Texts per second of `predict(texts)` after one warm-up batch, and its probabilities."
    predict(texts[:64])
    start = time.perf_counter()
    probabilities = predict(texts)
    return len(texts) / (time.perf_counter() - start), probabilities


def _rows(name, dataset, texts, work):
    "One row per form for the student trained on `dataset`."
    import onnxruntime as ort
    kept = bench_predict._kept(bench_predict._train("embed", work / f"student-{name}", dataset), dataset)
    student = load_student(kept)
    exported = work / f"{name}.onnx"
    _export_onnx(student.student, exported)
    fp32_rate, fp32 = _rate(student.predict_proba, texts)
    labels = np.array(student.labels_from(fp32))
    for form, make in FORMS.items():
        path = exported if make is None else work / f"{name}-{form}.onnx"
        try:
            if make: make(exported, path)
        except ImportError as missing:   # MatMulNBitsQuantizer needs onnx_ir
            yield {"bench": "int8_variants", "student": name, "form": form, "skipped": str(missing)}; continue
        predictor = Int8Student(kept, student)
        predictor.session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        predictor.inputs = [i.name for i in predictor.session.get_inputs()]
        rate, probabilities = _rate(predictor.int8_proba, texts)
        yield {"bench": "int8_variants", "student": name, "form": form, "texts": len(texts), "texts_per_s": round(rate, 1),
               "vs_fp32": round(rate / fp32_rate, 2), "agreement_with_fp32": round(float((np.array(student.labels_from(probabilities)) == labels).mean()), 4),
               "mean_shift": round(float(np.abs(probabilities - fp32).mean()), 5)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=3_000)
    parser.add_argument("--students", nargs="+", default=list(bench_predict.STUDENTS), choices=list(bench_predict.STUDENTS))
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp())
    texts = pd.read_parquet(bench_predict._corpus(work / "corpus.parquet", args.texts))["text"].tolist()
    for name in args.students:
        for row in _rows(name, bench_predict.STUDENTS[name], texts, work): print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
