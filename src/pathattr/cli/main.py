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
    """The argument parser (subcommands: ``demo``, ``run``, ``summarize``, ``explain-text``,
    ``report``)."""
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
    _add_run(sub)
    from pathattr.cli import explain_text

    explain_text.add_parser(sub, _positive_int_or_auto, _tol)
    summ = sub.add_parser(
        "summarize",
        help="aggregate a run's output: mean |attribution| per feature and class, error histogram",
        description="Read the shards of OUT and write OUT/_summary/ (Parquet tables, report.md "
        "and, for image maps, a PNG of the per-pixel mean).",
    )
    summ.add_argument("out", metavar="OUT", help="output directory of 'pathattr run'")
    _add_report(sub)
    return parser


def _add_report(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    rep = sub.add_parser(
        "report",
        help="one self-contained HTML page of a run's results",
        description="Write one HTML file (no network needed to open it) showing the examples "
        "with their attribution maps and the sortable completeness table of a 'pathattr run' "
        "output directory or of a file written by Attribution.save.",
    )
    rep.add_argument("source", metavar="SOURCE",
                     help="a 'pathattr run' output directory or a saved results file")  # fmt: skip
    rep.add_argument("--out", required=True, help="the .html file to write")
    rep.add_argument("--title", default=None, help="page title (default: pathattr report)")
    rep.add_argument("--max-examples", type=_positive_int, default=24,
                     help="examples drawn (default 24; the table lists more)")  # fmt: skip
    rep.add_argument(
        "--max-rows",
        type=_positive_int,
        default=5000,
        help="rows in the table: the worst by relative error (default 5000)",
    )


def _add_run(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    run = sub.add_parser(
        "run",
        help="attribute a whole dataset into Parquet shards (resumable)",
        description="Attribute every row of INPUT (an image folder, a .parquet/.csv table or a "
        ".npy array) and write Parquet shards plus _manifest.json to --out. Rerunning the same "
        "command after a crash computes only the missing shards.",
    )
    run.add_argument("input", metavar="INPUT", help="image folder, .parquet, .csv or .npy")
    run.add_argument("--model", required=True,
                     help="built-in name (efficientnet-lite0, minilm-sentiment) or "
                     "module:function")  # fmt: skip
    run.add_argument("--out", required=True, help="output directory")
    run.add_argument("--method", default="ig",
                     choices=["ig", "eg", "smoothgrad", "ih", "eh", "guided", "blur", "xrai"],
                     help="ig (default), eg, smoothgrad, ih / eh (Integrated / Expected "
                     "Hessians), guided (Guided IG), blur (Blur IG), xrai")  # fmt: skip
    run.add_argument("--steps", type=_positive_int_or_auto, default=32,
                     help="IG steps, or 'auto' (default 32)")  # fmt: skip
    run.add_argument("--tol", type=_tol, default=0.05, help="error target of --steps auto")
    run.add_argument("--samples", type=_positive_int, default=None,
                     help="EG / SmoothGrad samples per row (default 64 / 16)")  # fmt: skip
    run.add_argument("--references", default=None,
                     help="EG references: .npy of model inputs (default: 64 rows)")  # fmt: skip
    run.add_argument("--target", default="predicted",
                     help="'predicted' (default), a class index, or a table column")  # fmt: skip
    run.add_argument("--column", default=None, help="table column holding the inputs")
    run.add_argument("--id-column", default=None, help="table column holding the row ids")
    run.add_argument("--engine", default="local", choices=["local", "ray"])
    run.add_argument("--ray-sink", default="store", choices=["store", "ray"],
                     help="--engine ray: 'store' (driver writes shards + manifest, default) or "
                     "'ray' (Ray Data's write_parquet + CheckpointConfig)")  # fmt: skip
    run.add_argument("--shard-rows", type=_positive_int, default=1024, help="rows per shard")
    run.add_argument("--batch-size", type=_positive_int, default=16,
                     help="rows per attribution call (default 16)")  # fmt: skip
    run.add_argument("--dtype", default="float32", choices=["float32", "float16"],
                     help="attribution storage dtype (deltas stay float32)")  # fmt: skip
    run.add_argument("--seed", type=int, default=0, help="base seed of EG / SmoothGrad")
    run.add_argument("--device", default="cpu", help="torch device of the local engine (cpu)")
    run.add_argument("--threads", type=_positive_int, default=None,
                     help="torch threads of the local engine (default: torch's)")  # fmt: skip
    run.add_argument("--address", default=None, help="Ray cluster address (default: start one)")
    run.add_argument("--actors", type=_positive_int, default=1, help="Ray actors (default 1)")
    run.add_argument("--gpus-per-actor", type=float, default=None,
                     help="GPUs per Ray actor (default: 1 when the cluster has GPUs)")  # fmt: skip
    run.add_argument("--force", action="store_true",
                     help="delete another run's output in --out and start over")  # fmt: skip
    run.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``pathattr`` command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    if args.command == "demo":
        return _demo(args)
    if args.command == "run":
        return _run(args)
    if args.command == "summarize":
        return _summarize(args)
    if args.command == "explain-text":
        from pathattr.cli import explain_text

        return explain_text.run(args)
    if args.command == "report":
        return _report(args)
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


def _run(args: argparse.Namespace) -> int:
    from pathattr.engine.dataset import SpecMismatchError, run
    from pathattr.engine.sources import InputError
    from pathattr.store.shards import StoreError

    opts: dict[str, object] = dict(
        steps=args.steps, tol=args.tol, samples=args.samples, references=args.references,
        target=args.target, column=args.column, id_column=args.id_column,
        shard_rows=args.shard_rows, batch_size=args.batch_size, dtype=args.dtype, seed=args.seed,
        device=args.device,
    )  # fmt: skip
    if args.engine == "ray":
        opts.update(address=args.address, actors=args.actors, gpus_per_actor=args.gpus_per_actor)
    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    try:
        summary = run(
            args.input, args.model, args.out, method=args.method, engine=args.engine,
            sink=args.ray_sink, force=args.force, progress=not args.no_progress, **opts,
        )  # fmt: skip
    except (InputError, SpecMismatchError, ValueError, TypeError) as e:
        print(f"pathattr run: {e}", file=sys.stderr)
        return 2
    except (StoreError, ImportError) as e:
        print(f"pathattr run: {e}", file=sys.stderr)
        return 1
    print(summary.text())
    return 0


def _summarize(args: argparse.Namespace) -> int:
    from pathattr.store.shards import StoreError
    from pathattr.store.summary import summarize

    try:
        path = summarize(args.out)
    except StoreError as e:
        print(f"pathattr summarize: {e}", file=sys.stderr)
        return 2
    print(f"wrote {path}")
    return 0


def _report(args: argparse.Namespace) -> int:
    from pathattr.store.shards import StoreError
    from pathattr.viz.report import report

    try:
        path = report(args.source, args.out, title=args.title, max_examples=args.max_examples,
                      max_rows=args.max_rows)  # fmt: skip
    except (ValueError, StoreError) as e:
        print(f"pathattr report: {e}", file=sys.stderr)
        return 2
    except ImportError as e:
        print(f"pathattr report: {e}", file=sys.stderr)
        return 1
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
