"""Text: Integrated Gradients for 🤗 models, token by token.

:func:`integrated_gradients` takes a 🤗 model, its tokenizer and a list of strings, and
attributes a target (a class index or label name for a classifier; an output text for a causal
LM or an encoder–decoder model) to the input tokens.  The IG paper's recipe for text is used:
the path runs in the space of the **word embeddings** (``model.get_input_embeddings()``), from
a baseline embedding to the text's embedding; position and token-type embeddings are added
inside the model at every step, so they stay real and are not attributed.  One token's score
is its attribution summed over the embedding dimension; the scores add up to F(x) − F(x′).

This is layer Integrated Gradients at the word-embedding layer (the same numbers as
:func:`pathattr.layer_integrated_gradients` and Captum's ``LayerIntegratedGradients`` on that
layer, which the tests check), run as plain :func:`pathattr.integrated_gradients` on the
embeddings fed to the model as ``inputs_embeds``: the embedding lookup is computed once, and
a baseline can be given in embedding space (``"zero"``, ``"mean"``) as well as as token ids.

The baselines (``"pad"``, ``"zero"``, ``"mean"``, ``"mask"``, ``"unk"`` or a token id) and
which tokens move to them are described in :mod:`pathattr.text.baselines`.

Install with ``pip install 'pathattr[text]'``.  Nothing is downloaded: load models and
tokenizers from local folders (``HF_HUB_OFFLINE=1``).

Where things are:

* :mod:`~pathattr.text.attribute`: :func:`integrated_gradients`;
* :mod:`~pathattr.text.result`: :class:`TextAttribution`, what it returns;
* :mod:`~pathattr.text.classifier`: :class:`SentenceClassifier` (encoder + pooling + head);
* :mod:`~pathattr.text.tokens`: tokenisation into one padded batch, each token's text;
* :mod:`~pathattr.text.baselines`: the baseline embeddings and the tokens they apply to;
* :mod:`~pathattr.text.model`: what is read from the model (kind, embedding layer, logits);
* :mod:`~pathattr.text.prepared`: what one model kind hands to the engine, and its check;
* :mod:`~pathattr.text.classifier_kind`: ``kind="classifier"`` (a class logit);
* :mod:`~pathattr.text.sequence_kinds`: ``kind="causal_lm"`` and ``kind="seq2seq"`` (an
  output text's log-probability);
* :mod:`~pathattr.text.positions`: ``positions=True`` (position embeddings on the path too).
"""

from pathattr.text.attribute import integrated_gradients
from pathattr.text.baselines import BASELINES
from pathattr.text.classifier import SentenceClassifier
from pathattr.text.model import KINDS
from pathattr.text.prepared import TextTarget
from pathattr.text.result import TextAttribution

__all__ = [
    "BASELINES",
    "KINDS",
    "SentenceClassifier",
    "TextAttribution",
    "TextTarget",
    "integrated_gradients",
]
