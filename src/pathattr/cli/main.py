"""The ``pathattr`` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {v}")
    return v


def _positive_int_or_auto(text: str) -> int | str:
    """``--steps`` and ``--batch-size``: a positive integer or ``auto``."""
    if text == "auto":
        return "auto"
    try:
        return _positive_int(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"expected a positive integer or 'auto', got {text!r}"
        ) from None


def _tol(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1), got {text!r}") from None
    if not 0 < v < 1:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1), got {v}")
    return v


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (subcommands: ``demo``)."""
    parser = argparse.ArgumentParser(
        prog="pathattr", description="Integrated Gradients and path attributions for PyTorch."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = sub.add_parser(
        "demo",
        help="IG heatmaps for bundled photos on EfficientNet-Lite0 (needs pathattr[vision])",
        description="Run Integrated Gradients on EfficientNet-Lite0 for bundled photos and "
        "write heatmap PNGs plus a results table.",
    )
    demo.add_argument("--out", default="demo_out", help="output directory (default: demo_out)")
    demo.add_argument(
        "--photos",
        default="chelsea,coffee,rocket,flower",
        help="comma-separated photos: chelsea, coffee, rocket, astronaut, china, flower "
        "(default: chelsea,coffee,rocket,flower)",
    )
    demo.add_argument(
        "--steps",
        type=_positive_int_or_auto,
        default="auto",
        help="IG steps per photo, or 'auto' (default): refine until the error estimate is "
        "under --tol",
    )
    demo.add_argument(
        "--tol",
        type=_tol,
        default=0.05,
        help="relative error target for --steps auto (default 0.05, the paper's 5%%)",
    )
    demo.add_argument(
        "--rule",
        default="gausslegendre",
        choices=[
            "gausslegendre",
            "riemann_left",
            "riemann_right",
            "riemann_middle",
            "riemann_trapezoid",
        ],
        help="quadrature rule (default gausslegendre)",
    )
    demo.add_argument(
        "--batch-size",
        type=_positive_int_or_auto,
        default="auto",
        help="rows per model call, or 'auto' (default: measured, fits memory and the CPU cache)",
    )
    demo.add_argument(
        "--target-prob",
        action="store_true",
        help="attribute the softmax probability of the predicted class instead of its logit",
    )
    demo.add_argument("--no-progress", action="store_true", help="hide progress bars")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``pathattr`` command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    if args.command == "demo":
        return _demo(args)
    parser.error(f"unknown command {args.command!r}")
    return 2


def _demo(args: argparse.Namespace) -> int:
    from pathattr.cli.demo import OutputDirError, markdown_table, run_demo
    from pathattr.domains.vision import PHOTOS, VISION_HINT, MissingExtraError

    photos = [p.strip() for p in args.photos.split(",") if p.strip()]
    bad = [p for p in photos if p not in PHOTOS]
    if not photos or bad:
        print(
            f"pathattr demo: --photos: expected names from {', '.join(PHOTOS)}, "
            f"got {args.photos!r}",
            file=sys.stderr,
        )
        return 2
    try:
        rows = run_demo(
            args.out,
            photos,
            steps=args.steps,
            tol=args.tol,
            rule=args.rule,
            batch_size=args.batch_size,
            target_prob=args.target_prob,
            progress=not args.no_progress,
        )
    except (MissingExtraError, ImportError) as e:
        print(f"pathattr demo: {e}\nInstall the vision extras: {VISION_HINT}", file=sys.stderr)
        return 1
    except OutputDirError as e:
        # a usage error like a bad --photos: one line and status 2, not a traceback
        print(
            f"pathattr demo: --out: expected a writable directory, got {str(e.path)!r} "
            f"({e.reason})",
            file=sys.stderr,
        )
        return 2
    print(markdown_table(rows))
    for r in rows:
        if not r.relative_delta <= 0.05:
            print(
                f"\n{r.photo}: relative completeness error {r.relative_delta:.1%} is over 5%: the "
                "integral has not converged; "
                + ("lower --tol" if args.steps == "auto" else "raise --steps or use --steps auto")
            )
    print(f"\nwrote {len(rows)} heatmaps, results.md and results.csv to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
