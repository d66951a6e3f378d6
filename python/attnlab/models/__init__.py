"""Ready-made models that train in seconds on a CPU and record every attention weight:
GPT (decoder-only), EncoderClassifier (per sequence or per token), Seq2Seq (encoder-decoder).
Each has a Config dataclass that rebuilds it (``Model.from_config(model.config)``)."""

from attnlab.models.encoder_classifier import EncoderClassifier, EncoderClassifierConfig
from attnlab.models.gpt import GPT, GPTConfig
from attnlab.models.seq2seq import Seq2Seq, Seq2SeqConfig

__all__ = [
    "EncoderClassifier",
    "EncoderClassifierConfig",
    "GPT",
    "GPTConfig",
    "Seq2Seq",
    "Seq2SeqConfig",
]
