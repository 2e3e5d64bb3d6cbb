"""Priors on batches too small for in-batch references, directly and through Lightning; and
prior_loss's weight= (lam= deprecated)."""

from __future__ import annotations

import warnings
from typing import Any

import lightning.pytorch as pl  # the dev extra installs it: missing means fail, not skip
import pytest
import torch

from pathattr import priors
from pathattr.priors import AttributionPrior, PriorBatchWarning, prior_loss
from pathattr.priors.lightning import PriorModule

# Lightning 2.6.6 still uses torch's deprecated pytree LeafSpec (torch 2.13 warns about it)
pytestmark = pytest.mark.filterwarnings(
    r"ignore:`isinstance\(treespec, LeafSpec\)` is deprecated:FutureWarning"
)

D = 6


def net(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(D, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))


def batch(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, D, generator=g)
    return x, (x[:, 0] > 0).long()


@pytest.mark.parametrize("method", ["expected_gradients", "integrated_gradients"])
def test_batch_of_one_is_skipped_with_a_usable_zero(method: str) -> None:
    model = net()
    x, y = batch(1)
    prior = AttributionPrior(priors.sparsity, 0.5, method=method, references="batch")
    # before: ValueError "samples: ... must be < batch size 1" from inside Expected Gradients
    with pytest.warns(PriorBatchWarning, match="a batch of 1 example has no reference") as rec:
        pen = prior(model, x, y)
    assert rec[0].filename == __file__  # points at the training step
    assert pen.shape == () and float(pen.detach()) == 0.0 and pen.requires_grad

    # the zero adds to the task loss and back-propagates exactly like the task loss alone
    task = torch.nn.functional.cross_entropy(model(x), y)
    (task + pen).backward()
    with_prior = [p.grad.clone() for p in model.parameters()]  # type: ignore[union-attr]
    model.zero_grad()
    torch.nn.functional.cross_entropy(model(x), y).backward()
    for g, p in zip(with_prior, model.parameters()):
        assert p.grad is not None and torch.equal(g, p.grad)
    # and on its own it back-propagates without reaching any parameter
    model.zero_grad(set_to_none=True)
    with pytest.warns(PriorBatchWarning):
        prior(model, x, y).backward()
    assert all(p.grad is None for p in model.parameters())

    with pytest.warns(PriorBatchWarning):
        assert float(prior.penalty_value(model, x, y).detach()) == 0.0
    # the attributions themselves do not exist: an error, not zeros
    with pytest.raises(ValueError, match=r"x: references='batch' .* got a batch of 1"):
        prior.attributions(model, x, y)


def test_batch_of_one_without_in_batch_references_is_a_real_penalty() -> None:
    model = net()
    x, y = batch(1)
    refs = batch(16, seed=1)[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error", PriorBatchWarning)
        grad_pen = AttributionPrior(priors.sparsity, 1.0, method="gradients")(model, x, y)
        eg_pen = AttributionPrior(priors.sparsity, 1.0, references=refs, seed=0)(model, x, y)
    assert float(grad_pen.detach()) < 0 and float(eg_pen.detach()) < 0  # −Gini: real attributions
    assert grad_pen.grad_fn is not None and eg_pen.grad_fn is not None


def test_expected_gradients_uses_fewer_in_batch_references_when_the_batch_is_small() -> None:
    model = net()
    x, y = batch(3)
    with pytest.warns(PriorBatchWarning, match="this batch uses samples=2"):
        small = AttributionPrior(priors.sparsity, 1.0, samples=5, seed=4)(model, x, y)
    # the same draws as asking for 2 samples in the first place
    same = AttributionPrior(priors.sparsity, 1.0, samples=2, seed=4)(model, x, y)
    torch.testing.assert_close(small, same)
    with warnings.catch_warnings():
        warnings.simplefilter("error", PriorBatchWarning)
        AttributionPrior(priors.sparsity, 1.0, samples=2, seed=4)(model, x, y)


def test_prior_loss_takes_weight_and_deprecates_lam() -> None:
    model = net()
    x, y = batch(6)
    by_weight = prior_loss(model, x, y, penalty=priors.sparsity, weight=0.5, samples=2, seed=1)
    direct = AttributionPrior(priors.sparsity, 0.5, samples=2, seed=1)(model, x, y)
    torch.testing.assert_close(by_weight, direct)
    with pytest.warns(DeprecationWarning, match="lam= is deprecated, pass weight=") as rec:
        by_lam = prior_loss(model, x, y, penalty=priors.sparsity, lam=0.5, samples=2, seed=1)
    assert rec[0].filename == __file__
    torch.testing.assert_close(by_lam, direct)
    default = prior_loss(model, x, y, penalty=priors.sparsity, samples=2, seed=1)
    torch.testing.assert_close(default, 2 * direct)  # weight defaults to 1
    with pytest.raises(TypeError, match="got both weight=0.5 and its deprecated name lam=0.5"):
        prior_loss(model, x, y, penalty=priors.sparsity, weight=0.5, lam=0.5)


class Record(pl.Callback):
    """Per step: the returned loss, the logged terms and whether every parameter got a grad."""

    def __init__(self) -> None:
        self.loss: list[float] = []
        self.logged: list[dict[str, float]] = []
        self.grads_ok: list[bool] = []

    def on_after_backward(self, trainer: Any, module: Any) -> None:
        self.grads_ok.append(
            all(p.grad is not None and bool(torch.isfinite(p.grad).all())
                for p in module.parameters())
        )  # fmt: skip

    def on_train_batch_end(self, trainer: Any, module: Any, outputs: Any, *args: Any) -> None:
        self.loss.append(float(outputs["loss"]))
        self.logged.append({k: float(v) for k, v in trainer.callback_metrics.items()})


def test_lightning_epoch_ending_in_a_batch_of_one_trains_through() -> None:
    x, y = batch(33, seed=2)  # batches of 16, 16 and 1: no drop_last
    data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=16)
    prior = AttributionPrior(priors.sparsity, 0.5, references="batch", samples=1, seed=0)
    module = PriorModule(net(3), torch.nn.functional.cross_entropy, prior,
                         lambda p: torch.optim.Adam(p, 1e-2))  # fmt: skip
    record = Record()
    trainer = pl.Trainer(
        max_epochs=2, accelerator="cpu", devices=1, enable_progress_bar=False, logger=False,
        enable_checkpointing=False, enable_model_summary=False, callbacks=[record],
    )  # fmt: skip
    with pytest.warns(PriorBatchWarning, match="batch of 1 example"):
        trainer.fit(module, data)  # before: ValueError about `samples` at the third step
    assert trainer.global_step == 2 * 3
    assert len(record.loss) == 6 and all(record.grads_ok)
    for step, (loss, logged) in enumerate(zip(record.loss, record.logged)):
        assert loss == pytest.approx(logged["train/task_loss"] + logged["train/prior"], rel=1e-5)
        if step % 3 == 2:  # the batch of one: task loss only
            assert logged["train/prior"] == 0.0 and loss == pytest.approx(
                logged["train/task_loss"], rel=1e-6
            )
        else:
            assert -0.5 <= logged["train/prior"] < 0.0
