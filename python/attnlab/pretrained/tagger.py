"""TokenTagger: a linear head on a pretrained encoder, one label per token (Hugging Face's
BertForTokenClassification: dropout, then a linear classifier over the last hidden state)."""

from __future__ import annotations

import numpy as np

from attnlab import nn
from attnlab._validation import at_least, real_number
from attnlab.pretrained.bert import BertModel
from attnlab.tensor import Tensor


class TokenTagger(nn.Module):
    """``encoder`` (a BertModel, trained in place when its parameters require grad; freeze it
    with ``tagger.encoder.requires_grad_(False)`` to train the head alone), ``dropout`` and
    ``classifier`` (Linear(C, num_labels), weights ~ N(0, 0.02) and zero bias, as
    ``transformers`` initialises it). ``dropout`` defaults to the encoder's
    hidden_dropout_prob.

    ``tagger(input_ids, key_mask=None, token_type_ids=None)`` -> logits (B, T, num_labels),
    what ``al.fit`` trains on a "tagging" Task.
    """

    def __init__(
        self, encoder: BertModel, num_labels: int, *, dropout: float | None = None
    ) -> None:
        super().__init__()
        if not isinstance(encoder, BertModel):
            raise TypeError(
                f"encoder: expected an attnlab.pretrained.BertModel, got {type(encoder).__name__}"
            )
        num_labels = at_least(num_labels, "num_labels", 1)
        p = (
            encoder.config.hidden_dropout_prob
            if dropout is None
            else real_number(dropout, "dropout")
        )
        self.encoder = encoder
        self.dropout = nn.Dropout(p)
        dtype = encoder.embeddings.word_embeddings.weight.dtype
        self.classifier = nn.Linear(encoder.config.hidden_size, num_labels, dtype=dtype)
        nn.init.normal_(self.classifier.weight, 0.0, 0.02)
        nn.init.zeros_(self.classifier.bias)

    def forward(
        self,
        input_ids: np.ndarray,
        *,
        key_mask: np.ndarray | None = None,
        token_type_ids: np.ndarray | None = None,
    ) -> Tensor:
        hidden = self.encoder(input_ids, key_mask=key_mask, token_type_ids=token_type_ids)
        return self.classifier(self.dropout(hidden))  # (B, T, K)
