"""PriorModule: real Lightning training runs on CPU with an attribution prior in the loss."""

from __future__ import annotations

import functools
from typing import Any

import lightning.pytorch as pl  # the dev extra installs it: missing means fail, not skip
import pytest
import torch

from pathattr import priors
from pathattr.priors import AttributionPrior, input_gradients
from pathattr.priors.lightning import PriorModule

# Lightning 2.6.6 still uses torch's deprecated pytree LeafSpec (torch 2.13 warns about it)
pytestmark = pytest.mark.filterwarnings(
    r"ignore:`isinstance\(treespec, LeafSpec\)` is deprecated:FutureWarning"
)

D, INFORMATIVE = 10, 3  # features; the label depends on the first INFORMATIVE only
NOISE = torch.arange(D) >= INFORMATIVE


def task(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, D, generator=g)
    return x, (x[:, :INFORMATIVE].sum(1) > 0).long()


def net(seed: int = 0, d_out: int = 2) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Linear(D, 16), torch.nn.Tanh(), torch.nn.Linear(16, d_out)
    )  # fmt: skip


def loader(x: torch.Tensor, y: torch.Tensor, batch_size: int = 32) -> Any:
    ds = torch.utils.data.TensorDataset(x, y)
    return torch.utils.data.DataLoader(ds, batch_size=batch_size, shuffle=False)


class Record:
    """Per training step: the loss returned by training_step, the logged terms, the gradients.

    A mixin: :func:`fit` combines it with the ``Callback`` class of the trainer's package.
    """

    def __init__(self) -> None:
        self.loss: list[float] = []
        self.logged: list[dict[str, float]] = []
        self.grads: list[dict[str, torch.Tensor]] = []

    def on_after_backward(self, trainer: Any, module: Any) -> None:
        self.grads.append(
            {
                name: p.grad.detach().clone()
                for name, p in module.named_parameters()
                if p.grad is not None
            }
        )

    def on_train_batch_end(self, trainer: Any, module: Any, outputs: Any, *args: Any) -> None:
        self.loss.append(float(outputs["loss"]))
        self.logged.append({k: float(v) for k, v in trainer.callback_metrics.items()})


def fit(module: Any, data: Any, epochs: int, package: Any = pl) -> Record:
    record = type("Recorder", (Record, package.Callback), {})()
    trainer = package.Trainer(
        max_epochs=epochs, accelerator="cpu", devices=1, enable_progress_bar=False,
        logger=False, enable_checkpointing=False, enable_model_summary=False,
        callbacks=[record],
    )  # fmt: skip
    trainer.fit(module, data)
    assert trainer.global_step == epochs * len(data)
    return record


def adam(lr: float) -> Any:
    return lambda params: torch.optim.Adam(params, lr=lr)


def test_trains_and_logs_the_task_loss_and_the_prior_term() -> None:
    x, y = task(128, 0)
    data = loader(x, y)
    prior = AttributionPrior(priors.sparsity, 0.5, references="batch", samples=1, seed=0)
    module = PriorModule(net(), torch.nn.functional.cross_entropy, prior, adam(2e-2))
    assert isinstance(module, pl.LightningModule)
    record = fit(module, data, epochs=8)

    assert len(record.loss) == 8 * len(data)
    for loss, logged in zip(record.loss, record.logged):
        assert set(logged) >= {"train/task_loss", "train/prior"}
        # training_step returns task + prior; the prior term is 0.5 · (−Gini) ∈ [−0.5, 0]
        assert loss == pytest.approx(logged["train/task_loss"] + logged["train/prior"], rel=1e-5)
        assert -0.5 <= logged["train/prior"] < 0.0
    first = sum(d["train/task_loss"] for d in record.logged[:4]) / 4
    last = sum(d["train/task_loss"] for d in record.logged[-4:]) / 4
    assert last < 0.5 * first, (first, last)  # 0.12-0.26 over 8 seeds
    # the model really changed and is back in training mode after the eval-mode attributions
    assert module.training and module.model.training
    assert module(x).shape == (128, 2)


def test_prior_gradient_reaches_the_parameters_and_moves_the_attributions() -> None:
    """With the task loss switched off the prior is the only signal: it must train the net."""
    x, y = task(64, 1)
    mask = functools.partial(priors.mask, mask=NOISE)
    prior = AttributionPrior(mask, 1.0, method="gradients")

    def no_task(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return 0.0 * out.sum()

    model = net(2)
    before = [p.detach().clone() for p in model.parameters()]
    penalty_before = float(mask(input_gradients(model, x, y)).detach())
    record = fit(PriorModule(model, no_task, prior, adam(1e-2)), loader(x, y), epochs=3)

    weights = ["model.0.weight", "model.0.bias", "model.2.weight"]  # model.2.bias: no ∂/∂x
    for grads in record.grads:
        for name in weights:
            g = grads[name]
            assert bool(torch.isfinite(g).all()) and float(g.abs().sum()) > 0, name
    assert all(d["train/task_loss"] == 0.0 for d in record.logged)
    assert all(not torch.equal(b, p.detach()) for b, p in zip(before[:3], model.parameters()))
    penalty_after = float(mask(input_gradients(model, x, y)).detach())
    assert penalty_after < 0.7 * penalty_before, (penalty_before, penalty_after)  # 0.28-0.34


def held_out_noise_attribution(model: torch.nn.Module, refs: torch.Tensor) -> float:
    """mean |EG| on the noise features of held-out data (many samples, fixed seed)."""
    x_test, y_test = task(256, 99)
    evaluate = AttributionPrior(
        functools.partial(priors.mask, mask=NOISE), references=refs, samples=32, seed=0
    )
    model.eval()
    return float(evaluate.penalty_value(model, x_test, y_test).detach())


def test_mask_prior_lowers_held_out_attribution_to_irrelevant_features() -> None:
    x, y = task(128, 2)
    data = loader(x, y)
    results = {}
    for lam in (0.0, 3.0):
        prior = AttributionPrior(
            functools.partial(priors.mask, mask=NOISE), lam, references=x, samples=2, seed=1
        )
        module = PriorModule(net(3), torch.nn.functional.cross_entropy, prior, adam(2e-2))
        record = fit(module, data, epochs=8)
        if lam == 0.0:
            assert all(d["train/prior"] == 0.0 for d in record.logged)
        else:
            assert all(d["train/prior"] > 0.0 for d in record.logged)
        results[lam] = (held_out_noise_attribution(module.model, x), record)
    without, with_prior = results[0.0][0], results[3.0][0]
    assert with_prior < 0.5 * without, (without, with_prior)  # 0.07-0.16 over 6 seeds
    # the task is still learned with the prior
    task_losses = [d["train/task_loss"] for d in results[3.0][1].logged]
    assert sum(task_losses[-4:]) < 0.8 * sum(task_losses[:4])


def recording_method(seen: list[Any]) -> Any:
    def method(model: Any, x: torch.Tensor, target: Any) -> torch.Tensor:
        seen.append(target)
        return input_gradients(model, x, target)

    return method


def test_integer_labels_are_the_target_float_targets_are_not() -> None:
    x, y = task(32, 3)
    seen: list[Any] = []
    prior = AttributionPrior(priors.gini, 0.1, method=recording_method(seen))
    module = PriorModule(net(), torch.nn.functional.cross_entropy, prior, adam(1e-3))
    fit(module, loader(x, y, batch_size=16), epochs=1)
    assert len(seen) == 2
    assert torch.equal(seen[0], y[:16]) and torch.equal(seen[1], y[16:])

    # regression: float targets; the model has one output, which the prior attributes
    seen.clear()
    yr = x[:, :1] * 2.0
    module = PriorModule(net(d_out=1), torch.nn.functional.mse_loss, prior, adam(1e-2))
    record = fit(module, loader(x, yr, batch_size=8), epochs=2)
    assert seen == [None] * 8
    assert all(torch.isfinite(torch.tensor(d["train/prior"])) for d in record.logged)


def test_base_class_for_the_standalone_pytorch_lightning_trainer() -> None:
    ptl = pytest.importorskip("pytorch_lightning")
    x, y = task(32, 4)
    prior = AttributionPrior(priors.sparsity, 0.1)
    module = PriorModule(
        net(), torch.nn.functional.cross_entropy, prior, adam(1e-2), base=ptl.LightningModule
    )
    assert isinstance(module, ptl.LightningModule)
    record = fit(module, loader(x, y), epochs=1, package=ptl)
    assert all(d["train/prior"] < 0 for d in record.logged)
    with pytest.raises(TypeError, match="base: expected a LightningModule class, got str"):
        PriorModule(net(), torch.nn.functional.cross_entropy, prior, adam(1e-2), base="x")  # type: ignore[arg-type]
