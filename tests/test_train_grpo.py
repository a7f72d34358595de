"""GRPO maths against direct formulas written as plain Python loops."""
import math
import random

import pytest
import torch

from sandmle.train.grpo import LossNorm, aggregate, group_advantages, kl_k3, policy_loss


def _std(values):
    m = sum(values) / len(values)
    return math.sqrt(sum((v - m) ** 2 for v in values) / (len(values) - 1))


def test_advantages_match_direct_formula_with_std():
    rewards = [0.1, 0.5, 0.9, 0.4, 1.0, 0.0, 0.0, 0.3]
    groups = [0, 0, 0, 0, 1, 1, 1, 1]
    adv, zero_var = group_advantages(torch.tensor(rewards), torch.tensor(groups), eps=1e-6)
    for i, (r, g) in enumerate(zip(rewards, groups)):
        members = [rr for rr, gg in zip(rewards, groups) if gg == g]
        expected = (r - sum(members) / len(members)) / (_std(members) + 1e-6)
        assert adv[i].item() == pytest.approx(expected, rel=1e-5)
    assert not zero_var.any()


def test_advantages_without_std_are_centred_rewards():
    rewards = [0.2, 0.6, 1.0, 0.2]
    adv, _ = group_advantages(torch.tensor(rewards), torch.tensor([3, 3, 3, 3]), normalize_std=False)
    mean = sum(rewards) / 4
    assert adv.tolist() == pytest.approx([r - mean for r in rewards], abs=1e-6)


def test_zero_variance_group_gets_zero_advantage_and_is_marked():
    adv, zero_var = group_advantages(torch.tensor([0.4, 0.4, 0.1, 0.9]), torch.tensor([0, 0, 1, 1]))
    assert adv[:2].tolist() == [0.0, 0.0]
    assert zero_var.tolist() == [True, True, False, False]


def test_masked_rollouts_are_left_out_of_group_statistics():
    rewards = torch.tensor([0.0, 1.0, 0.5, 100.0])
    keep = torch.tensor([True, True, True, False])
    adv, _ = group_advantages(rewards, torch.zeros(4, dtype=torch.long), keep=keep, eps=1e-6)
    kept = [0.0, 1.0, 0.5]
    m, s = sum(kept) / 3, _std(kept)
    assert adv[:3].tolist() == pytest.approx([(r - m) / (s + 1e-6) for r in kept], rel=1e-5)
    assert adv[3].item() == 0.0


def _direct_loss(logp, old, adv, mask, low, high, mode, norm_tokens):
    """Plain-loop clipped loss over nested lists."""
    per_token = []
    for b in range(len(logp)):
        row = []
        for t in range(len(logp[b])):
            ratio = math.exp(logp[b][t] - old[b][t])
            clipped_ratio = min(max(ratio, 1 - low), 1 + high)
            row.append(max(-adv[b] * ratio, -adv[b] * clipped_ratio))
        per_token.append(row)
    return _direct_agg(per_token, mask, mode, norm_tokens)


def _direct_agg(values, mask, mode, norm_tokens):
    seqs = [b for b in range(len(values)) if sum(mask[b]) > 0]
    total = sum(values[b][t] * mask[b][t] for b in range(len(values)) for t in range(len(values[b])))
    tokens = sum(sum(m) for m in mask)
    if mode == "token-mean":
        return total / tokens
    if mode == "seq-mean-token-mean":
        return sum(sum(values[b][t] * mask[b][t] for t in range(len(values[b]))) / sum(mask[b])
                   for b in seqs) / len(seqs)
    return total / (len(seqs) * norm_tokens)


def _random_batch(seed, B=4, T=7, spread=0.6):
    rng = random.Random(seed)
    logp = [[-rng.uniform(0.1, 3.0) for _ in range(T)] for _ in range(B)]
    old = [[v + rng.uniform(-spread, spread) for v in row] for row in logp]
    adv = [rng.uniform(-2, 2) for _ in range(B)]
    mask = [[1 if rng.random() < 0.7 else 0 for _ in range(T)] for _ in range(B)]
    mask[0] = [0] * T          # a sequence with no loss tokens (masked episode)
    mask[1][0] = 1
    return logp, old, adv, mask


@pytest.mark.parametrize("mode", ["token-mean", "seq-mean-token-mean", "seq-mean-token-sum-norm"])
def test_policy_loss_matches_direct_formula_for_each_aggregation(mode):
    logp, old, adv, mask = _random_batch(1)
    loss, stats = policy_loss(torch.tensor(logp, dtype=torch.float64), torch.tensor(old, dtype=torch.float64),
                              torch.tensor(adv, dtype=torch.float64), torch.tensor(mask, dtype=torch.float64),
                              loss_agg=mode, norm=LossNorm.of(torch.tensor(mask, dtype=torch.float64), 10.0))
    assert loss.item() == pytest.approx(_direct_loss(logp, old, adv, mask, 0.2, 0.28, mode, 10.0), rel=1e-9)
    assert stats["pg_loss"] == pytest.approx(loss.item())


def test_clipping_at_both_bounds_and_clip_fractions():
    # ratios 2.0 (above 1.28) and 0.5 (below 0.8) with both advantage signs
    logp = torch.log(torch.tensor([[2.0, 0.5, 1.0, 2.0, 0.5]], dtype=torch.float64)).repeat(2, 1)
    old = torch.zeros_like(logp)
    adv = torch.tensor([1.0, -1.0], dtype=torch.float64)
    mask = torch.ones_like(logp)
    loss, stats = policy_loss(logp, old, adv, mask, loss_agg="token-mean")
    # A>0: ratio 2 clipped to 1.28 (active), ratio .5 not clipped (min chosen is -.5)
    row_pos = [-1.28, -0.5, -1.0, -1.28, -0.5]
    # A<0: ratio .5 clipped to .8 (active), ratio 2 unclipped (2.0)
    row_neg = [2.0, 0.8, 1.0, 2.0, 0.8]
    assert loss.item() == pytest.approx(sum(row_pos + row_neg) / 10)
    assert stats["clip_frac"] == pytest.approx(4 / 10)
    assert stats["clip_frac_high"] == pytest.approx(2 / 10)
    assert stats["clip_frac_low"] == pytest.approx(2 / 10)
    # gradient flows only through unclipped tokens
    logp_var = logp.clone().requires_grad_(True)
    policy_loss(logp_var, old, adv, mask, loss_agg="token-mean")[0].backward()
    zero = (logp_var.grad == 0).tolist()
    assert zero == [[True, False, False, True, False], [False, True, False, False, True]]


def test_kl_k3_and_entropy_terms_enter_the_loss():
    logp, old, adv, mask = _random_batch(2)
    rng = random.Random(5)
    ref = [[v + rng.uniform(-0.5, 0.5) for v in row] for row in logp]
    ent = [[rng.uniform(0, 2) for _ in row] for row in logp]
    t = lambda x: torch.tensor(x, dtype=torch.float64)
    loss, stats = policy_loss(t(logp), t(old), t(adv), t(mask), ref_logp=t(ref), kl_coef=0.3,
                              entropy=t(ent), entropy_coef=0.05)
    kl = [[math.exp(r - l) - (r - l) - 1 for r, l in zip(rr, ll)] for rr, ll in zip(ref, logp)]
    mode = "seq-mean-token-mean"
    expected = (_direct_loss(logp, old, adv, mask, 0.2, 0.28, mode, 1.0)
                + 0.3 * _direct_agg(kl, mask, mode, 1.0) - 0.05 * _direct_agg(ent, mask, mode, 1.0))
    assert loss.item() == pytest.approx(expected, rel=1e-9)
    assert stats["kl"] == pytest.approx(_direct_agg(kl, mask, mode, 1.0))
    assert kl_k3(t(logp), t(logp)).abs().max().item() == 0.0


def test_microbatch_losses_sum_to_the_full_batch_loss():
    logp, old, adv, mask = _random_batch(3, B=6)
    t = lambda x: torch.tensor(x, dtype=torch.float64)
    for mode in ("token-mean", "seq-mean-token-mean", "seq-mean-token-sum-norm"):
        norm = LossNorm.of(t(mask), 7.0)
        full = policy_loss(t(logp), t(old), t(adv), t(mask), loss_agg=mode, norm=norm)[0]
        parts = sum(policy_loss(t(logp[i:i + 2]), t(old[i:i + 2]), t(adv[i:i + 2]), t(mask[i:i + 2]),
                                loss_agg=mode, norm=norm)[0] for i in (0, 2, 4))
        assert parts.item() == pytest.approx(full.item(), rel=1e-12)


def test_aggregate_rejects_unknown_mode():
    with pytest.raises(ValueError, match="unknown loss aggregation"):
        aggregate(torch.ones(1, 2), torch.ones(1, 2), "sum", LossNorm(2, 1))


def test_unusable_rollouts_do_not_move_the_baseline():
    # Two identical successes and two rollouts ended by an HTTP 503: nothing to learn.
    rewards = torch.tensor([0.7, 0.7, 0.0, 0.0])
    adv, zero_var = group_advantages(rewards, torch.zeros(4, dtype=torch.long),
                                     keep=torch.tensor([True, True, False, False]))
    assert adv.tolist() == [0.0, 0.0, 0.0, 0.0] and zero_var.tolist() == [True, True, False, False]


def test_nonfinite_rewards_never_reach_group_statistics():
    rewards = torch.tensor([1.0, 0.0, float("nan"), float("inf"), 1.0, 0.0])
    groups = torch.tensor([0, 0, 0, 0, 1, 1])
    adv, _ = group_advantages(rewards, groups)
    assert torch.isfinite(adv).all()
    clean, _ = group_advantages(torch.tensor([1.0, 0.0, 1.0, 0.0]), torch.tensor([0, 0, 1, 1]))
    assert adv[[0, 1, 4, 5]].tolist() == clean.tolist() and adv[2:4].tolist() == [0.0, 0.0]


def test_sequences_of_one_episode_count_once_and_share_its_advantage():
    rewards = torch.tensor([1.0, 1.0, 1.0, 0.0])
    episodes = torch.tensor([0, 0, 0, 1])          # episode 0 was cut into three sequences
    adv, _ = group_advantages(rewards, torch.zeros(4, dtype=torch.long), episodes=episodes)
    two, _ = group_advantages(torch.tensor([1.0, 0.0]), torch.zeros(2, dtype=torch.long))
    assert adv.tolist() == [two[0].item()] * 3 + [two[1].item()]


def test_logp_mismatch_is_reported_and_tis_weights_are_capped():
    torch.manual_seed(0)
    logp = torch.randn(2, 5) - 2.0
    mask = torch.tensor([[0, 1, 1, 1, 0], [1, 1, 1, 1, 1]], dtype=torch.float32)
    known = torch.ones_like(mask)
    known[1, 4] = 0.0                              # no behaviour log-prob for this token
    behaviour = logp - torch.tensor([[0.0, 0.1, -0.3, 0.2, 9.0], [0.5, 0.0, 0.0, 0.0, 9.0]])
    adv = torch.tensor([1.0, -1.0])
    _, stats = policy_loss(logp, logp, adv, mask, behaviour_logp=behaviour, behaviour_mask=known)
    expected = [0.1, 0.3, 0.2, 0.5, 0.0, 0.0, 0.0]
    assert stats["logp_mismatch_mean"] == pytest.approx(sum(expected) / 7, abs=1e-6)
    assert stats["logp_mismatch_max"] == pytest.approx(0.5, abs=1e-6)
    plain, _ = policy_loss(logp, logp, adv, mask, loss_agg="token-mean")
    tis, tstats = policy_loss(logp, logp, adv, mask, loss_agg="token-mean", behaviour_logp=behaviour,
                              behaviour_mask=known, tis_cap=1.2)
    weights = torch.exp(logp - behaviour).clamp(max=1.2) * known + (1 - known)
    direct = (-adv.unsqueeze(-1) * weights * mask).sum() / mask.sum()
    assert float(tis) == pytest.approx(float(direct), abs=1e-6) and float(tis) != pytest.approx(float(plain))
    assert tstats["tis_clip_frac"] == pytest.approx(2 / 7, abs=1e-6)   # exp(0.2), exp(0.5) > 1.2
