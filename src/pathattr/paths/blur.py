r"""The blur path of Blur IG (Xu et al. 2020): γ(α) = G_{σ(α)} * x, σ(α) = σ_max (1 − α).

At α = 1 the path is the image itself (σ = 0), at α = 0 the image blurred with σ_max: the
"baseline" is that blurred image, so no baseline is chosen.  γ'(α) = −σ_max ∂(G_σ * x)/∂σ.

The blur is SciPy's ``ndimage.gaussian_filter`` (what PAIR's ``saliency`` package calls) over the
two last axes, with its kernel: taps ``exp(−t²/2σ²)`` for |t| ≤ ``int(4σ + 0.5)``, normalised to
sum 1, and ``mode="constant"`` (zeros outside the image, as PAIR passes).  It is written as two
banded matrices per row, ``M_H(σ) · x · M_W(σ)ᵀ``: one batched matmul handles a different σ per
row exactly (no FFT, no approximation), in float64, and stays differentiable.

∂/∂σ is PAIR's forward difference ``(G_{σ+h} * x − G_σ * x) / h`` with ``h = grad_step``, or,
with ``grad_step=None``, the exact derivative of the (truncated, normalised) kernel,
``∂k_t/∂σ = k_t (t² − Σ_s k_s s²) / σ³``, by the product rule on the two matrices.
"""

from __future__ import annotations

import torch

#: SciPy's default kernel half-width in standard deviations
TRUNCATE = 4.0


def _work_dtype(device: torch.device) -> torch.dtype:
    # float64 everywhere it exists: the forward difference divides by grad_step (0.01) and would
    # lose two more digits in float32
    return torch.float32 if device.type == "mps" else torch.float64


def blur_matrices(size: int, sigmas: torch.Tensor, *, derivative: bool = False) -> torch.Tensor:
    """``(len(sigmas), size, size)`` matrices M with ``M @ v`` = SciPy's 1-D Gaussian filter of v.

    ``mode="constant"`` (zeros outside), ``truncate=4.0``; σ = 0 (and any σ whose radius is 0)
    is the identity.  ``derivative=True`` returns ∂M/∂σ at the same radius (0 where it is 0).
    """
    s = sigmas.reshape(-1, 1, 1)
    radius = torch.floor(TRUNCATE * s + 0.5)
    idx = torch.arange(size, device=s.device, dtype=s.dtype)
    off = idx[None, :, None] - idx[None, None, :]  # (1, size, size): j − i, symmetric kernel
    safe = torch.where(s > 0, s, torch.ones_like(s))
    taps = torch.arange(0, int(radius.max().item()) + 1, device=s.device, dtype=s.dtype)
    full = torch.cat([-taps.flip(0)[:-1], taps]).reshape(1, 1, -1)  # every tap of the widest
    inside = full.abs() <= radius
    e_full = torch.exp(-0.5 * full**2 / safe**2) * inside
    norm = e_full.sum(-1, keepdim=True)  # over the whole kernel, taps outside the image too
    band = off.abs() <= radius
    k = torch.exp(-0.5 * off**2 / safe**2) * band / norm
    if not derivative:
        return k
    second = (e_full * full**2).sum(-1, keepdim=True) / norm  # Σ_s k_s s²
    dk = k * (off**2 - second) / safe**3
    return torch.where(radius > 0, dk, torch.zeros_like(dk))


def gaussian_blur(images: torch.Tensor, sigmas: torch.Tensor) -> torch.Tensor:
    """Blur each image ``images[r]`` (``(R, C, H, W)``) over H and W with its own ``sigmas[r]``."""
    h, w = images.shape[-2:]
    mh, mw = blur_matrices(h, sigmas), blur_matrices(w, sigmas)
    return mh[:, None] @ images @ mw[:, None].transpose(-1, -2)


def gaussian_blur_sigma_derivative(images: torch.Tensor, sigmas: torch.Tensor) -> torch.Tensor:
    """∂(G_σ * x)/∂σ exactly, per image (the product rule on ``M_H x M_Wᵀ``)."""
    h, w = images.shape[-2:]
    mh, mw = blur_matrices(h, sigmas)[:, None], blur_matrices(w, sigmas)[:, None]
    dh = blur_matrices(h, sigmas, derivative=True)[:, None]
    dw = blur_matrices(w, sigmas, derivative=True)[:, None]
    return dh @ images @ mw.transpose(-1, -2) + mh @ images @ dw.transpose(-1, -2)


def check_image(inputs: tuple[torch.Tensor, ...]) -> None:
    """Blur IG blurs one batch of images: a single ``(N, C, H, W)`` or ``(N, H, W)`` tensor."""
    if len(inputs) != 1:
        raise ValueError(
            f"inputs: Blur IG blurs images; expected one (N, C, H, W) or (N, H, W) tensor, got "
            f"a tuple of {len(inputs)} tensors"
        )
    x = inputs[0]
    if x.dim() not in (3, 4) or min(x.shape[-2:], default=0) < 1:
        raise ValueError(
            f"inputs: Blur IG blurs images over their two last axes; expected a (N, C, H, W) or "
            f"(N, H, W) tensor, got shape {tuple(x.shape)}"
        )


class BlurPath:
    """Blur paths, one per image, from the image blurred with ``max_sigma`` (α = 0) to it."""

    constant_derivative = False

    def __init__(self, inputs: tuple[torch.Tensor, ...], max_sigma: float, grad_step: float | None):
        """``inputs``: one ``(N, C, H, W)`` or ``(N, H, W)`` tensor (see :func:`check_image`)."""
        check_image(inputs)
        self.image = inputs[0]
        self.max_sigma = float(max_sigma)
        self.grad_step = grad_step
        x = self.image if self.image.dim() == 4 else self.image.unsqueeze(1)
        self._work = x.to(_work_dtype(x.device))
        self._last: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None

    def sigmas(self, alphas: torch.Tensor) -> torch.Tensor:
        """σ(α) = σ_max (1 − α)."""
        return (self.max_sigma * (1.0 - alphas.to(self._work.dtype))).clamp_min(0.0)

    def _blurred(self, rows: torch.Tensor, alphas: torch.Tensor) -> torch.Tensor:
        # the engine asks for points, then derivatives, of the same chunk: keep the blur
        if self._last is not None and self._last[0] is rows and self._last[1] is alphas:
            return self._last[2]
        out = gaussian_blur(self._work.index_select(0, rows), self.sigmas(alphas))
        self._last = (rows, alphas, out)
        return out

    def _shaped(self, t: torch.Tensor) -> torch.Tensor:
        t = t.to(self.image.dtype)
        return t if self.image.dim() == 4 else t.squeeze(1)

    def points(
        self, rows: torch.Tensor, alphas: torch.Tensor, keys: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, ...]:
        """The image of each row blurred with σ(α)."""
        return (self._shaped(self._blurred(rows, alphas)),)

    def derivatives(
        self, rows: torch.Tensor, alphas: torch.Tensor, keys: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, ...]:
        """γ'(α) = −σ_max ∂(G_σ * x)/∂σ: PAIR's forward difference, or exact (grad_step None)."""
        s = self.sigmas(alphas)
        if self.grad_step is None:
            d = gaussian_blur_sigma_derivative(self._work.index_select(0, rows), s)
        else:
            ahead = gaussian_blur(self._work.index_select(0, rows), s + self.grad_step)
            d = (ahead - self._blurred(rows, alphas)) / self.grad_step
        return (self._shaped(-self.max_sigma * d),)

    def total_derivative(self) -> tuple[torch.Tensor, ...]:
        """Not constant along the path."""
        raise NotImplementedError("BlurPath: γ' depends on α (constant_derivative is False)")
