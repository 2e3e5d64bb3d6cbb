"""Adding an attribution prior λ·Ω(Φ(θ, x)) to a plain PyTorch training loop.

The attributions are computed with ``create_graph=True`` so that the penalty can be
back-propagated into the model parameters (double backpropagation).  With the paper's cheap
training mode — Expected Gradients with one (reference, α) sample per example, the reference
being another example of the same batch — one prior step costs about one extra
forward/backward/backward on the batch.

**Small batches with** ``references="batch"``.  In-batch references need another example: a
batch of one (the last batch of an epoch without ``drop_last``) has none.  Calling the prior
(``prior(model, x)``, :meth:`AttributionPrior.penalty_value`) then skips the penalty for that
batch with a :class:`PriorBatchWarning` and returns a zero that can still be added to the loss
and back-propagated (a leaf that requires grad: ``(task + 0).backward()`` and even
``prior(model, x).backward()`` work, and no parameter gets a gradient from it).  Asking for the
attributions themselves (:meth:`AttributionPrior.attributions`) raises instead: there are none
to give.  A batch of ``n >= 2`` rows with ``samples >= n`` (Expected Gradients draws ``samples``
*other* rows per example) uses ``samples = n - 1`` for that batch, with the same warning.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any, Union

import torch

from pathattr.engine.targets import TargetLike, make_selector
from pathattr.result import CompletenessWarning, ConvergenceWarning

__all__ = ["AttributionPrior", "PriorBatchWarning", "prior_loss"]

Penalty = Callable[[torch.Tensor], torch.Tensor]
AttributeFn = Callable[[Any, torch.Tensor, TargetLike], torch.Tensor]
ReferencesLike = Union[str, torch.Tensor, None]

_METHODS = ("expected_gradients", "integrated_gradients", "gradients")


class PriorBatchWarning(UserWarning):
    """A batch too small for ``references="batch"``: the prior was skipped or used fewer samples."""


class AttributionPrior:
    """A differentiable attribution penalty ``weight · penalty(Φ(model, x))`` for training.

    Example::

        prior = AttributionPrior(priors.sparsity, weight=0.1)   # EG, k=1, in-batch references
        for x, y in loader:
            loss = F.cross_entropy(model(x), y) + prior(model, x, y)
            opt.zero_grad(); loss.backward(); opt.step()

    Only the attributions are computed: Expected Gradients runs with ``diagnostics=False`` (no
    F(x), base value, completeness residual or standard error, no pass over the reference set)
    and ``batch_size=None`` (see the comment in ``_attribute``).

    Args:
        penalty: maps an attribution batch ``(batch, ...features)`` to a scalar, e.g.
            :func:`~pathattr.priors.total_variation`, :func:`~pathattr.priors.sparsity`, or
            ``functools.partial(priors.graph, adjacency=A)``.
        weight: λ, the factor in front of the penalty.
        method: ``"expected_gradients"`` (default, the paper's choice),
            ``"integrated_gradients"`` (straight line to ``references``, ``samples`` nodes),
            ``"gradients"`` (the plain input gradient ∂F/∂x, the paper's "gradient prior"
            baselines), or a callable ``(model, x, target) -> attributions`` that must keep
            the graph.
        references: for Expected Gradients, ``"batch"`` (references drawn among the other
            examples of the current batch, no extra data loading) or a tensor of reference
            rows (e.g. the training set); for Integrated Gradients, ``"batch"``, None (zeros)
            or a baseline tensor.
        samples: (reference, α) samples per example for EG (k; 1 suffices in training), or
            quadrature nodes for IG.
        eval_mode: compute the attributions with the model in eval mode (dropout off, batch
            norm on running statistics), as the paper does, then restore the previous mode.
        seed: seeds the stream of EG draws: every call draws fresh (reference, α) samples,
            from a private generator seeded once with ``seed``, or from the global torch RNG
            when None (so ``torch.manual_seed`` makes a training run reproducible).

    With ``references="batch"`` a batch of one example has no reference: calling the prior
    skips it (zero penalty, :class:`PriorBatchWarning`); see the module docstring.
    """

    def __init__(
        self,
        penalty: Penalty,
        weight: float = 1.0,
        *,
        method: str | AttributeFn = "expected_gradients",
        references: ReferencesLike = "batch",
        samples: int = 1,
        eval_mode: bool = True,
        seed: int | None = None,
    ) -> None:
        if not callable(penalty):
            raise TypeError(f"penalty: expected a callable attr -> scalar, got {penalty!r}")
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or weight < 0:
            raise ValueError(f"weight: expected a number >= 0, got {weight!r}")
        if isinstance(method, str) and method not in _METHODS:
            raise ValueError(f"method: expected one of {_METHODS} or a callable, got {method!r}")
        if not callable(method) and not isinstance(method, str):
            raise TypeError(f"method: expected a name or a callable, got {type(method).__name__}")
        if isinstance(references, str) and references != "batch":
            raise ValueError(f"references: expected 'batch', None or a tensor, got {references!r}")
        if method == "expected_gradients" and references is None:
            raise ValueError(
                "references: Expected Gradients needs references ('batch' or a tensor of rows), "
                "got None"
            )
        if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
            raise ValueError(f"samples: expected an int >= 1, got {samples!r}")
        self.penalty = penalty
        self.weight = float(weight)
        self.method = method
        self.references = references
        self.samples = samples
        self.eval_mode = eval_mode
        self.seed = seed
        self._gen = None if seed is None else torch.Generator().manual_seed(seed)

    def attributions(self, model: Any, x: torch.Tensor, target: TargetLike = None) -> torch.Tensor:
        """Differentiable attributions of ``model`` at the batch ``x`` (same shape as ``x``).

        Raises a ValueError for a batch of one example with ``references="batch"`` (it has no
        reference); use the prior itself in a training loop, which skips such a batch.
        """
        if self._no_reference(x):
            raise ValueError(
                f"x: references='batch' takes the references from the other examples of the "
                f"batch, so it needs at least 2 examples, got a batch of {x.shape[0]}"
            )
        return self._attributions(model, x, target, self._samples_for(x))

    def _attributions(
        self, model: Any, x: torch.Tensor, target: TargetLike, samples: int
    ) -> torch.Tensor:
        was_training = isinstance(model, torch.nn.Module) and model.training
        if self.eval_mode and was_training:
            model.eval()
        try:
            with warnings.catch_warnings():
                # k = 1 attributions are deliberately rough; their completeness is not the point
                warnings.simplefilter("ignore", CompletenessWarning)
                warnings.simplefilter("ignore", ConvergenceWarning)
                attr = self._attribute(model, x, target, samples)
        finally:
            if self.eval_mode and was_training:
                model.train()
        return attr

    def penalty_value(self, model: Any, x: torch.Tensor, target: TargetLike = None) -> torch.Tensor:
        """``penalty(attributions)`` without the weight (0 for a skipped batch, see the class)."""
        if self._no_reference(x):
            return self._skipped(x)
        return self.penalty(self._attributions(model, x, target, self._samples_for(x)))

    def __call__(self, model: Any, x: torch.Tensor, target: TargetLike = None) -> torch.Tensor:
        """``weight · penalty(attributions)``: add it to the task loss before ``backward()``."""
        if self.weight == 0:
            return torch.zeros((), dtype=x.dtype, device=x.device)
        if self._no_reference(x):
            return self._skipped(x)
        return self.weight * self.penalty(
            self._attributions(model, x, target, self._samples_for(x))
        )

    def _batch_references(self) -> bool:
        return self.method in ("expected_gradients", "integrated_gradients") and isinstance(
            self.references, str
        )

    def _no_reference(self, x: torch.Tensor) -> bool:
        """A batch of one with in-batch references: it has no other example to refer to."""
        return self._batch_references() and x.shape[0] < 2

    def _skipped(self, x: torch.Tensor) -> torch.Tensor:
        # stacklevel 3: __call__ / penalty_value's caller, i.e. the training step
        warnings.warn(
            f"AttributionPrior: a batch of {x.shape[0]} example has no reference for "
            "references='batch'; the prior is skipped for this batch (penalty 0). Use "
            "drop_last=True in the DataLoader, or a tensor of references, to avoid it",
            PriorBatchWarning,
            stacklevel=3,
        )
        # a leaf that requires grad: adding it to the loss (or calling backward() on it alone)
        # works as with a real penalty, and it sends no gradient to any parameter
        return torch.zeros((), dtype=x.dtype, device=x.device, requires_grad=True)

    def _samples_for(self, x: torch.Tensor) -> int:
        """``samples``, or ``n - 1`` when EG's in-batch references cannot supply that many."""
        n = x.shape[0]
        if self.method == "expected_gradients" and self._batch_references() and self.samples >= n:
            warnings.warn(
                f"AttributionPrior: samples={self.samples} in-batch references per example "
                f"need a batch of more than {self.samples} examples, got {n}; this batch uses "
                f"samples={n - 1}",
                PriorBatchWarning,
                stacklevel=3,
            )
            return n - 1
        return self.samples

    def _next_seed(self) -> int:
        return int(torch.randint(0, 2**62, (1,), generator=self._gen))

    def _attribute(
        self, model: Any, x: torch.Tensor, target: TargetLike, samples: int
    ) -> torch.Tensor:
        if callable(self.method):
            return self.method(model, x, target)
        if self.method == "gradients":
            return input_gradients(model, x, target)
        if self.method == "integrated_gradients":
            from pathattr.methods.integrated_gradients import integrated_gradients

            base = _shifted(x) if isinstance(self.references, str) else self.references
            # batch_size=None for the same reason as for Expected Gradients below
            res = integrated_gradients(
                model, x, baselines=base, target=target, steps=samples, create_graph=True,
                batch_size=None, warn_tol=float("inf"),
            )  # fmt: skip
            return _single(res.attributions)
        from pathattr.methods.expected_gradients import expected_gradients

        assert self.references is not None
        # batch_size=None: all N·k rows in one model call.  With create_graph=True every chunk's
        # graph is kept until the loss's backward() (the penalty depends on all of them), so
        # smaller chunks would not lower the peak memory, only add model calls; and "auto"
        # sizes chunks as if each chunk's saved tensors were freed before the next one runs
        # (besides a probe of the model and a free-memory query).  Bound the memory with the
        # batch size of the training loader or with `samples` instead.
        # diagnostics=False: only the attributions enter the loss; the base value, F(x), the
        # completeness residual, the standard error and (for a tensor of references) a forward
        # pass over the whole reference set would be computed and thrown away at every step.
        res = expected_gradients(
            model, x, references=self.references, target=target, samples=samples,
            seed=self._next_seed(), batch_size=None, create_graph=True, diagnostics=False,
        )  # fmt: skip
        return _single(res.attributions)


def prior_loss(
    model: Any,
    x: torch.Tensor,
    target: TargetLike = None,
    *,
    penalty: Penalty,
    weight: float | None = None,
    method: str | AttributeFn = "expected_gradients",
    references: ReferencesLike = "batch",
    samples: int = 1,
    seed: int | None = None,
    lam: float | None = None,
) -> torch.Tensor:
    """Functional form of :class:`AttributionPrior`: ``weight · penalty(EG(model, x))``.

    Builds a new :class:`AttributionPrior` per call, so a fixed ``seed`` repeats the same draws
    at every call; in a loop keep one :class:`AttributionPrior` instead.

    Args:
        model, x, target: the network, the batch and the attribution target.
        penalty, weight, method, references, samples, seed: as for :class:`AttributionPrior`
            (``weight`` defaults to 1).
        lam: deprecated name of ``weight`` (a DeprecationWarning; passing both is an error).
    """
    if lam is not None:
        if weight is not None:
            raise TypeError(
                f"prior_loss: got both weight={weight!r} and its deprecated name lam={lam!r}; "
                "pass weight only"
            )
        warnings.warn(
            "prior_loss: lam= is deprecated, pass weight= (as for AttributionPrior)",
            DeprecationWarning,
            stacklevel=2,
        )
        weight = lam
    prior = AttributionPrior(
        penalty,
        1.0 if weight is None else weight,
        method=method,
        references=references,
        samples=samples,
        seed=seed,
    )
    return prior(model, x, target)


def input_gradients(model: Any, x: torch.Tensor, target: TargetLike = None) -> torch.Tensor:
    """∂F_target/∂x with ``create_graph=True`` (the "gradient prior" attribution)."""
    xg = x.detach().requires_grad_(True)
    selector = make_selector(target, x.shape[0])
    out = selector(model(xg), torch.arange(x.shape[0], device=x.device))
    (grad,) = torch.autograd.grad(out.sum(), xg, create_graph=True)
    return grad


def _shifted(x: torch.Tensor) -> torch.Tensor:
    """The batch shifted by one row: every example's reference is its neighbour."""
    return torch.roll(x.detach(), 1, 0)


def _single(attributions: Any) -> torch.Tensor:
    if isinstance(attributions, (tuple, list)):
        if len(attributions) != 1:
            raise ValueError("AttributionPrior supports single-input models only")
        return attributions[0]
    return attributions
