"""M-Former routing, load balancing and expert batching, checked against numbers worked out by hand."""

import pytest
import torch

from laserrec.models.laser.mformer import MFormer, load_balancing_loss, router_weights

# W_r rows: expert 0 reads c[0], expert 1 reads c[1], expert 2 reads 0.75 * c[2].
W_R = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.75]])
# Sequence A: two real positions (logits [1, 0, 1.5] and [0, 1, -0.75]).
C_A = torch.tensor([[1.0, 0.0, 2.0], [0.0, 1.0, -1.0]])
# Sequence B: a padded position (must be ignored) then one real position (logits [0, 2, 0]).
C_B = torch.tensor([[9.0, 9.0, 9.0], [0.0, 2.0, 0.0]])
MASK = torch.tensor([[True, True], [False, True]])
# softmax([1, 0, 1.5]) = [.331499, .121952, .546549]; softmax([0, 1, -.75]) = [.238627, .648654, .112719]
W_A = [0.285063, 0.385303, 0.329634]  # their mean
W_B = [0.106507, 0.786986, 0.106507]  # softmax([0, 2, 0])


def _mformer(k: int = 3, top_k: int = 2) -> MFormer:
    torch.manual_seed(0)
    m = MFormer(
        d_c=3, d_llm=10, n_experts=k, n_queries=4, top_k=top_k, n_blocks=3, d_model=8, n_heads=2, dropout=0.0
    )
    with torch.no_grad():
        m.router.weight.copy_(W_R)
    return m


def test_router_weights_and_top_k_by_hand():
    probs, weights = _mformer().route(torch.stack([C_A, C_B]), MASK)
    assert weights.shape == (2, 3)
    assert torch.allclose(weights[0], torch.tensor(W_A), atol=1e-5)
    assert torch.allclose(weights[1], torch.tensor(W_B), atol=1e-5)  # padded row [9, 9, 9] ignored
    assert weights[0].topk(2).indices.tolist() == [1, 2]
    assert weights[1].topk(2).indices.tolist()[0] == 1


def test_load_balancing_loss_by_hand():
    probs, weights = _mformer().route(torch.stack([C_A, C_B]), MASK)
    # arg-max experts over the 3 real positions: 2, 1 (seq A) and 1 (seq B) -> f = [0, 2/3, 1/3]
    # w_bar = mean(W_A, W_B) = [.195785, .586145, .218071]; L_LB = 3 * (2/3 * .586145 + 1/3 * .218071)
    assert load_balancing_loss(probs, MASK, weights).item() == pytest.approx(1.390360, abs=1e-5)
    one = load_balancing_loss(probs[:1], MASK[:1], weights[:1])  # f = [0, .5, .5]
    assert one.item() == pytest.approx(3 * 0.5 * (W_A[1] + W_A[2]), abs=1e-5)


def test_router_weights_all_real_is_plain_mean():
    probs = torch.tensor([[[0.2, 0.8], [0.6, 0.4]]])
    assert router_weights(probs, torch.tensor([[True, True]]))[0].tolist() == pytest.approx([0.4, 0.6])


def test_forward_shapes_and_batched_experts_match_one_sequence_at_a_time():
    m = _mformer().eval()
    c, mask = torch.stack([C_A, C_B]), MASK
    prefix, lb, weights = m(c, mask)
    assert prefix.shape == (2, 4, 10) and lb.ndim == 0 and weights.shape == (2, 3)
    for b in range(2):
        alone, _, _ = m(c[b : b + 1], mask[b : b + 1])
        assert torch.allclose(prefix[b], alone[0], atol=1e-5)


def test_only_selected_experts_and_raw_weights_shape_the_output():
    m = _mformer().eval()
    c = torch.stack([C_A]).clone()
    mask = MASK[:1]
    before, _, _ = m(c, mask)
    with torch.no_grad():
        m.queries[0].add_(torch.randn(4, 8))  # expert 0 is not in seq A's top-2 (experts 1 and 2)
    after, _, _ = m(c, mask)
    assert torch.allclose(before, after)
    with torch.no_grad():
        m.queries[1].add_(torch.randn(4, 8))
    assert not torch.allclose(before, m(c, mask)[0])


def test_cross_attention_in_alternate_blocks_and_gradients_reach_router():
    m = _mformer()
    assert [b.cross_attn is not None for b in m.blocks] == [True, False, True]
    prefix, lb, _ = m(torch.stack([C_A, C_B]), MASK)
    (prefix.square().mean() + lb).backward()
    assert m.router.weight.grad.abs().sum() > 0 and m.queries.grad.abs().sum() > 0


def test_prefix_starts_near_out_std_and_an_adam_step_on_the_projection_moves_it_a_little():
    torch.manual_seed(0)
    m = MFormer(
        16,
        64,
        n_experts=3,
        n_queries=4,
        top_k=2,
        n_blocks=2,
        d_model=32,
        n_heads=2,
        dropout=0.0,
        out_std=0.02,
    )
    c, mask = torch.randn(64, 5, 16), torch.ones(64, 5, dtype=torch.bool)
    before = m(c, mask)[0]
    assert 0.3 * 0.02 < before.std().item() < 0.02  # out_std times the raw top-k weights' sum (< 1)
    opt = torch.optim.AdamW(m.to_llm.parameters(), lr=1e-3)
    before.pow(2).sum().backward()  # Adam's first step moves every weight by ~lr, whatever the loss
    opt.step()
    with torch.no_grad():
        change = (m(c, mask)[0] - before).norm() / before.norm()
    # with out_std folded into the weights (std 0.02 / sqrt(32)) the same step changed the prefix by 89%
    assert change.item() < 0.05
