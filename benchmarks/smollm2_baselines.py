"""SmolLM2-135M-Instruct: does IG converge with the zero embedding baseline?  With the mean?

Per-output-token attributions of the model's answer to a chat prompt (its chat template, its
default system prompt), for the ``zero`` and ``mean`` baselines at several step counts: the
completeness report (relative residual per output token), and what ``steps="auto"`` says for
the first output token (pathattr.integrated_gradients on the prompt embeddings).

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/smollm2_baselines.py
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _smollm2  # noqa: E402

import pathattr  # noqa: E402


def main() -> None:
    torch.set_num_threads(1)
    # arguments: step counts and baseline names, e.g. ``32 128 mean``
    steps_list = [int(a) for a in sys.argv[1:] if a.isdigit()] or [32, 128, 256]
    bases = [a for a in sys.argv[1:] if not a.isdigit()] or ["zero", "mean"]
    model, tok = _smollm2.load()
    msgs = [{"role": "user", "content": "What is the capital of France?"}]
    enc = tok.apply_chat_template(msgs, add_generation_prompt=True, return_tensors="pt")
    ids = (enc if isinstance(enc, torch.Tensor) else enc["input_ids"])[0]
    with torch.no_grad():
        gen = model.generate(ids[None], max_new_tokens=2, do_sample=False)[0, len(ids) :]
    print(f"prompt: {len(ids)} tokens; answer tokens: {tok.convert_ids_to_tokens(gen.tolist())}")
    emb = model.get_input_embeddings().weight.detach()
    print(
        f"embedding norms: mean embedding {float(emb.mean(0).norm()):.2f}, median token "
        f"{float(emb.norm(dim=1).median()):.2f}"
    )
    print("\n| baseline | steps | F_t(x) − F_t(x') per token | relative residual per token | s |")
    print("|---|---|---|---|---|")
    for base in bases:
        for steps in steps_list:
            t = time.perf_counter()
            r = pathattr.sequence_attributions(
                model, ids, output_ids=gen, steps=steps, baselines=base, warn_tol=None
            )
            gap = (r.output - r.baseline_output).reshape(-1)
            diff = ", ".join(f"{v:.2f}" for v in gap.tolist())
            rel = ", ".join(f"{v:.3f}" for v in r.relative_delta.reshape(-1).tolist())
            print(
                f"| {base} | {steps} | {diff} | {rel} | {time.perf_counter() - t:.0f} |",
                flush=True,
            )

    # steps="auto" on the first output token: IG in the space of the prompt's embeddings
    x = emb[ids][None]
    y = int(gen[0])

    def first_token_logprob(e: torch.Tensor) -> torch.Tensor:
        logits = model(inputs_embeds=e, use_cache=False, logits_to_keep=1).logits[:, -1]
        return torch.log_softmax(logits, -1)[:, y]

    print("\nsteps='auto' (tol 1e-2, max_steps 256), first output token:")
    starts = {"zero": torch.zeros_like(x), "mean": emb.mean(0).expand_as(x)}
    for name, b in ((k, v) for k, v in starts.items() if k in bases):
        t = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            r = pathattr.integrated_gradients(
                first_token_logprob, x, baselines=b, steps="auto", max_steps=256, batch_size=32
            )
        said = sorted({f"{type(w.message).__name__}: {str(w.message)[:160]}" for w in caught})
        print(
            f"- {name}: evaluations {int(r.evaluations[0])}, relative residual "
            f"{float(r.relative_delta[0]):.3f}, extras "
            f"{ {k: v for k, v in r.extras.items() if k in ('converged', 'error_estimate')} }, "
            f"{time.perf_counter() - t:.0f} s; warnings: {said}",
            flush=True,
        )


if __name__ == "__main__":
    main()
