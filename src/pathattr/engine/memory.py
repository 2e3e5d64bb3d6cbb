"""Memory-aware chunk sizes: measure what one row keeps for the backward pass, then fit a budget.

Autograd keeps the tensors a backward pass needs ("saved tensors"); their size is what grows
with the number of rows in a chunk.  We measure it exactly with ``saved_tensors_hooks`` on probe
forwards of one and two rows (the difference removes what does not scale with rows, such as
weights), and choose the largest chunk whose saved tensors fit the budget.
"""

from __future__ import annotations

import functools
import os
import time
import weakref
from collections.abc import Callable
from typing import Any

import torch

from pathattr.engine.core import equal_chunk, expand_forward_args
from pathattr.engine.targets import Selector
from pathattr.paths.base import Path

#: below this many rows a whole run is done in one chunk without probing (GPU, explicit budget)
SMALL_RUN_ROWS = 64

#: On the CPU a chunk is also capped so that its saved activations stay near the caches (see
#: :func:`cpu_cache_bytes`): a digits CNN runs 2x faster per row in 8 MB chunks than in one
#: 250 MB pass, EfficientNet 2.2x in chunks of 8 rows (benchmarks/results/chunk_size.md).
#: Below this many rows per call small-batch kernels and per-call overhead lose more than the
#: cache gains, so the cap never goes lower.
MIN_CPU_CHUNK_ROWS = 8
DEFAULT_CACHE_BYTES = 8 * 2**20
#: the chunk budget is this many per-core L2 caches (never below DEFAULT_CACHE_BYTES, never
#: above the last-level cache)
L2_MULTIPLE = 4

# model -> {(row shapes, dtypes, device, forward-arg shapes, training): bytes per row, and
# ("forward", rows, that signature): forward-only chunk rows}.  Repeated calls on one model (a
# dataset, a benchmark) probe once; weak keys let models be collected.
_PROBE_CACHE: weakref.WeakKeyDictionary[Any, dict[tuple[Any, ...], int]] = (
    weakref.WeakKeyDictionary()
)


def _signature(points: tuple[torch.Tensor, ...], model: Any, args: tuple[Any, ...]) -> tuple:
    def one(t: Any) -> Any:
        if isinstance(t, torch.Tensor):
            return (tuple(t.shape[1:]), t.dtype, t.device.type)
        return type(t).__name__

    return (
        tuple(one(p) for p in points),
        tuple(one(a) for a in args),
        bool(getattr(model, "training", False)),
    )


#: how long a reading of free host memory is reused: reading /proc/meminfo costs ~15 µs, a
#: visible share of a small model's call, and the budget is a conservative fraction anyway
HOST_MEMORY_TTL_S = 0.5
_host_reading: list[float] = [-1.0, 0.0]  # [time.monotonic() of the reading, bytes]


def available_bytes(device: torch.device) -> int:
    """Free memory on ``device``: CUDA's free memory, else MemAvailable from /proc/meminfo.

    The host reading is reused for :data:`HOST_MEMORY_TTL_S` seconds.
    """
    if device.type != "cuda":
        now = time.monotonic()
        if now - _host_reading[0] > HOST_MEMORY_TTL_S:
            _host_reading[:] = [now, float(_host_available_bytes())]
        return int(_host_reading[1])
    free, _total = torch.cuda.mem_get_info(device)
    return int(free)


def _host_available_bytes() -> int:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    pages = os.sysconf("SC_AVPHYS_PAGES") if hasattr(os, "sysconf") else 0
    return int(pages * os.sysconf("SC_PAGE_SIZE")) if pages else 8 * 2**30


@functools.cache
def cpu_cache_bytes() -> int:
    """Saved-activation bytes per CPU chunk: 4 per-core L2 caches, at least 8 MiB, at most the
    last-level cache (sizes from sysfs; 8 MiB where they cannot be read).

    Not the last-level cache itself: on a virtual machine that reading is the host's shared
    cache (300 MiB on the development machine), far more than one guest's share, and the
    measured sweet spot sat at 8–32 MiB of saved activations per chunk on every model tried
    (``benchmarks/chunk_size.py``).
    """
    sizes = _cache_sizes()
    budget = max(DEFAULT_CACHE_BYTES, L2_MULTIPLE * sizes.get(2, 0))
    last = max(sizes.values(), default=0)
    return min(budget, last) if last > 0 else budget


def _cache_sizes() -> dict[int, int]:
    """Data / unified cache size per level of CPU 0, from sysfs ({} where unreadable)."""
    out: dict[int, int] = {}
    root = "/sys/devices/system/cpu/cpu0/cache"
    try:
        for entry in sorted(os.listdir(root)):
            if not entry.startswith("index"):
                continue
            with open(os.path.join(root, entry, "type")) as fh:
                if fh.read().strip() == "Instruction":
                    continue
            with open(os.path.join(root, entry, "level")) as fh:
                level = int(fh.read().strip())
            with open(os.path.join(root, entry, "size")) as fh:
                out[level] = max(out.get(level, 0), _parse_size(fh.read().strip()))
    except (OSError, ValueError):
        return {}
    return out


def _parse_size(text: str) -> int:
    units = {"K": 2**10, "M": 2**20, "G": 2**30}
    if text and text[-1].upper() in units:
        return int(text[:-1]) * units[text[-1].upper()]
    return int(text)


def saved_bytes_per_row(
    model: Callable[..., Any],
    path: Path,
    selector: Selector,
    rows: torch.Tensor,
    alphas: torch.Tensor,
    *,
    n_examples: int,
    forward_args: tuple[Any, ...] = (),
    keys: torch.Tensor | None = None,
) -> int:
    """Bytes autograd saves per extra row of a chunk (probe forwards of 2 and 4 rows).

    Two rows, not one, in the smaller probe: batch norm in training mode refuses a batch of one.

    The figure is cached per model and row signature (shapes, dtypes, device, training mode).
    """
    # the rows of a path are shaped like its inputs' rows: their shapes and dtypes give the
    # signature without building a point (tensor work on every call of a small model)
    first = getattr(path, "inputs", None)
    if first is None:
        with torch.no_grad():
            first = path.points(rows[:1], alphas[:1], None if keys is None else keys[:1])
    sig = _signature(first, model, forward_args)
    try:
        cache = _PROBE_CACHE.setdefault(model, {})
    except TypeError:  # not weak-referenceable: probe every time
        cache = {}
    if sig in cache:
        return cache[sig]
    sizes = []
    for k in (2, 4):
        idx = torch.arange(k) % rows.shape[0]
        r, a = rows[idx], alphas[idx]
        kk = None if keys is None else keys[idx]
        total = 0

        def pack(t: torch.Tensor) -> torch.Tensor:
            nonlocal total
            total += t.numel() * t.element_size()
            return t

        with torch.no_grad():
            points = tuple(p.detach().requires_grad_(True) for p in path.points(r, a, kk))
        with torch.enable_grad(), torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            out = model(*points, *expand_forward_args(forward_args, n_examples, r))
            selector(out, r)
        sizes.append(total + sum(p.numel() * p.element_size() for p in points))
    cache[sig] = max(1, (sizes[1] - sizes[0]) // 2)
    return cache[sig]


def auto_batch_size(
    model: Callable[..., Any],
    path: Path,
    selector: Selector,
    rows: torch.Tensor,
    alphas: torch.Tensor,
    *,
    n_examples: int,
    forward_args: tuple[Any, ...] = (),
    keys: torch.Tensor | None = None,
    budget_bytes: int | None = None,
    fraction: float = 0.25,
) -> int | None:
    """Rows per chunk so that saved activations stay within ``budget_bytes``.

    The default budget is ``fraction`` of the free memory of the inputs' device.  Gradients and
    temporaries roughly double the saved activations at the peak, hence the conservative default.
    On the CPU (and when no explicit budget is given) chunks are further capped at
    :func:`cpu_cache_bytes`, but never below :data:`MIN_CPU_CHUNK_ROWS` rows: cache-sized
    chunks are faster per row.  The rows are split into equal chunks of at most that size.
    Returns None (one chunk) when everything fits or the run is small.
    """
    total = int(rows.shape[0])
    device = rows.device
    cache_cap = device.type == "cpu" and budget_bytes is None
    # a small run fits any memory budget; with the cache cap only runs the cap cannot split do
    if total <= (MIN_CPU_CHUNK_ROWS if cache_cap else SMALL_RUN_ROWS):
        return None
    budget = budget_bytes if budget_bytes is not None else int(fraction * available_bytes(device))
    per_row = saved_bytes_per_row(
        model, path, selector, rows, alphas, n_examples=n_examples,
        forward_args=forward_args, keys=keys,
    )  # fmt: skip
    fit = max(1, budget // per_row)
    if cache_cap:
        fit = min(fit, max(MIN_CPU_CHUNK_ROWS, cpu_cache_bytes() // per_row))
    if fit >= total:
        return None
    # equal chunks: 800 rows at a cap of 262 run as 4 x 200, not 3 x 262 plus a call for 14
    return equal_chunk(total, fit)


def resolve_batch_size(
    batch_size: int | str | None,
    model: Callable[..., Any],
    path: Path,
    selector: Selector,
    rows: torch.Tensor,
    alphas: torch.Tensor,
    *,
    n_examples: int,
    forward_args: tuple[Any, ...] = (),
    keys: torch.Tensor | None = None,
) -> int | None:
    """Turn the user's ``batch_size`` (an int, None or ``"auto"``) into rows per chunk."""
    if batch_size is None:
        return None
    if isinstance(batch_size, str):
        if batch_size != "auto":
            raise ValueError(
                f"batch_size: expected an int >= 1, None or 'auto', got {batch_size!r}"
            )
        return auto_batch_size(
            model, path, selector, rows, alphas, n_examples=n_examples,
            forward_args=forward_args, keys=keys,
        )  # fmt: skip
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size: expected an int >= 1, None or 'auto', got {batch_size!r}")
    return batch_size


def forward_chunk_rows(
    model: Callable[..., Any],
    inputs: tuple[torch.Tensor, ...],
    selector: Selector,
    total: int,
    *,
    forward_args: tuple[Any, ...] = (),
) -> int | None:
    """Rows per forward-only model call over ``total`` rows shaped like ``inputs``' rows.

    The same rule as gradient chunks (:func:`auto_batch_size`): a forward pass over more rows than
    fit the CPU cache budget (:func:`cpu_cache_bytes`) is slower per row (a digits CNN: 27 ms for
    1344 rows in one pass, 14 ms in chunks of 1055). None: one call. Used by the metrics, whose
    model calls are forward-only.
    """
    from pathattr.paths.straight import StraightLine

    # the decision is cached per model, row signature and row count: metrics call this on
    # every evaluation and it costs ~25 µs, a visible share of a small model's call.  A
    # forward-only pass keeps no activations, so the memory budget (sized for the saved
    # activations of a backward pass) is conservative enough to be reused.
    key = ("forward", total, _signature(inputs, model, forward_args))
    try:
        cache = _PROBE_CACHE.setdefault(model, {})
    except TypeError:  # not weak-referenceable: decide every time
        cache = {}
    if key not in cache:
        n = inputs[0].shape[0]
        rows = torch.arange(total, device=inputs[0].device) % max(1, n)
        alphas = torch.zeros(total, dtype=inputs[0].dtype, device=inputs[0].device)
        chosen = auto_batch_size(
            model, StraightLine(inputs, inputs), selector, rows, alphas, n_examples=n,
            forward_args=forward_args,
        )  # fmt: skip
        cache[key] = 0 if chosen is None else chosen
    return cache[key] or None


def resolve_metric_batch_size(batch_size: Any) -> int | str | None:
    """Check a metric's ``batch_size`` argument: an int >= 1, None (one call) or ``"auto"``."""
    if batch_size is None or batch_size == "auto":
        return batch_size  # type: ignore[no-any-return]
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size: expected an int >= 1, None or 'auto', got {batch_size!r}")
    return batch_size
