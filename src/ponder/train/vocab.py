"""The nano vocabulary: the words and symbols a fresh nano model's tokenizer keeps whole, in order.

The model layer knows no task: ``ponder.model.Tokenizer`` takes its words as an argument. The
tasks declare the words their prompts and traces need (``ponder.tasks.WORDS``) and the revision
format its symbols (``ponder.search.revise.WORDS``); here, where a fresh model is made, they are
laid out. Token ids follow the order, and the shipped weights were trained with ``FIRST``'s, so
it never changes: a word declared since is appended after it. A saved model keeps its own
vocabulary (``ponder.json``), so loading one needs none of this.
"""

from __future__ import annotations

from ponder.model import Tokenizer
from ponder.search.revise import WORDS as REVISION_WORDS
from ponder.tasks import WORDS as TASK_WORDS

FIRST = ("countdown", "game24", "arith", "answer:", "->", "carry", "\n", "✗", "⁄", "✓", "…")
"""The words of the vocabulary the shipped models were trained with, in token-id order, written
out rather than gathered so that renaming a constant cannot move an id (nothing writes ``✓``)."""

LATER = ("direct", "parallel")
"""Words declared since the shipped vocabulary was laid out. They come after its number tokens,
so a fresh model's ids of every shipped token are the shipped ones (``Tokenizer.extended``)."""

NANO_WORDS = FIRST + tuple(w for w in dict.fromkeys((*TASK_WORDS, *REVISION_WORDS)) if w not in FIRST + LATER)
"""``FIRST``, then any word a task or the revision format declares that it lacks, but ``LATER``'s."""


def nano_tokenizer() -> Tokenizer:
    """The tokenizer of a fresh nano model: the shipped vocabulary, then ``LATER``."""
    return Tokenizer(words=NANO_WORDS).extended(LATER)
