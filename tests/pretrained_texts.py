"""Texts that the attnlab.pretrained tests run through a real tokenizer and model: empty, one
character, accents, CJK, emoji, code, URLs, numbers, whitespace, and texts far longer than
all-MiniLM-L6-v2's 256 tokens, which must be truncated as the reference truncates them."""

import inspect
import json

VARIED = [
    "",
    "a",
    "?",
    "   leading and trailing spaces   ",
    "The quick brown fox jumps over the lazy dog.",
    "Déjà vu: Zoë's café in Zürich serves crème brûlée à la carte — naïve façade, Ångström.",
    "東京は日本の首都です。北京是中国的首都。서울은 한국의 수도입니다.",
    "🤗 Transformers 🚀 are 🔥🔥🔥 and 👩‍👩‍👧‍👦 families emoji ✨",
    "def fibonacci(n: int) -> int:\n    return n if n < 2 else fibonacci(n - 1) + fibonacci(n - 2)",
    "See https://example.com/path/to/page?query=1&lang=en#section or mail info@example.org",
    "3.14159 2,718 1e-9 -42 0x1F 1_000_000 $19.99 50% 12:30 2026-12-07",
    "Tabs\tand\nnewlines\r\nmixed\u00a0with non-breaking spaces and zero\u200bwidth",
    "ALL CAPS SHOUTING AND MiXeD CaSe",
    # Longer than 256 tokens: truncated to 256 (the [CLS] and [SEP] included).
    " ".join(["attention"] * 400),
    inspect.getsource(json.dumps),
    "東京" * 300,
    "The model reads the first part of a very long document. " * 40,
]
