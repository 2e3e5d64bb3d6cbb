r"""Differentiable penalties over a batch of attributions (Erion et al. 2021, Methods 3).

Every function takes ``attr``, a batch-first tensor ``(batch, ...features)`` that usually comes
from :func:`pathattr.expected_gradients` with ``create_graph=True``, and returns a scalar that
can be added to a training loss.  Global penalties (Gini, graph) act on the *global* attribution

.. math:: \bar\phi_i = \frac{1}{n} \sum_{\ell=1}^{n} |\phi_i^\ell|,

the mean absolute attribution of feature *i* over the batch (the paper's φ̄).
"""

from __future__ import annotations

import torch

__all__ = [
    "global_attribution",
    "total_variation",
    "gini",
    "sparsity",
    "graph",
    "laplacian",
    "mask",
]


def _check_attr(attr: object, name: str = "attr", min_dim: int = 2) -> torch.Tensor:
    if not isinstance(attr, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor, got {type(attr).__name__}")
    if not attr.is_floating_point():
        raise TypeError(f"{name}: expected a floating-point tensor, got dtype {attr.dtype}")
    if attr.dim() < min_dim:
        raise ValueError(
            f"{name}: expected a batch-first tensor with at least {min_dim} dimensions "
            f"(batch, ...features), got shape {tuple(attr.shape)}"
        )
    if attr.shape[0] == 0:
        raise ValueError(f"{name}: the batch is empty (shape {tuple(attr.shape)})")
    return attr


def global_attribution(attr: torch.Tensor) -> torch.Tensor:
    """φ̄: the mean of ``|attr|`` over the batch, flattened to ``(n_features,)``."""
    attr = _check_attr(attr)
    return attr.abs().mean(0).reshape(-1)


def total_variation(
    attr: torch.Tensor, *, eps: float = 1e-12, reduction: str = "mean"
) -> torch.Tensor:
    r"""Anisotropic total variation of std-normalized attribution maps (the pixel prior).

    For each example ℓ the map is first divided by its standard deviation over all its
    elements, :math:`\tilde\phi^\ell = \phi^\ell / \mathrm{sd}(\phi^\ell)` (population sd,
    clamped below at ``eps``), because otherwise the penalty falls to zero simply by shrinking
    the attributions (the paper's choice).  Then, with ``reduction="mean"`` (default),

    .. math::

        \mathrm{TV} = \frac{1}{n}\sum_\ell \Big(
            \operatorname{mean}_{c,i,j} |\tilde\phi^\ell_{c,i+1,j} - \tilde\phi^\ell_{c,i,j}|
          + \operatorname{mean}_{c,i,j} |\tilde\phi^\ell_{c,i,j+1} - \tilde\phi^\ell_{c,i,j}| \Big)

    so a value does not depend on the image size (a ±1 checkerboard gives 4, a constant or a
    single step edge gives almost 0).  ``reduction="sum"`` sums the differences over pixels
    instead of averaging them, as in the paper's Ω_pixel = Σ_ℓ Σ_{i,j} |Δ_h| + |Δ_v| (still
    averaged over the batch); its λ is therefore about ``2·H·W·C`` times smaller.

    Args:
        attr: ``(batch, C, H, W)`` or ``(batch, H, W)`` attributions.
        eps: lower bound on each map's standard deviation (a constant map has TV 0).
        reduction: ``"mean"`` or ``"sum"`` over the pixel differences of one map.

    Returns:
        A scalar tensor, differentiable w.r.t. ``attr``.
    """
    attr = _check_attr(attr, min_dim=1)
    if attr.dim() not in (3, 4):
        raise ValueError(
            "attr: expected (batch, C, H, W) or (batch, H, W) attribution maps, got shape "
            f"{tuple(attr.shape)}"
        )
    if reduction not in ("mean", "sum"):
        raise ValueError(f"reduction: expected 'mean' or 'sum', got {reduction!r}")
    if attr.shape[-1] < 2 and attr.shape[-2] < 2:
        raise ValueError(f"attr: maps of shape {tuple(attr.shape[-2:])} have no neighbours")
    flat = attr.reshape(attr.shape[0], -1)
    # clamp the variance, not the sd: sqrt has an infinite derivative at 0
    var = flat.var(dim=1, unbiased=False).clamp_min(eps * eps)
    shape = (attr.shape[0],) + (1,) * (attr.dim() - 1)
    norm = attr / var.sqrt().reshape(shape)
    dv = (norm[..., 1:, :] - norm[..., :-1, :]).abs().reshape(attr.shape[0], -1)
    dh = (norm[..., :, 1:] - norm[..., :, :-1]).abs().reshape(attr.shape[0], -1)
    parts = [d for d in (dv, dh) if d.shape[1] > 0]
    if reduction == "mean":
        per_map = sum(d.mean(1) for d in parts)
    else:
        per_map = sum(d.sum(1) for d in parts)
    assert isinstance(per_map, torch.Tensor)
    return per_map.mean()


def gini(attr: torch.Tensor, *, eps: float = 1e-12) -> torch.Tensor:
    r"""Gini coefficient of the global attribution φ̄ (higher = sparser).

    .. math::

        G(\bar\phi) = \frac{\sum_i \sum_j |\bar\phi_i - \bar\phi_j|}{2\, p \sum_i \bar\phi_i}
                    = \frac{\sum_{k=1}^{p} (2k - p - 1)\, \bar\phi_{(k)}}{p \sum_i \bar\phi_i}

    over the p flattened features (φ̄ sorted ascending in the second form, which costs
    O(p log p) instead of O(p²)).  G is 0 when every feature gets the same mean |attribution|,
    (p − 1)/p when a single feature gets all of it, and unchanged when attributions are
    scaled.  An all-zero φ̄ gives 0 (the denominator is clamped at ``eps``).

    This is a quantity to *maximize*; the loss term is :func:`sparsity` = −G.  The paper
    writes the penalty as −2G (Methods 3); the authors' code (``tgini``) uses −G, as here.
    """
    phi = global_attribution(attr)
    p = phi.shape[0]
    if p < 2:
        raise ValueError(f"attr: the Gini coefficient needs at least 2 features, got {p}")
    ranks = torch.arange(1, p + 1, dtype=phi.dtype, device=phi.device)
    sorted_phi = torch.sort(phi).values
    num = ((2 * ranks - p - 1) * sorted_phi).sum()
    return num / (p * phi.sum()).clamp_min(eps)


def sparsity(attr: torch.Tensor, *, eps: float = 1e-12) -> torch.Tensor:
    """The sparsity prior's loss term: ``-gini(attr)`` (minimize it to concentrate φ̄)."""
    return -gini(attr, eps=eps)


def laplacian(
    adjacency: torch.Tensor, n_features: int | None = None, weights: torch.Tensor | None = None
) -> torch.Tensor:
    """Dense graph Laplacian L = D − A of a dense adjacency or an edge list (see :func:`graph`)."""
    src, dst, w, n = _edges(adjacency, n_features, weights)
    lap = torch.zeros(n, n, dtype=w.dtype, device=w.device)
    lap.index_put_((src, dst), -w, accumulate=True)
    lap.index_put_((dst, src), -w, accumulate=True)
    deg = torch.zeros(n, dtype=w.dtype, device=w.device)
    deg.index_add_(0, src, w).index_add_(0, dst, w)
    return lap + torch.diag(deg)


def graph(
    attr: torch.Tensor, adjacency: torch.Tensor, weights: torch.Tensor | None = None
) -> torch.Tensor:
    r"""Graph prior: φ̄ᵀ L φ̄ = Σ over edges {i, j} of W_ij (φ̄_i − φ̄_j)².

    L = D − W is the Laplacian of the (undirected, non-negatively weighted) feature graph, so
    features joined by an edge are pushed towards the same mean |attribution|; the penalty is
    0 exactly when φ̄ is constant on every connected component.  The sum runs over unordered
    pairs (each edge once); the paper's Σ_{i,j} notation means the same quadratic form.

    Args:
        attr: ``(batch, ...features)`` attributions; features are flattened to p = prod(...).
        adjacency: either a dense symmetric ``(p, p)`` float tensor W (self-loops are ignored),
            or an integer edge list of shape ``(2, E)`` (each column one undirected edge; list
            an edge once, or it counts twice).  A ``(p, p)`` tensor is always read as dense.
        weights: optional ``(E,)`` non-negative edge weights for an edge list (default 1).

    Returns:
        A scalar tensor, differentiable w.r.t. ``attr``.
    """
    phi = global_attribution(attr)
    src, dst, w, _ = _edges(adjacency, phi.shape[0], weights)
    return (w.to(phi.dtype) * (phi[src] - phi[dst]).square()).sum()


def _edges(
    adjacency: object, n_features: int | None, weights: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
    """(src, dst, weight, n) of the undirected edges i<j of a dense adjacency or an edge list."""
    if not isinstance(adjacency, torch.Tensor):
        raise TypeError(
            "adjacency: expected a dense (n_features, n_features) tensor or an integer (2, E) "
            f"edge list, got {type(adjacency).__name__}"
        )
    if adjacency.is_sparse:
        adjacency = adjacency.to_dense()
    shape = tuple(adjacency.shape)
    dense = adjacency.dim() == 2 and shape[0] == shape[1] and n_features in (None, shape[0])
    is_edge_list = (
        _is_int(adjacency)
        and adjacency.dim() == 2
        and shape[0] == 2
        and not (n_features is not None and shape == (n_features, n_features))
    )
    if is_edge_list:
        if weights is None:
            w = torch.ones(shape[1], device=adjacency.device)
        else:
            if not isinstance(weights, torch.Tensor) or tuple(weights.shape) != (shape[1],):
                got = tuple(weights.shape) if isinstance(weights, torch.Tensor) else weights
                raise ValueError(f"weights: expected a tensor of shape ({shape[1]},), got {got}")
            w = weights.float() if not weights.is_floating_point() else weights
        if (w < 0).any():
            raise ValueError("weights: edge weights must be non-negative (a Laplacian prior)")
        src, dst = adjacency[0].long(), adjacency[1].long()
        n = n_features if n_features is not None else int(adjacency.max()) + 1 if shape[1] else 0
        if shape[1] and (int(adjacency.min()) < 0 or int(adjacency.max()) >= n):
            raise ValueError(
                f"adjacency: edge list indices must lie in [0, {n}), got "
                f"[{int(adjacency.min())}, {int(adjacency.max())}]"
            )
        return src, dst, w, n
    if weights is not None:
        raise ValueError("weights: only allowed with an integer (2, E) edge list adjacency")
    if not dense:
        want = f"({n_features}, {n_features})" if n_features is not None else "(n, n)"
        raise ValueError(
            f"adjacency: expected a dense {want} tensor (n_features = prod of the attribution's "
            f"feature dims) or an integer (2, E) edge list, got shape {shape} "
            f"(dtype {adjacency.dtype})"
        )
    a = adjacency if adjacency.is_floating_point() else adjacency.double()
    if not torch.allclose(a, a.T):
        raise ValueError("adjacency: a dense adjacency must be symmetric (an undirected graph)")
    if (a < 0).any():
        raise ValueError("adjacency: weights must be non-negative (a Laplacian prior)")
    src, dst = torch.triu_indices(shape[0], shape[0], offset=1, device=a.device)
    w = a[src, dst]
    keep = w != 0
    return src[keep], dst[keep], w[keep], shape[0]


def _is_int(t: torch.Tensor) -> bool:
    return not t.is_floating_point() and not t.is_complex() and t.dtype != torch.bool


def mask(attr: torch.Tensor, mask: torch.Tensor, *, squared: bool = False) -> torch.Tensor:
    """Penalty on attributions to features declared irrelevant ("right for the right reasons").

    Returns the mean of ``|attr|`` (or ``attr²`` with ``squared=True``, Ross et al.'s choice)
    over the entries where ``mask`` is True, and 0 when nothing is masked.

    Args:
        attr: ``(batch, ...features)`` attributions.
        mask: a bool tensor of shape ``attr.shape[1:]`` (one mask for all examples) or
            ``attr.shape`` (one per example); True marks a feature that should not matter.
        squared: penalize squared attributions instead of absolute values.
    """
    attr = _check_attr(attr)
    if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
        got = mask.dtype if isinstance(mask, torch.Tensor) else type(mask).__name__
        raise TypeError(f"mask: expected a bool tensor (True = irrelevant feature), got {got}")
    if tuple(mask.shape) not in (tuple(attr.shape), tuple(attr.shape[1:])):
        raise ValueError(
            f"mask: expected shape {tuple(attr.shape[1:])} (per feature) or "
            f"{tuple(attr.shape)} (per example), got {tuple(mask.shape)}"
        )
    m = mask.to(attr.device).expand_as(attr)
    vals = attr.square() if squared else attr.abs()
    count = m.sum()
    if int(count) == 0:
        return (vals * 0).sum()
    return vals[m].sum() / count
