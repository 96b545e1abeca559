import pytest
import torch

from ponder.model import ModelConfig, Tokenizer, Transformer


@pytest.fixture(scope="session")
def tokenizer():
    return Tokenizer()


@pytest.fixture
def tiny_model(tokenizer):
    """A small random model: enough to test the machinery, not to solve anything."""
    torch.manual_seed(0)
    cfg = ModelConfig(vocab_size=len(tokenizer), d_model=32, n_layers=2, n_heads=4, n_kv_heads=2, d_ff=64, max_seq_len=256)
    return Transformer(cfg).eval()


def assert_same_parameters(path_a, path_b) -> None:
    """The models saved in two directories have bit-identical parameters (exact resume)."""
    from ponder.model import load_model

    a, _, _ = load_model(path_a)
    b, _, _ = load_model(path_b)
    for (name, pa), (_, pb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(pa, pb), name
