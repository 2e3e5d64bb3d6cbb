r"""Per-output-token Integrated Gradients for causal language models (issue 12, item 4).

For a prompt x₁…x_L and an output y₁…y_T (generated or given), output token t has the score

.. math::

    F_t(e) = \log p(y_t \mid y_{<t}, x), \qquad
    A[t, i] = \Big(\int_0^1 \nabla_{e_i} F_t\big(e' + \alpha (e - e')\big)\, d\alpha\Big)
              \cdot (e_i - e'_i),

the attribution of log p(y_t) to source token i, summed over the embedding dimension (the
IG authors' and Captum's token score), where e are the source tokens' input embeddings and
e' the baseline's.  The path runs over the source embeddings; the generated prefix y_<t
stays real (``attribute_to_prefix=True`` moves it along the path too).  Completeness per
output token: Σ_i A[t, i] = F_t(e) − F_t(e'), reported as ``delta[n, t]``.

Captum's ``LLMGradientAttribution`` computes the same matrix with one layer-IG call per output
token: T × steps forwards and backwards.  Because the mask is causal, F_t depends only on
positions ≤ L + t − 1, so a teacher-forced forward of x, y₁…y_{T−1} gives all T scores at
once, and two exact ways recover the T × L matrix:

* ``mode="reverse"``: one vector–Jacobian product per output token.  A group of
  g ≈ √(2 (L + T/2)) output tokens t₀ ≤ t < t₁
  (:func:`~pathattr.methods.sequence.reverse.reverse_group`) shares one forward of the
  sequence cut after position L + t₁ − 2, the last it reads, and its g VJPs run from that
  graph: one forward per group instead of one per token, and no backward through positions
  none of the group reads.  (Batching the g VJPs with ``is_grads_batched=True`` was measured
  1.4x slower than running them in turn, on the CPU.)
* ``mode="forward"``: one Jacobian–vector product per source token (tangent e_i − e'_i at
  position i), ``g`` of them per pass, batched with ``torch.func.vmap`` over
  ``torch.func.jvp`` so the primal is computed once per pass; each gives token i's column for
  every t at once.  Fewer passes when the output is much longer than the prompt.

Rows are (example, α, direction) triples: the steps of all examples go through the model
together, in chunks of at most ``batch_size`` path points; forward mode differentiates
``g = batch_size // points`` tangents per pass.  ``mode="auto"`` takes reverse mode without
measuring when T ≤ P (P = L moving positions, or L + T − 1 with the prefix): one JVP tangent
was always measured dearer than one VJP (c = 3-9 in ``benchmarks/results/sequence_attr.md``).
Otherwise it **measures** one forward, one VJP and one single-tangent JVP on the first chunk
and the whole sequence (cached per model and shape in
:data:`~pathattr.methods.sequence.costs.COST_CACHE`; about 2 + c forward passes, c the
JVP/VJP cost ratio) and picks the smaller prediction: reverse = chunks ×
Σ_groups (forward + g VJPs) × cut length / full length; forward = chunks × Σ_passes (forward
+ g × (JVP − forward)), the per-tangent cost measured as roughly constant in g.
``extras["costs"]`` holds the measurement and both predictions.
An operation without forward-mode support (the fused SDPA kernel on the CPU) makes forward
mode retry with eager attention, and if that fails too, fall back to reverse mode, with a
warning; ``extras["mode"]`` and ``extras["fallback"]`` say what ran.

**Baselines.**  The default, ``baselines="mean"``, is the mean of the embedding matrix over the
vocabulary, at every source position.  The all-zero embedding is wrong for models with
RMSNorm (Llama, SmolLM2, Gemma): RMSNorm(αe) = RMSNorm(e) for every α > 0 (up to its ε), so
F jumps between α = 0 and the smallest α > 0, and IG converges to F(e) − F(0⁺), not to
F(e) − F(0).  Measured on SmolLM2-135M-Instruct (``benchmarks/results/sequence_attr.md``):
F_1 goes from −10.8 at α = 0 to −6.2 at α = 0.01, the gradient at e' = 0 is not finite, and
the completeness residual grows with the steps (Σ A = 28 at 32 steps, 74 at 256, for
F(e) − F(0) = 10.6 in the data notes).  The mean embedding has a non-zero norm (2.2 against a
median token norm of 3.2), is no particular token, and F is continuous at it.  It does not
make a 30-layer LM's path smooth: for the first answer token (whose query position moves
along the path) F still has steep stretches and ``relative_delta`` stays large (0.27 after
``steps="auto"``'s 253 evaluations);
the completeness report and ``steps`` are the user's instruments there.  ``"zero"``, a token
id (Captum's convention) or explicit embeddings are accepted too.
"""

from __future__ import annotations

import warnings

import torch
from torch import nn

from pathattr.methods.sequence.costs import auto_rows, choose_mode
from pathattr.methods.sequence.forward import ForwardModeUnsupported, run_forward
from pathattr.methods.sequence.prepare import prepare
from pathattr.methods.sequence.reverse import run_reverse
from pathattr.quadrature.rules import RULES, quadrature
from pathattr.result import Attribution, completeness, warn_if_incomplete

MODES = ("auto", "reverse", "forward")


def sequence_attributions(
    model: nn.Module,
    input_ids: torch.Tensor,
    *,
    output_ids: torch.Tensor,
    baselines: str | int | float | torch.Tensor | None = "mean",
    steps: int = 50,
    rule: str | None = None,
    mode: str = "auto",
    batch_size: int | str | None = "auto",
    attribute_to_prefix: bool = False,
    warn_tol: float | None = 0.05,
) -> Attribution:
    r"""Attribution of every output token's log-probability to the prompt's tokens.

    Args:
        model: a causal LM called as ``model(inputs_embeds=..., use_cache=False,
            logits_to_keep=T)`` returning logits (a 🤗 ``*ForCausalLM``), with
            ``get_input_embeddings()``.  No padding: every example has the same lengths.
        input_ids: the prompt's token ids, (L,) or (N, L) integers (chat template applied).
        output_ids: the output y₁…y_T, (T,) or (N, T) integers, e.g. ``model.generate``'s
            new tokens.
        baselines: e' at each moving position: ``"mean"`` (default: the mean embedding, see
            the module docstring for why not zeros), ``"zero"``, an int token id (Captum's
            convention, e.g. the pad or unk id), a float tensor of embeddings (d,), (P, d) or
            (N, P, d), or an integer tensor of token ids (P,) or (N, P).
        steps: quadrature nodes per example (an int ≥ 1).
        rule: the quadrature rule, ``gausslegendre`` (default, as Captum), ``riemann_*``.
        mode: ``"auto"`` (default), ``"reverse"`` or ``"forward"`` (module docstring).
        batch_size: most rows differentiated per pass, a row being a (path point,
            cotangent or tangent) pair; None: everything in one pass; ``"auto"`` (default):
            as many rows as fit :data:`~pathattr.methods.sequence.costs.MEMORY_FRACTION` of
            the free memory (at most :data:`~pathattr.methods.sequence.costs.MAX_AUTO_BYTES`),
            from the bytes autograd keeps for one row of the whole sequence, measured once per
            model and shape.
        attribute_to_prefix: also move the output prefix y_<t along the path; then the
            attributions have L + T − 1 columns and ``A[t, L + j]`` (j < t) is y_{j+1}'s share.
        warn_tol: warn (``CompletenessWarning``) when some output token's relative
            completeness residual exceeds this; None or 0: never.

    A model in training mode is run in eval mode, with a warning, and put back afterwards.

    Returns:
        An :class:`~pathattr.result.Attribution` with ``attributions`` (N, T, P) (squeezed to
        (T, P) for 1-D ``input_ids``), ``output`` and ``baseline_output`` F_t(e), F_t(e')
        (N, T), ``delta`` / ``relative_delta`` per (example, output token), and ``extras``:
        ``mode`` (what ran), ``costs`` (the measured pass times when ``mode="auto"``
        measured), ``fallback`` (why a mode was replaced, else None), ``steps``, ``rule``,
        ``passes`` (derivative passes run).
    """
    single = isinstance(input_ids, torch.Tensor) and input_ids.dim() == 1
    prob = prepare(model, input_ids, output_ids, baselines, attribute_to_prefix)
    if isinstance(steps, bool) or not isinstance(steps, int):
        raise TypeError(f"steps: expected a positive int, got {type(steps).__name__} {steps!r}")
    if steps < 1:
        raise ValueError(f"steps: expected an int >= 1, got {steps}")
    rule = "gausslegendre" if rule is None else rule
    if rule not in RULES:
        raise ValueError(f"rule: expected one of {', '.join(RULES)}, got {rule!r}")
    if mode not in MODES:
        raise ValueError(f"mode: expected one of {', '.join(MODES)}, got {mode!r}")
    if (
        batch_size is not None
        and batch_size != "auto"
        and (isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1)
    ):
        raise ValueError(f"batch_size: expected a positive int, 'auto' or None, got {batch_size!r}")
    if warn_tol is not None and (not isinstance(warn_tol, (int, float)) or warn_tol < 0):
        raise ValueError(f"warn_tol: expected a number >= 0 or None, got {warn_tol!r}")

    q = quadrature(rule, steps)
    dev, dt = prob.inputs.device, prob.inputs.dtype
    alphas_k = torch.tensor(q.alphas.copy(), dtype=dt, device=dev)
    weights_k = torch.tensor(q.weights.copy(), dtype=dt, device=dev)
    rows = torch.arange(prob.n, device=dev).repeat_interleave(steps)
    alphas = alphas_k.repeat(prob.n)
    weights = weights_k.repeat(prob.n)
    total = int(rows.shape[0])
    if batch_size is None:
        budget = total * max(prob.outputs, prob.sources)
    elif batch_size == "auto":
        budget = auto_rows(prob)
    else:
        budget = int(batch_size)
    # path points per pass, and directions (cotangents / tangents) per pass
    per_chunk = max(1, min(total, budget))
    per_chunk = -(-total // -(-total // per_chunk))  # equal chunks
    width = max(1, budget // per_chunk)

    fallback: str | None = None
    costs: dict[str, float | None] | None = None
    was_training = model.training
    if was_training:
        warnings.warn(
            "model: in training mode; sequence_attributions runs it in eval mode (dropout "
            "would make every pass, and reverse and forward mode, disagree) and puts it back",
            stacklevel=2,
        )
    try:
        model.eval() if was_training else None
        with torch.enable_grad():
            chosen = mode
            if mode == "auto":
                chosen, costs = choose_mode(prob, rows, alphas, per_chunk, width)
                if costs is not None and costs.get("jvp") is None and chosen == "reverse":
                    fallback = str(costs.get("reason", "forward mode unsupported"))
            attrs = None
            if chosen == "forward":
                try:
                    attrs, passes = run_forward(prob, rows, alphas, weights, per_chunk, width)
                except ForwardModeUnsupported as err:
                    fallback = str(err)
                    warnings.warn(
                        f"mode: forward mode is not supported by this model ({err}); "
                        "ran reverse mode instead",
                        stacklevel=2,
                    )
                    chosen = "reverse"
            if attrs is None:
                attrs, passes = run_reverse(prob, rows, alphas, weights, per_chunk, width)
            with torch.no_grad():
                ends = torch.arange(prob.n, device=dev).repeat(2)
                end_alphas = torch.cat([torch.ones(prob.n), torch.zeros(prob.n)]).to(dev, dt)
                f_ends = prob.log_probs(prob.points(ends, end_alphas), ends)
    finally:
        if was_training:
            model.train()
    output, baseline_output = f_ends[: prob.n], f_ends[prob.n :]
    delta, relative = completeness(
        (attrs.reshape(-1, attrs.shape[-1]),),
        output.reshape(-1),
        baseline_output.reshape(-1),
    )
    res = Attribution(
        attributions=attrs[0] if single else attrs,
        output=output,
        baseline_output=baseline_output,
        delta=delta.reshape(prob.n, prob.outputs),
        relative_delta=relative.reshape(prob.n, prob.outputs),
        evaluations=torch.full((prob.n,), steps, dtype=torch.long),
        method="sequence_attributions",
        extras={
            "mode": chosen,
            "fallback": fallback,
            "costs": costs,
            "steps": steps,
            "rule": rule,
            "passes": passes,
            "attribute_to_prefix": attribute_to_prefix,
        },
    )
    hint = (
        "more steps, or a baseline whose embedding norm does not vanish (the default "
        "'mean'; zeros break RMSNorm models)"
    )
    rd = res.relative_delta.reshape(-1)
    view = Attribution(
        attributions=attrs, output=output.reshape(-1), baseline_output=baseline_output,
        delta=delta, relative_delta=rd, evaluations=res.evaluations,
    )  # fmt: skip
    warn_if_incomplete(view, warn_tol, "(counting output tokens) " + hint)
    return res
