"The notebooks read as nbdev's own: one public definition per export cell, and docments on every public function's parameters."
import ast
import dataclasses
import importlib
import inspect
import re
import warnings
from pathlib import Path

from fastcore.docments import docments

from llm_distill.llm import LLMBackend

LIBRARY = Path(__file__).parents[1] / "llm_distill"
MODULES = sorted(p.stem for p in LIBRARY.glob("*.py") if not p.stem.startswith("_"))


def export_cells(module):
    "The code of each exported cell of a module, as nbdev wrote it."
    return [chunk.split("\n", 1)[1] for chunk in re.split(r"\n# %% ", (LIBRARY / f"{module}.py").read_text())[1:] if not chunk.startswith("auto")]


def test_one_public_definition_per_export_cell():
    crowded = []
    for module in MODULES:
        for code in export_cells(module):
            names = [n.name for n in ast.parse(code).body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and not n.name.startswith("_")]
            if len(names) > 1: crowded.append(f"{module}: {names}")
    assert not crowded, "split these export cells, one public definition each:\n" + "\n".join(crowded)


def documented_callables(module):
    "(name, function or dataclass) for every public function and method a module exports (a method documented where first declared)."
    mod = importlib.import_module(f"llm_distill.{module}")
    for name in getattr(mod, "__all__", []):
        obj = getattr(mod, name)
        if inspect.isfunction(obj): yield name, obj
        elif inspect.isclass(obj) and obj.__module__ == mod.__name__:
            generated = dataclasses.is_dataclass(obj) and "def __init__" not in inspect.getsource(obj)
            if generated: yield name, obj   # a dataclass: its fields' trailing comments
            declared = set(vars(LLMBackend)) if hasattr(obj, "from_settings") and obj is not LLMBackend else set()
            for method, function in vars(obj).items():
                inherited = method in declared or any(method in vars(base) for base in obj.__mro__[1:] if base is not object)
                if inspect.isfunction(function) and not inherited and (not method.startswith("_") or (method == "__init__" and not generated)):
                    yield f"{name}.{method}", function


def test_every_public_parameter_has_a_docment():
    missing = []
    warnings.simplefilter("ignore")
    for module in MODULES:
        for name, function in documented_callables(module):
            parameters = [n for n, p in inspect.signature(function).parameters.items()
                          if n not in ("self", "cls") and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]
            documented = docments(function)
            lacking = [p for p in parameters if not documented.get(p)]
            if lacking: missing.append(f"{module}.{name}: {lacking}")
    assert not missing, "give these parameters a trailing comment (docments):\n" + "\n".join(missing)
