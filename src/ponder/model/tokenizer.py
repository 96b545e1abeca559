"""A small tokenizer: whole numbers are single tokens, everything else is a word or a character.

Search traces are long and sequence length is the main cost on a CPU, so ``28 7 9`` is three
tokens, not five characters. Spaces carry no information in ponder's formats, so they are not
tokens: decoding puts one space between tokens, none around a newline or the fraction bar, none
inside parentheses. Text
that ponder writes (tokens separated by single spaces) therefore decodes back exactly.

The vocabulary is a fixed list (specials, the words and symbols kept whole, printable ASCII,
numbers 0..max_number), so it can be written as a Hugging Face ``tokenizer.json`` (word-level
model). Which words are kept whole is the caller's to say: the model layer knows no task (the
tasks declare their words, and ``ponder.train.vocab`` lays out a fresh nano model's). A saved
tokenizer keeps its whole vocabulary, so loading one needs no word list.
"""

from __future__ import annotations

import json
import re
import string
from dataclasses import dataclass, field
from pathlib import Path

PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
SPECIALS = (PAD, BOS, EOS, UNK)
GLUE = frozenset({"⁄"})  # the fraction slash (U+2044): typography, written without spaces around it
OPENERS, CLOSERS = frozenset({"("}), frozenset({")"})  # no space after an opener or before a closer
NEWLINE = "\n"


@dataclass
class Tokenizer:
    max_number: int = 1000
    words: tuple[str, ...] = ()
    """Words and symbols kept whole, in token-id order after the specials (the layers above declare
    them). The newline is always a token: first after the specials, unless ``words`` places it."""
    vocab: list[str] = field(default_factory=list)
    """The whole vocabulary, built from the fields above when not given (a saved tokenizer gives it)."""

    def __post_init__(self) -> None:
        if not self.vocab:
            words = self.words if NEWLINE in self.words else (NEWLINE, *self.words)
            ascii_chars = [c for c in string.printable if not c.isspace() and not c.isdigit()]
            self.vocab = [*SPECIALS, *words, *ascii_chars, *(str(i) for i in range(self.max_number + 1))]
        self.index = {tok: i for i, tok in enumerate(self.vocab)}
        if len(self.index) != len(self.vocab):
            raise ValueError("duplicate tokens in vocabulary")
        words = sorted((w for w in self.vocab if len(w) > 1 and not w.isdigit() and w not in SPECIALS), key=len, reverse=True)
        self._pattern = re.compile("|".join([*map(re.escape, SPECIALS), *map(re.escape, words), r"\d+", r"\n", r"\S"]))
        self.pad_id, self.bos_id, self.eos_id, self.unk_id = (self.index[s] for s in SPECIALS)
        self.newline_id = self.index[NEWLINE]

    def __len__(self) -> int:
        return len(self.vocab)

    @property
    def pattern(self) -> str:
        """The regular expression that cuts text into tokens (specials, words, numbers, newline,
        any other non-space character); an export writes it as a Hugging Face pre-tokenizer."""
        return self._pattern.pattern

    @property
    def number_range(self) -> tuple[int, int]:
        """(first id, count) of the number tokens 0, 1, ..., max_number (contiguous)."""
        return self.index["0"], self.max_number + 1

    def encode(self, text: str, bos: bool = False, eos: bool = False) -> list[int]:
        ids = [self.bos_id] if bos else []
        for piece in self._pattern.findall(text):
            if piece.isdigit() and piece not in self.index:
                piece = str(int(piece)) if int(piece) <= self.max_number else UNK
            ids.append(self.index.get(piece, self.unk_id))
        if eos:
            ids.append(self.eos_id)
        return ids

    def decode(self, ids, skip_special: bool = True) -> str:
        out: list[str] = []
        prev = NEWLINE
        for i in ids:
            tok = self.vocab[int(i)]
            if skip_special and tok in SPECIALS:
                continue
            if out and not (prev == NEWLINE or tok == NEWLINE or prev in GLUE or tok in GLUE
                            or prev in OPENERS or tok in CLOSERS):
                out.append(" ")
            out.append(tok)
            prev = tok
        return "".join(out)

    def extended(self, words) -> "Tokenizer":
        """This tokenizer with ``words`` appended to the vocabulary (ids of existing tokens keep
        their meaning, so a model needs only new embedding rows; see ``resize_vocab``)."""
        new = [w for w in words if w not in self.index]
        return Tokenizer(max_number=self.max_number, words=self.words, vocab=self.vocab + new)

    def token_text(self, i: int) -> str:
        return self.vocab[int(i)]

    # -- persistence

    def to_dict(self) -> dict:
        return {"kind": "ponder-numbers", "max_number": self.max_number, "vocab": self.vocab}

    @classmethod
    def from_dict(cls, d: dict) -> "Tokenizer":
        if d.get("kind") != "ponder-numbers":
            raise ValueError(f"not a ponder tokenizer: kind={d.get('kind')!r}")
        return cls(max_number=d["max_number"], vocab=list(d["vocab"]))

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), ensure_ascii=False))

    @classmethod
    def load(cls, path: str | Path) -> "Tokenizer":
        return cls.from_dict(json.loads(Path(path).read_text()))
