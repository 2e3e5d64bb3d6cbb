"""Running code with its own random streams, leaving the caller's global RNGs untouched."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext

import numpy as np
import torch


@contextmanager
def private_rng(seed: int | None) -> Iterator[None]:
    """Save torch's (CPU and initialised CUDA devices), Python's and NumPy's global RNG states,
    seed them with ``seed`` (None: leave the streams as they are), restore them on exit.

    Only CUDA devices that are already initialised are saved and seeded: seeding the others
    would queue a seed that runs at their initialisation, after the states were restored.
    """
    cuda = list(range(torch.cuda.device_count())) if torch.cuda.is_initialized() else []
    py_state = random.getstate()
    np_state = np.random.get_state()
    try:
        with torch.random.fork_rng(devices=cuda):
            if seed is not None:
                torch.default_generator.manual_seed(seed)
                for d in cuda:
                    torch.cuda.default_generators[d].manual_seed(seed)
                random.seed(seed)
                np.random.seed(seed % 2**32)
            yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)


def seeded_rng(seed: int | None) -> AbstractContextManager[None]:
    """:func:`private_rng` when ``seed`` is given; nothing (the global streams advance) for None."""
    return nullcontext() if seed is None else private_rng(seed)
