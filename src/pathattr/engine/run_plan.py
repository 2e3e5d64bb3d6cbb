"""The plan of a dataset run: every argument of :func:`pathattr.run` resolved and checked.

:func:`plan` opens the input, loads the model, builds the :class:`DatasetAttributor` with the
method's options (Expected Gradients' references included) and the run's spec (what the
manifest stores and a resume compares) before anything is written.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pathattr.engine.batch import DatasetAttributor
from pathattr.engine.chem_batch import MoleculeDatasetAttributor, is_molecule_model
from pathattr.engine.models import load_model, model_hash
from pathattr.engine.sources import InputError, Source, open_source
from pathattr.engine.text_batch import TextDatasetAttributor, is_tokenizer

#: short method names accepted by :func:`pathattr.run` -> pathattr method names
METHODS = {
    "ig": "integrated_gradients",
    "eg": "expected_gradients",
    "smoothgrad": "smoothgrad",
    "integrated_gradients": "integrated_gradients",
    "expected_gradients": "expected_gradients",
    "ih": "integrated_hessians",
    "eh": "expected_hessians",
    "integrated_hessians": "integrated_hessians",
    "expected_hessians": "expected_hessians",
    "guided": "guided_integrated_gradients",
    "blur": "blur_integrated_gradients",
    "xrai": "xrai",
    "guided_integrated_gradients": "guided_integrated_gradients",
    "blur_integrated_gradients": "blur_integrated_gradients",
}
#: methods whose fixed step count is ``steps`` (no ``"auto"``)
FIXED_STEPS = ("integrated_hessians", "guided_integrated_gradients", "blur_integrated_gradients",
               "xrai")  # fmt: skip


@dataclass
class Plan:
    """Everything a run needs, resolved and checked before anything is written."""

    source: Source
    attributor: DatasetAttributor | TextDatasetAttributor | MoleculeDatasetAttributor
    out: Path
    spec: dict[str, Any]
    model_hash: str
    shard_rows: int
    batch_size: int
    dtype: str

    def shards(self) -> list[tuple[int, int]]:
        """``[start, stop)`` row ranges of every shard, in input order."""
        n = len(self.source)
        return [(s, min(s + self.shard_rows, n)) for s in range(0, n, self.shard_rows)]


def _positive(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name}: expected a positive integer, got {value!r}")
    return int(value)


def _jsonable(options: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in sorted(options.items()):
        if isinstance(v, torch.Tensor):
            v = v.detach().cpu().numpy()
        if isinstance(v, np.ndarray):
            out[k] = {"array_sha256": hashlib.sha256(np.ascontiguousarray(v).tobytes()).hexdigest(),
                      "shape": list(v.shape)}  # fmt: skip
        else:
            out[k] = v if isinstance(v, (int, float, str, bool, type(None))) else repr(v)
    return out


def plan(
    input: str | Path,
    model: Any,
    out: str | Path,
    *,
    method: str = "ig",
    steps: int | str = 32,
    tol: float = 0.05,
    samples: int | None = None,
    references: str | Path | np.ndarray | None = None,
    reference_rows: int = 64,
    target: str | int = "predicted",
    column: str | None = None,
    id_column: str | None = None,
    shard_rows: int = 1024,
    batch_size: int = 16,
    dtype: str = "float32",
    seed: int = 0,
    device: str = "cpu",
) -> Plan:
    """Resolve and check a run's arguments (see :func:`pathattr.run`); writes nothing."""
    if method not in METHODS:
        raise ValueError(
            "method: expected one of ig, eg, smoothgrad, ih, eh, guided, blur, xrai, got "
            f"{method!r}"
        )
    name = METHODS[method]
    shard_rows = _positive(shard_rows, "shard_rows")
    batch_size = _positive(batch_size, "batch_size")
    if dtype not in ("float32", "float16"):
        raise ValueError(f"dtype: expected 'float32' or 'float16', got {dtype!r}")
    if not (
        steps == "auto" or (isinstance(steps, int) and not isinstance(steps, bool) and steps > 0)
    ):
        raise ValueError(f"steps: expected a positive integer or 'auto', got {steps!r}")
    tcol: str | None = None
    if isinstance(target, str) and target != "predicted":
        try:
            target = int(target)
        except ValueError:
            tcol = str(target)
    source = open_source(input, column=column, id_column=id_column, target_column=tcol)
    net, preprocess, baseline = load_model(model)
    if is_tokenizer(preprocess) or is_molecule_model(net, preprocess):
        return _token_plan(
            source, net, preprocess, out, model=model, input=input, name=name, steps=steps,
            tol=tol, target=target, tcol=tcol, column=column, id_column=id_column,
            shard_rows=shard_rows, batch_size=batch_size, dtype=dtype, seed=seed, device=device,
        )  # fmt: skip
    att = DatasetAttributor(net, name, {}, preprocess, "column" if tcol else target, baseline,
                            seed, device)  # fmt: skip
    options: dict[str, Any] = {}
    if name == "integrated_gradients":
        options = {"steps": steps, "warn_tol": None}
        if steps == "auto":
            options["tol"] = tol
    elif name in FIXED_STEPS:
        if steps == "auto":
            raise ValueError(f"steps: {name} takes a positive integer, got 'auto'")
        options = {"steps": steps, "warn_tol": None}
    elif name in ("expected_gradients", "expected_hessians"):
        options = {"samples": samples or 64, "warn_tol": None}
        if references is None:  # evenly spaced rows of the input itself
            idx = np.unique(
                np.linspace(0, len(source) - 1, min(reference_rows, len(source))).astype(int)
            )
            refs = att.inputs([source.load(int(i), int(i) + 1)[0] for i in idx])
        elif isinstance(references, (str, Path)):
            try:
                refs = np.load(references, allow_pickle=False)
            except (OSError, ValueError) as e:
                raise InputError(
                    f"references: expected a readable .npy file, got {str(references)!r} ({e})"
                ) from e
        else:
            refs = np.asarray(references)
        options["references"] = torch.as_tensor(np.asarray(refs, dtype=np.float32))
    else:
        options = {"samples": samples or 16}
    att.options = options
    spec = {
        "input": str(Path(input).resolve()),
        "input_kind": source.kind,
        "column": column,
        "id_column": id_column,
        "model": model if isinstance(model, str) else f"<python object {type(net).__qualname__}>",
        "method": name,
        "options": _jsonable(options),
        "target": target if tcol is None else f"column:{tcol}",
        "shard_rows": shard_rows,
        "dtype": dtype,
        "seed": seed,
        "rows": len(source),
    }
    return Plan(source, att, Path(out), spec, model_hash(net), shard_rows, batch_size, dtype)


def _token_plan(
    source: Source, net: torch.nn.Module, preprocess: Any, out: str | Path, *, model: Any,
    input: str | Path, name: str, steps: int | str, tol: float, target: str | int,
    tcol: str | None, column: str | None, id_column: str | None, shard_rows: int,
    batch_size: int, dtype: str, seed: int, device: str,
) -> Plan:  # fmt: skip
    """The plan of a run over a table's text or SMILES column: ragged scores with tokens
    (a 🤗 text classifier's tokens, or a molecule network's atoms)."""
    kind = "text" if is_tokenizer(preprocess) else "smiles"
    what = "a text" if kind == "text" else "a molecule"
    if name != "integrated_gradients":
        raise ValueError(f"method: {what} model's runs support ig, got {name!r}")
    first = source.load(0, 1)[0]
    if source.kind != "table" or not isinstance(first, str):
        raise InputError(
            f"column: {what} model needs a table with a {kind} column (--column), got "
            f"{source.kind} rows like {str(first)[:40]!r}"
        )
    options: dict[str, Any] = {"steps": steps}
    if steps == "auto":
        options["tol"] = tol
    tgt = "column" if tcol else target
    att: TextDatasetAttributor | MoleculeDatasetAttributor = (
        TextDatasetAttributor(net, preprocess, options, tgt, device) if kind == "text"
        else MoleculeDatasetAttributor(net, options, tgt, device)
    )  # fmt: skip
    spec = {
        "input": str(Path(input).resolve()), "input_kind": kind, "column": column,
        "id_column": id_column,
        "model": model if isinstance(model, str) else f"<python object {type(net).__qualname__}>",
        "method": f"{kind}_integrated_gradients", "options": _jsonable(options),
        "target": target if tcol is None else f"column:{tcol}", "shard_rows": shard_rows,
        "dtype": dtype, "seed": seed, "rows": len(source),
    }  # fmt: skip
    return Plan(source, att, Path(out), spec, model_hash(net), shard_rows, batch_size, dtype)
