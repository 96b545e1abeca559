import json
import subprocess
import sys

import pytest

from ponder.backends.nano import WEIGHTS
from ponder.model import Tokenizer
from ponder.tasks import WORDS as TASK_WORDS
from ponder.train.vocab import LATER, nano_tokenizer


def test_numbers_are_single_tokens(tokenizer):
    ids = tokenizer.encode("25 3 7 9 : 25 * 3 = 75 | 75 7 9")
    assert len(ids) == 14  # 4 numbers, ":", 5 for the step, "|", 3 numbers
    assert tokenizer.token_text(ids[0]) == "25"


@pytest.mark.parametrize("text", [
    "countdown 25 3 7 9 -> 66\n",
    "25 3 7 9 : 25 + 3 = 28 | 7 9 28 ✗\n28 7 9 ✗\nanswer: (25 * 3) - 9\n",
    "3 8 8 : 8 / 3 = 8⁄3 | 8 8⁄3\n",
    "arith 4 8 2 1 * 3 7\n1 * 7 + 0 = 7 | 7 carry 0\n",
])
def test_text_ponder_writes_decodes_back_exactly(tokenizer, text):
    assert tokenizer.decode(tokenizer.encode(text)) == text


def test_spaces_do_not_matter_and_unknowns_are_marked(tokenizer):
    assert tokenizer.encode("25+3=28") == tokenizer.encode("25 + 3 = 28")
    unk = tokenizer.encode("ü 123456")
    assert unk == [tokenizer.unk_id, tokenizer.unk_id]


def test_specials_and_persistence(tokenizer, tmp_path):
    ids = tokenizer.encode("1 + 1", bos=True, eos=True)
    assert ids[0] == tokenizer.bos_id and ids[-1] == tokenizer.eos_id
    assert tokenizer.decode(ids) == "1 + 1"
    tokenizer.save(tmp_path / "t.json")
    again = Tokenizer.load(tmp_path / "t.json")
    assert again.vocab == tokenizer.vocab and again.encode("answer: 3") == tokenizer.encode("answer: 3")


def test_the_newline_is_a_token_whatever_the_words():
    assert Tokenizer().vocab[4] == "\n" and Tokenizer(words=("a:", "\n", "b:")).vocab[4:7] == ["a:", "\n", "b:"]
    assert len(Tokenizer(words=("carry",)).encode("1 carry\n")) == 3 and len(Tokenizer().encode("1 carry\n")) == 7


@pytest.mark.shipped("nano-sft")
def test_a_fresh_model_gets_the_vocabulary_the_shipped_weights_were_trained_with():
    """Token ids are the order of the vocabulary: gathering the tasks' words must not move one."""
    shipped = json.loads((WEIGHTS / "nano-sft" / "ponder.json").read_text())["tokenizer"]["vocab"]
    fresh = nano_tokenizer()
    assert fresh.vocab[:len(shipped)] == shipped and fresh.vocab[len(shipped):] == list(LATER)
    assert set(TASK_WORDS) <= set(fresh.vocab)


@pytest.mark.shipped("nano-sft")
def test_loading_a_model_needs_no_task():
    """A model directory holds its whole vocabulary, so the model layer loads it with the tasks (and
    everything above the model) out of reach."""
    script = ("import sys\n"
              "for layer in ('tasks', 'engine', 'backends', 'rewards', 'search', 'train'):\n"
              "    sys.modules['ponder.' + layer] = None\n"
              "from ponder.model import load_model\n"
              f"_, tokenizer, _ = load_model({str(WEIGHTS / 'nano-sft')!r})\n"
              "print(tokenizer.decode(tokenizer.encode('countdown 25 3 -> 28\\n25 + 3 = 28 | 28 ✗')))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "countdown 25 3 -> 28\n25 + 3 = 28 | 28 ✗\n"
