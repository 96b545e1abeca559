import torch

from ponder.model import load_model, save_model


def test_forward_shapes_and_loss(tiny_model):
    x = torch.randint(0, 100, (3, 10))
    assert tiny_model(x).shape == (3, 10, tiny_model.cfg.vocab_size)
    y = x.clone()
    y[:, :4] = -100
    loss = tiny_model(x, y)
    assert loss.ndim == 0 and 5 < loss.item() < 9  # about log(vocab) at initialisation


def test_one_optimizer_step_changes_every_parameter_and_lowers_the_loss(tiny_model):
    model = tiny_model.train()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    x = torch.randint(0, 100, (4, 16))
    first = model(x, x).item()
    for _ in range(5):
        loss = model(x, x)
        loss.backward()
        opt.step()
        opt.zero_grad()
    assert model(x, x).item() < first
    for n, p in model.named_parameters():
        assert not torch.equal(before[n], p), n


def test_save_and_load_round_trip(tiny_model, tokenizer, tmp_path):
    path = save_model(tmp_path / "m", tiny_model, tokenizer, {"recipe": "test"})
    model, tok, meta = load_model(path)
    x = torch.randint(0, 100, (2, 7))
    assert torch.equal(model(x), tiny_model(x))
    assert meta["recipe"] == "test" and tok.vocab == tokenizer.vocab
    # tied embeddings are stored once
    from safetensors.torch import load_file
    assert "lm_head.weight" not in load_file(str(path / "model.safetensors"))


def test_decoding_keeps_the_embedding_table_until_a_weight_changes(tiny_model):
    """Without gradients the digit-feature table is summed once and kept; an optimizer step (or a
    load) changes a weight in place, and the next pass sums it again."""
    from dataclasses import replace

    from ponder.model import Transformer

    torch.manual_seed(0)
    tiny_model = Transformer(replace(tiny_model.cfg, number_tokens=(10, 40)))
    x = torch.randint(0, tiny_model.cfg.vocab_size, (2, 8))
    with torch.no_grad():
        before = tiny_model(x)
        assert tiny_model.embedding_matrix() is tiny_model.embedding_matrix()
    opt = torch.optim.SGD(tiny_model.parameters(), lr=0.5)
    tiny_model(x, x).backward()
    opt.step()
    with torch.inference_mode():
        after = tiny_model(x)
    assert not torch.allclose(before, after)
    assert torch.allclose(after, tiny_model(x).detach(), atol=1e-5)  # the same as with gradients
