import pytest

from ponder.model import Tokenizer


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
