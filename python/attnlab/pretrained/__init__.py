"""attnlab.pretrained: real pretrained encoders from their Hugging Face files, without torch.

>>> import attnlab as al
>>> encoder = al.pretrained.minilm()                      # doctest: +SKIP
>>> encoder.encode(["attention is all you need"]).shape   # doctest: +SKIP
(1, 384)

``load_bert(folder)`` gives the BERT encoder as an ``al.nn`` module (``al.record_attention``
records each layer's heads); weights come through ``safetensors``, text through the
``tokenizers`` package reading tokenizer.json. Nothing is downloaded, nothing is unpickled.
"""

from attnlab.pretrained.bert import BertConfig, BertModel
from attnlab.pretrained.minilm import minilm, minilm_path
from attnlab.pretrained.pooling import Pooling
from attnlab.pretrained.report import TagReport, tag_report
from attnlab.pretrained.sentence import SentenceEncoder
from attnlab.pretrained.tagger import TokenTagger
from attnlab.pretrained.tokenizer import Encoding, Tokenizer
from attnlab.pretrained.weights import load_bert

__all__ = [
    "BertConfig",
    "BertModel",
    "Encoding",
    "Pooling",
    "SentenceEncoder",
    "TagReport",
    "TokenTagger",
    "Tokenizer",
    "load_bert",
    "minilm",
    "minilm_path",
    "tag_report",
]
