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
  g ≈ √(2 (L + T/2)) output tokens t₀ ≤ t < t₁ (:func:`reverse_group`) shares one forward of
  the sequence cut after position L + t₁ − 2, the last it reads, and its g VJPs run from that
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
and the whole sequence (cached per model and shape in :data:`COST_CACHE`; about 2 + c forward
passes, c the JVP/VJP cost ratio) and picks the smaller prediction: reverse = chunks ×
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

import math
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from pathattr.quadrature.rules import RULES, quadrature
from pathattr.result import Attribution, completeness, warn_if_incomplete

MODES = ("auto", "reverse", "forward")

#: ``batch_size="auto"``: the share of free memory a pass may keep, and a cap in bytes
MEMORY_FRACTION = 0.25
MAX_AUTO_BYTES = 2 * 2**30
_ROW_BYTES: dict[tuple[Any, ...], int] = {}

#: measured pass times, keyed by (id(model), device, dtype, rows per chunk, group width,
#: sequence length, sources): ``{"forward": s, "vjp": s, "jvp": s}`` (jvp None: unsupported)
COST_CACHE: dict[tuple[Any, ...], dict[str, float | None]] = {}


class ForwardModeUnsupported(RuntimeError):
    """An operation of the model has no forward-mode (JVP) derivative."""


@dataclass
class _Problem:
    """The validated call: embeddings, targets and the path's geometry."""

    model: nn.Module
    inputs: torch.Tensor  # (N, S, d): source embeddings then the real prefix embeddings
    diffs: torch.Tensor  # (N, P, d): e − e' on the P moving positions
    targets: torch.Tensor  # (N, T) token ids
    n: int
    length: int  # L
    sources: int  # P: moving positions (L, or L + T − 1 with the prefix)
    outputs: int  # T

    def points(self, rows: torch.Tensor, alphas: torch.Tensor) -> torch.Tensor:
        """Model inputs at path positions ``alphas`` of examples ``rows``: (len(rows), S, d)."""
        x = self.inputs.index_select(0, rows)
        d = self.diffs.index_select(0, rows)
        a = alphas.to(x.dtype).reshape(-1, 1, 1)
        moving = x[:, : self.sources] - (1 - a) * d  # e' + α (e − e')
        return torch.cat([moving, x[:, self.sources :]], dim=1)

    def log_probs(
        self, embeds: torch.Tensor, rows: torch.Tensor, group: slice | None = None
    ) -> torch.Tensor:
        """log p(y_t | y_<t, x) at ``embeds`` for t in ``group`` (all): (len(rows), |group|).

        ``embeds`` may be cut after the last position the group reads (L + group.stop − 1).
        """
        group = slice(0, self.outputs) if group is None else group
        keep = group.stop - group.start
        logits = _logits(self.model, embeds, keep)
        lp = torch.log_softmax(logits.float(), dim=-1).to(embeds.dtype)
        targets = self.targets[:, group].index_select(0, rows)
        return lp.gather(-1, targets.unsqueeze(-1)).squeeze(-1)

    def cut(self, group: slice) -> int:
        """Sequence length output tokens ``group`` read: positions < L + group.stop − 1."""
        return self.length + group.stop - 1


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
            as many rows as fit :data:`MEMORY_FRACTION` of the free memory (at most
            :data:`MAX_AUTO_BYTES`), from the bytes autograd keeps for one row of the whole
            sequence, measured once per model and shape.
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
    prob = _prepare(model, input_ids, output_ids, baselines, attribute_to_prefix)
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
                chosen, costs = _choose(prob, rows, alphas, per_chunk, width)
                if costs is not None and costs.get("jvp") is None and chosen == "reverse":
                    fallback = str(costs.get("reason", "forward mode unsupported"))
            attrs = None
            if chosen == "forward":
                try:
                    attrs, passes = _run_forward(prob, rows, alphas, weights, per_chunk, width)
                except ForwardModeUnsupported as err:
                    fallback = str(err)
                    warnings.warn(
                        f"mode: forward mode is not supported by this model ({err}); "
                        "ran reverse mode instead",
                        stacklevel=2,
                    )
                    chosen = "reverse"
            if attrs is None:
                attrs, passes = _run_reverse(prob, rows, alphas, weights, per_chunk, width)
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


# --------------------------------------------------------------------------- preparation


def _prepare(
    model: Any,
    input_ids: Any,
    output_ids: Any,
    baselines: Any,
    attribute_to_prefix: Any,
) -> _Problem:
    if not isinstance(model, nn.Module) or not hasattr(model, "get_input_embeddings"):
        raise TypeError(
            "model: expected a causal LM nn.Module with get_input_embeddings() (a 🤗 "
            f"*ForCausalLM), got {type(model).__name__}"
        )
    emb: nn.Module = model.get_input_embeddings()  # type: ignore[operator]
    weight = getattr(emb, "weight", None)
    if not isinstance(emb, nn.Module) or not isinstance(weight, torch.Tensor):
        raise TypeError("model: get_input_embeddings() must return an embedding module")
    ids = _as_ids("input_ids", input_ids)
    out = _as_ids("output_ids", output_ids)
    if ids.shape[0] != out.shape[0]:
        if ids.shape[0] == 1:
            ids = ids.expand(out.shape[0], -1)
        elif out.shape[0] == 1:
            out = out.expand(ids.shape[0], -1)
        else:
            raise ValueError(
                f"output_ids: {out.shape[0]} examples, but input_ids has {ids.shape[0]}"
            )
    vocab = int(weight.shape[0])
    for name, t in (("input_ids", ids), ("output_ids", out)):
        if t.numel() and (int(t.min()) < 0 or int(t.max()) >= vocab):
            raise ValueError(
                f"{name}: token ids must lie in [0, {vocab}) (the embedding's vocabulary), "
                f"got [{int(t.min())}, {int(t.max())}]"
            )
    if ids.shape[1] == 0:
        raise ValueError("input_ids: the prompt is empty (L = 0); there is nothing to attribute to")
    if out.shape[1] == 0:
        raise ValueError("output_ids: the output is empty (T = 0); there is nothing to attribute")
    if not isinstance(attribute_to_prefix, bool):
        raise TypeError(f"attribute_to_prefix: expected a bool, got {attribute_to_prefix!r}")
    if ids.shape[0] == 0:
        raise ValueError("input_ids: 0 examples")
    dev = weight.device
    ids, out = ids.to(dev), out.to(dev)
    seq = torch.cat([ids, out[:, :-1]], dim=1)  # y_T is never an input
    with torch.no_grad():
        x = emb(seq).detach()
    if not x.dtype.is_floating_point:
        raise TypeError("model: the input embeddings are not floating point")
    n, length, t_out = ids.shape[0], ids.shape[1], out.shape[1]
    sources = length + (t_out - 1 if attribute_to_prefix else 0)
    base = _baseline_embeddings(baselines, emb, x, sources)
    diffs = x[:, :sources] - base
    if not bool(torch.isfinite(diffs).all()):
        raise ValueError("baselines: e − e' is not finite (non-finite baseline embeddings)")
    return _Problem(model, x, diffs, out, n, length, sources, t_out)


def _as_ids(name: str, value: Any) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise TypeError(
            f"{name}: expected an integer tensor of token ids, got {type(value).__name__}"
        )
    if value.dtype.is_floating_point or value.dtype.is_complex or value.dtype == torch.bool:
        raise TypeError(f"{name}: expected integer token ids, got dtype {value.dtype}")
    if value.dim() == 1:
        value = value.unsqueeze(0)
    if value.dim() != 2:
        raise ValueError(
            f"{name}: expected shape (length,) or (examples, length), got {tuple(value.shape)}"
        )
    return value.long()


def _baseline_embeddings(
    baselines: Any, emb: nn.Module, x: torch.Tensor, sources: int
) -> torch.Tensor:
    """e' for the ``sources`` moving positions, (N, P, d)."""
    n, _, d = x.shape
    weight = emb.weight
    assert isinstance(weight, torch.Tensor)
    if baselines is None or (isinstance(baselines, str) and baselines == "mean"):
        with torch.no_grad():
            base = weight.detach().to(x.dtype).mean(0)
        return base.expand(n, sources, d)
    if isinstance(baselines, str):
        if baselines == "zero":
            return torch.zeros(n, sources, d, dtype=x.dtype, device=x.device)
        raise ValueError(
            f"baselines: expected 'mean', 'zero', a token id or a tensor, got {baselines!r}"
        )
    if isinstance(baselines, bool):
        raise TypeError("baselines: expected 'mean', 'zero', a token id or a tensor, got a bool")
    if isinstance(baselines, int):
        baselines = torch.full((sources,), baselines, dtype=torch.long)
    if isinstance(baselines, float):
        if baselines != 0.0:
            raise ValueError(
                f"baselines: a float means the zero embedding (0.0); got {baselines} (use a "
                "tensor of embeddings for other values)"
            )
        return torch.zeros(n, sources, d, dtype=x.dtype, device=x.device)
    if not isinstance(baselines, torch.Tensor):
        raise TypeError(
            "baselines: expected 'mean', 'zero', a token id or a tensor, got "
            f"{type(baselines).__name__}"
        )
    b = baselines.to(x.device)
    if not b.dtype.is_floating_point:
        vocab = int(weight.shape[0])
        if b.numel() and (int(b.min()) < 0 or int(b.max()) >= vocab):
            raise ValueError(f"baselines: token ids must lie in [0, {vocab})")
        if b.dim() not in (1, 2) or b.shape[-1] != sources:
            raise ValueError(
                f"baselines: token ids of shape ({sources},) or (N, {sources}) expected (one per "
                f"moving position), got {tuple(b.shape)}"
            )
        with torch.no_grad():
            e = emb(b.long()).detach().to(x.dtype)
        return e.expand(n, sources, d) if e.dim() == 2 else e
    if b.shape[-1] != d or b.dim() > 3:
        raise ValueError(
            f"baselines: embeddings of shape ({d},), ({sources}, {d}) or (N, {sources}, {d}) "
            f"expected, got {tuple(b.shape)}"
        )
    try:
        return b.detach().to(x.dtype).expand(n, sources, d)
    except RuntimeError:
        raise ValueError(
            f"baselines: embeddings of shape ({d},), ({sources}, {d}) or ({n}, {sources}, {d}) "
            f"expected, got {tuple(b.shape)}"
        ) from None


def _logits(model: nn.Module, embeds: torch.Tensor, keep: int) -> torch.Tensor:
    out = model(inputs_embeds=embeds, use_cache=False, logits_to_keep=keep)
    logits = out.logits if hasattr(out, "logits") else out
    if not isinstance(logits, torch.Tensor):
        raise TypeError("model: expected logits (a tensor or an output with .logits)")
    return logits[:, -keep:]


# --------------------------------------------------------------------------- the two modes


def _chunks(total: int, size: int) -> Iterator[slice]:
    for start in range(0, total, size):
        yield slice(start, min(total, start + size))


def reverse_group(prob: _Problem) -> int:
    """Output tokens sharing one forward in reverse mode: ⌈√(2 (L + T/2))⌉, at most T.

    A group's forward is shared by its g tokens, but each of their backward passes runs on
    the group's longest cut, (g − 1)/2 positions longer than its own on average; with a
    backward pass per position about as dear as a forward one, g·T/2 wasted positions against
    (T/g)·(L + T/2) forward positions balance at g = √(2 (L + T/2)).
    """
    return max(1, min(prob.outputs, math.ceil(math.sqrt(2 * (prob.length + prob.outputs / 2)))))


def _run_reverse(
    prob: _Problem,
    rows: torch.Tensor,
    alphas: torch.Tensor,
    weights: torch.Tensor,
    per_chunk: int,
    width: int,
) -> tuple[torch.Tensor, int]:
    """One VJP per output token; a group of tokens shares one forward of its cut sequence.

    A group of output tokens t0 ≤ t < t1 reads positions < L + t1 − 1 only (the causal mask),
    so its forward runs on the sequence cut there: one forward per group instead of one per
    token (Captum), and no backward through positions no token of the group reads.  The VJPs
    of a group run one after the other from the retained graph: batched through
    ``is_grads_batched`` (``vmap`` over the backward) they were measured 1.4x slower on the
    CPU (benchmarks/results/sequence_attr.md).  ``width`` is unused: memory is that of one
    forward of ``per_chunk`` rows.
    """
    del width
    attrs = torch.zeros(prob.n, prob.outputs, prob.sources, dtype=prob.inputs.dtype,
                        device=prob.inputs.device)  # fmt: skip
    passes = 0
    size = reverse_group(prob)
    for sl in _chunks(int(rows.shape[0]), per_chunk):
        r, a, w = rows[sl], alphas[sl], weights[sl]
        with torch.no_grad():
            full = prob.points(r, a)
        d = prob.diffs.index_select(0, r)  # (a, P, d)
        for group in _chunks(prob.outputs, size):
            cut = prob.cut(group)
            pts = full[:, :cut].clone().requires_grad_(True)
            lp = prob.log_probs(pts, r, group)  # (a, g)
            g = group.stop - group.start
            p = min(prob.sources, cut)
            for j in range(g):
                (grad,) = torch.autograd.grad(lp[:, j], pts, w.to(lp.dtype), retain_graph=j < g - 1)
                passes += 1
                contrib = (grad[:, :p] * d[:, :p]).sum(-1)  # (a, p)
                attrs[:, group.start + j, :p].index_add_(0, r, contrib.detach())
    return attrs, passes


def _run_forward(
    prob: _Problem,
    rows: torch.Tensor,
    alphas: torch.Tensor,
    weights: torch.Tensor,
    per_chunk: int,
    width: int,
) -> tuple[torch.Tensor, int]:
    """P batched JVPs per chunk of path points (the primal shared under ``vmap``)."""
    attrs = torch.zeros(prob.n, prob.outputs, prob.sources, dtype=prob.inputs.dtype,
                        device=prob.inputs.device)  # fmt: skip
    passes = 0
    for sl in _chunks(int(rows.shape[0]), per_chunk):
        r, a, w = rows[sl], alphas[sl], weights[sl]
        with torch.no_grad():
            pts = prob.points(r, a)
        d = prob.diffs.index_select(0, r)
        for group in _chunks(prob.sources, width):
            tangents = _tangents(pts, d, group)
            col = _jvp(prob, pts, r, tangents)  # (g, a, T)
            passes += 1
            col = col * w.to(col.dtype).reshape(1, -1, 1)
            attrs[:, :, group].index_add_(0, r, col.permute(1, 2, 0).detach())
    return attrs, passes


def _tangents(pts: torch.Tensor, diffs: torch.Tensor, group: slice) -> torch.Tensor:
    g = group.stop - group.start
    t = torch.zeros((g,) + tuple(pts.shape), dtype=pts.dtype, device=pts.device)
    idx = torch.arange(g, device=pts.device)
    t[idx, :, group.start + idx] = diffs[:, group].transpose(0, 1)
    return t


def _jvp(
    prob: _Problem, pts: torch.Tensor, rows: torch.Tensor, tangents: torch.Tensor
) -> torch.Tensor:
    from torch.func import jvp, vmap

    def f(e: torch.Tensor) -> torch.Tensor:
        return prob.log_probs(e, rows)

    def one(t: torch.Tensor) -> torch.Tensor:
        return jvp(f, (pts,), (t,))[1]

    try:
        with torch.no_grad():
            return vmap(one)(tangents)
    except (NotImplementedError, RuntimeError) as err:
        msg = str(err)
        if "forward AD" in msg or "forward-mode" in msg or "jvp" in msg.lower():
            if _eager_attention_available(prob.model):
                with _eager_attention(prob.model):
                    try:
                        with torch.no_grad():
                            return vmap(one)(tangents)
                    except (NotImplementedError, RuntimeError) as err2:
                        raise ForwardModeUnsupported(str(err2).splitlines()[0]) from err2
            raise ForwardModeUnsupported(msg.splitlines()[0]) from err
        raise


def _eager_attention_available(model: nn.Module) -> bool:
    cfg = getattr(model, "config", None)
    impl = getattr(cfg, "_attn_implementation", None)
    return impl not in (None, "eager") and hasattr(model, "set_attn_implementation")


class _eager_attention:
    """Switch a 🤗 model to eager attention for the block, and back."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.before = getattr(model.config, "_attn_implementation", None)

    def __enter__(self) -> None:
        warnings.warn(
            f"mode: attention {self.before!r} has no forward-mode derivative; forward mode "
            "runs with eager attention",
            stacklevel=4,
        )
        self.model.set_attn_implementation("eager")  # type: ignore[operator]

    def __exit__(self, *exc: Any) -> None:
        self.model.set_attn_implementation(self.before)  # type: ignore[operator]


# --------------------------------------------------------------------------- the cost model


def _choose(
    prob: _Problem,
    rows: torch.Tensor,
    alphas: torch.Tensor,
    per_chunk: int,
    width: int,
) -> tuple[str, dict[str, Any] | None]:
    """``mode="auto"``: reverse when T ≤ P, else the mode measured cheaper."""
    if prob.outputs <= prob.sources:
        return "reverse", None
    costs = dict(measure_costs(prob, rows[:per_chunk], alphas[:per_chunk], width))
    chunks = math.ceil(int(rows.shape[0]) / per_chunk)
    # reverse mode runs each group of output tokens on the sequence cut after the last
    # position it reads; its forward and VJPs are taken as linear in that length
    full = int(prob.inputs.shape[1])
    fwd, vjp = float(costs["forward"]), float(costs["vjp"])
    predicted_rev = chunks * sum(
        (fwd + vjp * (grp.stop - grp.start)) * prob.cut(grp) / full
        for grp in _chunks(prob.outputs, reverse_group(prob))
    )
    costs["predicted_reverse"] = predicted_rev
    if costs.get("jvp") is None:
        return "reverse", costs
    # a JVP pass of g tangents: the primal plus g tangents, each priced by the one measured
    tangent = max(float(costs["jvp"]) - fwd, 0.0)
    predicted_fwd = chunks * sum(
        fwd + tangent * (grp.stop - grp.start) for grp in _chunks(prob.sources, width)
    )
    costs["predicted_forward"] = predicted_fwd
    return ("forward" if predicted_fwd < predicted_rev else "reverse"), costs


def auto_rows(prob: _Problem) -> int:
    """Rows per pass for ``batch_size="auto"`` (see :func:`sequence_attributions`).

    The bytes autograd saves for one row of the whole sequence are measured with
    ``saved_tensors_hooks`` on probes of one and two rows (the difference drops what does not
    grow with rows, such as weights); a JVP tangent row is taken to cost as much.
    """
    from pathattr.engine.memory import available_bytes

    dev = prob.inputs.device
    key = (id(prob.model), str(dev), prob.inputs.dtype, tuple(prob.inputs.shape[1:]),
           prob.outputs)  # fmt: skip
    if key not in _ROW_BYTES:
        sizes = []
        for k in (1, 2):
            rows = torch.zeros(k, dtype=torch.long, device=dev)
            pts = prob.points(rows, torch.full((k,), 0.5, device=dev)).requires_grad_(True)
            seen: dict[tuple[int, int], int] = {}

            def pack(t: torch.Tensor, seen: dict[tuple[int, int], int] = seen) -> torch.Tensor:
                # views of one buffer saved by several operations are counted once
                seen[(t.data_ptr(), t.numel())] = t.numel() * t.element_size()
                return t

            with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
                prob.log_probs(pts, rows)
            sizes.append(sum(seen.values()))
        _ROW_BYTES[key] = max(1, sizes[1] - sizes[0], sizes[0] // 2)
    budget = min(MEMORY_FRACTION * available_bytes(dev), MAX_AUTO_BYTES)
    return max(1, int(budget // _ROW_BYTES[key]))


def _clock(device: torch.device) -> float:
    """Seconds for timing a pass: process CPU time on the CPU (robust to other processes on a
    shared machine; the passes run on the calling thread's pool), wall time after a
    synchronise on an accelerator."""
    if device.type == "cpu":
        return time.process_time()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()


def measure_costs(
    prob: _Problem, rows: torch.Tensor, alphas: torch.Tensor, width: int
) -> dict[str, Any]:
    """Seconds of one forward, one VJP and one JVP (one tangent, primal included) (cached).

    Measured on the given chunk of path points and the whole sequence, once per
    (model, device, dtype, chunk, width, sequence length, moving positions); ``"jvp"`` is None
    (with a ``"reason"``) where the model has no forward-mode derivative.
    """
    key = (id(prob.model), str(prob.inputs.device), prob.inputs.dtype, int(rows.shape[0]),
           width, int(prob.inputs.shape[1]), prob.sources, prob.outputs)  # fmt: skip
    if key in COST_CACHE:
        return COST_CACHE[key]
    dev = prob.inputs.device
    pts = prob.points(rows, alphas).detach().requires_grad_(True)
    t0 = _clock(dev)
    lp = prob.log_probs(pts, rows, slice(prob.outputs - 1, prob.outputs))
    t1 = _clock(dev)
    torch.autograd.grad(lp[:, 0].sum(), pts)
    t2 = _clock(dev)
    out: dict[str, Any] = {"forward": t1 - t0, "vjp": t2 - t1}
    d = prob.diffs.index_select(0, rows)
    try:
        t3 = _clock(dev)
        _jvp(prob, pts.detach(), rows, _tangents(pts.detach(), d, slice(0, 1)))
        out["jvp"] = _clock(dev) - t3
    except ForwardModeUnsupported as err:
        out["jvp"] = None
        out["reason"] = str(err)
    COST_CACHE[key] = out
    return out
