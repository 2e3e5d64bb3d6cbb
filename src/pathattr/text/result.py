"""TextAttribution: what :func:`pathattr.text.integrated_gradients` returns."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from pathattr.result import Attribution


@dataclass
class TextAttribution:
    """Token attributions for a batch of texts, with the diagnostics of the run.

    Attributes:
        attribution: the :class:`~pathattr.result.Attribution` of the run; its
            ``attributions`` are the full embedding-space attributions, shaped
            ``(texts, tokens, embedding dim)`` over the padded batch.
        texts: the input strings.
        tokens: per text, its tokens as the tokenizer names them (special tokens included,
            padding and a causal LM's continuation excluded).
        words: per text, the tokens as they read in the text (the exact characters each token
            covers, with the space before it), for display.
        scores: per text, one score per token: the attribution summed over the embedding
            dimension (0 exactly at special tokens when they are kept).
        targets: per text, what was attributed (the label name, or the output text).
        baseline: the baseline used (one of :data:`~pathattr.text.BASELINES` or a token id).
        kind: ``"classifier"``, ``"causal_lm"`` or ``"seq2seq"``.
        input_ids: the padded token ids ``(texts, tokens)`` fed to the model.
        attributed: ``(texts, tokens)`` True where the path ran (the baseline differs from
            the input); special tokens, padding and a continuation are False.
    """

    attribution: Attribution
    texts: list[str]
    tokens: list[list[str]]
    words: list[list[str]]
    scores: list[torch.Tensor]
    targets: list[str]
    baseline: str | int
    kind: str
    input_ids: torch.Tensor
    attributed: torch.Tensor

    @property
    def output(self) -> torch.Tensor:
        """F(x) per text (the target's logit, or the output text's log-probability)."""
        return self.attribution.output

    @property
    def baseline_output(self) -> torch.Tensor:
        """F(x′) per text, at the baseline embeddings."""
        return self.attribution.baseline_output

    @property
    def delta(self) -> torch.Tensor:
        """Completeness residual Σ scores − (F(x) − F(x′)) per text."""
        return self.attribution.delta

    @property
    def relative_delta(self) -> torch.Tensor:
        """|delta| / |F(x) − F(x′)| per text."""
        return self.attribution.relative_delta

    @property
    def evaluations(self) -> torch.Tensor:
        """Gradient evaluations spent per text."""
        return self.attribution.evaluations

    def to_html(self, *, scale: float | str = "shared", title: str | None = None) -> str:
        """The texts with every token coloured by its score (red +, blue −, grey ≈ 0).

        Args:
            scale: the score at which colours saturate: ``"shared"`` (default: the largest
                |score| over all texts, so texts compare), ``"per_text"`` (each text its own
                largest |score|), or a positive number.  The page states it.
            title: a heading for the page.
        """
        from pathattr.viz.text import texts_html

        return texts_html(self, scale=scale, title=title)

    def save_html(
        self, path: str | Path, *, scale: float | str = "shared", title: str | None = None
    ) -> Path:
        """Write :meth:`to_html` as a standalone page; returns the path."""
        from pathattr.viz.text import page

        out = Path(path)
        out.write_text(page(self.to_html(scale=scale, title=title)), encoding="utf-8")
        return out

    def _repr_html_(self) -> str:
        return self.to_html()

    def __repr__(self) -> str:
        rd = self.relative_delta
        rd = rd[torch.isfinite(rd)]
        worst = f"{float(rd.max()):.2e}" if rd.numel() else "n/a"
        return (
            f"TextAttribution(kind={self.kind}, texts={len(self.texts)}, "
            f"baseline={self.baseline!r}, targets={self.targets}, "
            f"relative_delta max={worst}, evaluations={self.attribution.total_evaluations})"
        )
