import torch

from ponder.engine import Engine, Request
from ponder.engine.sampling import filter_logits, sample


def reference_greedy(model, prompt, n):
    """Greedy decoding the slow way: recompute the whole sequence at every step."""
    seq = list(prompt)
    for _ in range(n):
        seq.append(int(model(torch.tensor(seq)[None])[0, -1].argmax()))
    return seq[len(prompt):]


def test_greedy_matches_full_recompute_across_slots_and_lengths(tiny_model):
    engine = Engine(tiny_model, max_batch=3, block=4)
    requests = [Request(tuple(range(5, 5 + L)), n=2, temperature=0, max_tokens=12) for L in (3, 9, 17, 6)]
    out = engine.generate(requests)
    for req, samples in zip(requests, out):
        want = reference_greedy(tiny_model, req.prompt, 12)
        assert [s.tokens for s in samples] == [want, want]
        assert all(s.finish_reason == "length" for s in samples)


def test_prompt_is_computed_once_for_n_samples_and_prefixes_are_reused(tiny_model):
    engine = Engine(tiny_model, max_batch=8, block=4)
    prompt = tuple(range(10, 30))
    first = engine.generate([Request(prompt, n=4, temperature=1.0, seed=1, max_tokens=5)])[0]
    assert engine.stats.computed_prompt_tokens == len(prompt)
    assert [s.cached_tokens for s in first] == [0, 20, 20, 20]
    longer = prompt + (7, 8, 9)
    again = engine.generate([Request(longer, temperature=0, max_tokens=6)])[0][0]
    assert again.cached_tokens == 20  # five whole blocks of the earlier prompt
    assert again.tokens == reference_greedy(tiny_model, longer, 6)


def test_seeded_samples_do_not_depend_on_the_batch(tiny_model):
    engine = Engine(tiny_model, max_batch=4)
    alone = engine.generate([Request((1, 2, 3), n=3, temperature=1.0, seed=7, max_tokens=10)])[0]
    crowd = engine.generate([Request((4, 4), n=5, temperature=0.7, seed=1, max_tokens=20),
                             Request((1, 2, 3), n=3, temperature=1.0, seed=7, max_tokens=10)])[1]
    assert [s.tokens for s in alone] == [s.tokens for s in crowd]
    assert alone[0].tokens != alone[1].tokens
    other = engine.generate([Request((1, 2, 3), n=1, temperature=1.0, seed=8, max_tokens=10)])[0][0]
    assert other.tokens != alone[0].tokens


def test_stops(tiny_model):
    engine = Engine(tiny_model)
    free = engine.generate([Request((1, 2, 3), temperature=0, max_tokens=10)])[0][0].tokens
    stop_seq = tuple(free[3:5])
    cut = engine.generate([Request((1, 2, 3), temperature=0, max_tokens=10, stop_sequences=(stop_seq,))])[0][0]
    assert cut.finish_reason == "stop" and tuple(cut.tokens[-2:]) == stop_seq and len(cut.tokens) <= 5
    eos = engine.generate([Request((1, 2, 3), temperature=0, max_tokens=10, stop_tokens=frozenset({free[0]}))])[0][0]
    assert eos.tokens == [free[0]] and eos.finish_reason == "stop"


def test_context_limit_ends_with_length(tiny_model):
    engine = Engine(tiny_model)
    prompt = tuple([5] * (tiny_model.cfg.max_seq_len - 4))
    g = engine.generate([Request(prompt, temperature=0, max_tokens=100)])[0][0]
    assert g.finish_reason == "length" and len(prompt) + len(g.tokens) <= tiny_model.cfg.max_seq_len


def test_logprobs_are_the_models(tiny_model):
    engine = Engine(tiny_model)
    prompt = (3, 1, 4, 1, 5)
    g = engine.generate([Request(prompt, temperature=1.0, seed=3, max_tokens=6, logprobs=True)])[0][0]
    seq = torch.tensor(list(prompt) + g.tokens)[None]
    with torch.no_grad():
        logp = torch.log_softmax(tiny_model(seq)[0].float(), -1)
    want = [float(logp[len(prompt) - 1 + i, t]) for i, t in enumerate(g.tokens)]
    assert torch.allclose(torch.tensor(g.logprobs), torch.tensor(want), atol=1e-4)


def test_top_k_one_is_greedy(tiny_model):
    engine = Engine(tiny_model)
    a = engine.generate([Request((9, 8, 7), temperature=1.5, top_k=1, seed=0, max_tokens=8)])[0][0]
    b = engine.generate([Request((9, 8, 7), temperature=0, max_tokens=8)])[0][0]
    assert a.tokens == b.tokens


def test_sampling_follows_the_distribution():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]])).repeat(4000, 1)
    seeds = torch.arange(4000, dtype=torch.int64)
    steps = torch.zeros(4000, dtype=torch.int64)
    ones, zeros = torch.ones(4000), torch.zeros(4000, dtype=torch.int64)
    drawn = sample(logits, ones, zeros, torch.ones(4000, dtype=torch.float64), seeds, steps)
    freq = torch.bincount(drawn, minlength=4).float() / 4000
    assert torch.allclose(freq, torch.tensor([0.5, 0.3, 0.15, 0.05]), atol=0.03)
    nucleus = sample(logits, ones, zeros, torch.full((4000,), 0.7, dtype=torch.float64), seeds, steps)
    assert set(nucleus.tolist()) == {0, 1}  # 0.5 + 0.3 reaches 0.7; the tail is cut


def test_filters_on_literal_logits():
    logits = torch.tensor([[1.0, 3.0, 2.0, 0.0]])
    k2 = filter_logits(logits, torch.tensor([2]), torch.tensor([1.0], dtype=torch.float64))
    assert torch.isinf(k2[0, [0, 3]]).all() and torch.isfinite(k2[0, [1, 2]]).all()
    p = filter_logits(logits, torch.tensor([0]), torch.tensor([0.01], dtype=torch.float64))
    assert torch.isfinite(p).sum() == 1 and torch.isfinite(p[0, 1])
