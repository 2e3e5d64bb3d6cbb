"""Per-output-token attributions: pathattr.sequence_attributions vs Captum's per-token loop.

Captum: ``LLMGradientAttribution(LayerIntegratedGradients(model, embeddings), tokenizer)``,
one layer-IG call per output token (all steps batched in it).  pathattr: ``mode="auto"``,
``"reverse"`` and ``"forward"`` at equal steps and the same Gauss-Legendre nodes.  A 16-token
prompt and outputs of T = 1, 8, 32, 128 (random token ids; timings do not depend on them).

The floor is one primal forward of all steps plus min(T, c·L) single-direction derivative
passes, c = (JVP pass − primal) / VJP pass, all measured here at width 1 (a batched pass of
g directions costs less than g single ones, so a run can come in under this "floor").

Times are process CPU seconds (one thread, best of ``--repeats``): the machine is shared, and
CPU time is far less disturbed by other processes than wall time.  Run:

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/sequence_attr.py --model tiny
    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/sequence_attr.py --model smollm2 \
        --steps 8 --outputs 1 8
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import pathattr  # noqa: E402
from pathattr.methods.sequence.costs import COST_CACHE, measure_costs  # noqa: E402
from pathattr.methods.sequence.prepare import prepare  # noqa: E402


def tiny() -> Any:
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=2000, hidden_size=128, intermediate_size=256, num_hidden_layers=4,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
        attn_implementation="eager",
    )  # fmt: skip
    return LlamaForCausalLM(cfg).eval()


def captum_run(model: Any, ids: torch.Tensor, out: torch.Tensor, steps: int) -> torch.Tensor:
    from captum.attr import LayerIntegratedGradients, LLMGradientAttribution, TextTokenInput
    from test_sequence_attr import DigitTokenizer

    lig = LayerIntegratedGradients(model, model.get_input_embeddings())
    llm = LLMGradientAttribution(lig, DigitTokenizer())
    inp = TextTokenInput(" ".join(map(str, ids.tolist())), DigitTokenizer(), baselines=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return llm.attribute(inp, target=out, n_steps=steps).token_attr


def timed(fn: Any, repeats: int) -> tuple[float, Any]:
    best, res = float("inf"), None
    for _ in range(repeats):
        t = time.process_time()
        res = fn()
        best = min(best, time.process_time() - t)
    return best, res


def floor(model: Any, ids: torch.Tensor, out: torch.Tensor, steps: int) -> tuple[float, float]:
    """(floor seconds, c) for this T: primal + min(T, c·L) width-1 derivative passes."""
    prob = prepare(model, ids, out, 0, False)
    rows = torch.zeros(steps, dtype=torch.long)
    alphas = torch.linspace(0.05, 0.95, steps)
    best: dict[str, float] = {}
    for _ in range(3):  # best of three, the first one warming up
        COST_CACHE.clear()
        c1 = measure_costs(prob, rows, alphas, 1)
        for k in ("forward", "vjp", "jvp"):
            best[k] = min(best.get(k, float("inf")), float(c1[k]))
    COST_CACHE.clear()
    fwd, vjp, jvp = best["forward"], best["vjp"], best["jvp"]
    c = max(jvp - fwd, 1e-9) / vjp
    t, length = out.shape[-1], ids.shape[-1]
    return fwd + min(t, c * length) * vjp, c


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", choices=["tiny", "smollm2"], default="tiny")
    ap.add_argument("--steps", type=int, default=32)
    ap.add_argument("--outputs", type=int, nargs="+", default=[1, 8, 32, 128])
    ap.add_argument("--prompt", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--captum-repeats", type=int, default=1)
    ap.add_argument(
        "--auto-only", action="store_true", help="skip the forced modes and the floor (long T)"
    )
    a = ap.parse_args()
    torch.set_num_threads(1)
    if a.model == "tiny":
        model = tiny()
    else:
        import _smollm2

        model, _ = _smollm2.load()
    vocab = model.get_input_embeddings().weight.shape[0]
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(1, vocab, (a.prompt,), generator=g)
    captum_run(model, ids, ids[:2], 2)  # warm-up (first-call costs are not Captum's fault)
    pathattr.sequence_attributions(model, ids, output_ids=ids[:2], steps=2, mode="forward")
    print(f"model={a.model} L={a.prompt} steps={a.steps} torch={torch.__version__} threads=1")
    print(
        "| T | Captum s | auto s (mode) | reverse s | forward s | Captum/auto | "
        "floor s (c) | auto/floor | max rel. diff vs Captum |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for t in a.outputs:
        out = torch.randint(1, vocab, (t,), generator=g)
        print(row(model, ids, out, a), flush=True)


def row(model: Any, ids: torch.Tensor, out: torch.Tensor, a: argparse.Namespace) -> str:
    tc, ref = timed(lambda: captum_run(model, ids, out, a.steps), a.captum_repeats)
    COST_CACHE.clear()
    kw: dict[str, Any] = {"output_ids": out, "steps": a.steps, "baselines": 0, "warn_tol": None}

    def ours(**extra: Any) -> Any:
        return pathattr.sequence_attributions(model, ids, **kw, **extra)

    # the first auto call measures its costs (what a user pays once per model and shape)
    ta, ra = timed(ours, 1)
    ta2, _ = timed(ours, a.repeats)
    if a.auto_only:
        ref = ref.to(ra.attributions.dtype)
        diff = float((ra.attributions - ref).abs().max() / ref.abs().max())
        return (
            f"| {out.shape[0]} | {tc:.2f} | {ta2:.2f} ({ra.extras['mode']}; first call {ta:.2f}) "
            f"| - | - | {tc / ta2:.2f}x | - | - | {diff:.1e} |"
        )
    tr, rr = timed(lambda: ours(mode="reverse"), a.repeats)
    tf, rf = timed(lambda: ours(mode="forward"), a.repeats)
    fl, c = floor(model, ids, out, a.steps)
    ref = ref.to(rr.attributions.dtype)
    diff = max(float((r.attributions - ref).abs().max() / ref.abs().max()) for r in (ra, rr, rf))
    return (
        f"| {out.shape[0]} | {tc:.2f} | {ta2:.2f} ({ra.extras['mode']}; first call {ta:.2f}) | "
        f"{tr:.2f} | {tf:.2f} | {tc / ta2:.2f}x | {fl:.2f} ({c:.1f}) | {ta2 / fl:.2f} | "
        f"{diff:.1e} |"
    )


if __name__ == "__main__":
    main()
