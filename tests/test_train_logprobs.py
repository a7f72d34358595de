"""Per-token log-probs and entropies: the chunked kernel against a direct formula, the model
path against full-vocabulary log-softmax, and what backward keeps."""
import pytest
import torch

from sandmle.train.logprobs import (accepts_logits_to_keep, response_columns, right_padded, selective_logprobs,
                                    sequence_logprobs)


def _reference(logits, targets, temperature):
    y = torch.log_softmax(logits.double() / temperature, dim=-1)
    return y.gather(-1, targets[:, None]).squeeze(-1), -(y.exp() * y).sum(-1)


@pytest.mark.parametrize("temperature", [1.0, 0.6])
@pytest.mark.parametrize("chunk_rows", [1, 3, 100])
def test_kernel_values_and_gradients_match_log_softmax(temperature, chunk_rows):
    torch.manual_seed(0)
    logits = torch.randn(7, 13, dtype=torch.float64, requires_grad=True)
    targets = torch.randint(0, 13, (7,))
    logp, entropy = selective_logprobs(logits, targets, temperature, chunk_bytes=4 * 13 * chunk_rows)
    ref_logp, ref_entropy = _reference(logits, targets, temperature)
    torch.testing.assert_close(logp.double(), ref_logp, atol=1e-6, rtol=0)
    torch.testing.assert_close(entropy.double(), ref_entropy, atol=1e-6, rtol=0)
    w_logp, w_ent = torch.randn(7, dtype=torch.float64), torch.randn(7, dtype=torch.float64)
    for use_entropy in (False, True):
        loss = (logp * w_logp).sum() + ((entropy * w_ent).sum() if use_entropy else 0)
        ref = (ref_logp * w_logp).sum() + ((ref_entropy * w_ent).sum() if use_entropy else 0)
        grad = torch.autograd.grad(loss, logits, retain_graph=True)[0]
        ref_grad = torch.autograd.grad(ref, logits, retain_graph=True)[0]
        torch.testing.assert_close(grad, ref_grad, atol=1e-6, rtol=0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_temperature_leaves_model_dtype_logits_untouched_and_gradients_right(dtype):
    """Float32 logits are the model's own tensor: scaling them in place would scale backward twice."""
    torch.manual_seed(1)
    base = torch.randn(6, 17, dtype=torch.float64).to(dtype)
    targets = torch.randint(0, 17, (6,))
    leaf = base.clone().requires_grad_(True)
    logits = leaf * 1.0
    before = logits.detach().clone()
    logp, entropy = selective_logprobs(logits, targets, 0.6, chunk_bytes=4 * 17 * 4)
    assert torch.equal(logits.detach(), before)
    (logp.sum() - 0.5 * entropy.sum()).backward()
    ref_leaf = base.double().requires_grad_(True)
    ref_logp, ref_entropy = _reference(ref_leaf, targets, 0.6)
    (ref_logp.sum() - 0.5 * ref_entropy.sum()).backward()
    atol = 1e-5 if dtype == torch.float32 else 2e-2
    torch.testing.assert_close(logp.double(), ref_logp, atol=atol * 10, rtol=0)
    torch.testing.assert_close(leaf.grad.double(), ref_leaf.grad, atol=atol, rtol=0)


def test_backward_keeps_only_the_logits_themselves():
    """No float32 copy of the vocabulary (nor a temperature-scaled one) is saved per token."""
    logits = torch.randn(64, 1000, dtype=torch.bfloat16, requires_grad=True)
    targets = torch.randint(0, 1000, (64,))
    saved = []

    def pack(tensor):
        saved.append(tensor)
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        logp, entropy = selective_logprobs(logits * 1.0, targets, temperature=0.7)
    vocab_sized = [t for t in saved if t.dim() == 2 and t.shape[-1] == 1000]
    assert len(vocab_sized) == 1 and vocab_sized[0].dtype == torch.bfloat16
    (logp.sum() + entropy.sum()).backward()
    assert logits.grad.dtype == torch.bfloat16 and torch.isfinite(logits.grad.float()).all()


def test_response_columns_are_the_trained_targets_or_one():
    mask = torch.tensor([[0, 1, 1, 0, 0], [0, 0, 0, 0, 1.0]])
    assert response_columns(mask).tolist() == [1, 2, 4]
    assert response_columns(torch.zeros(2, 5)).tolist() == [4]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    from transformers import AutoModelForCausalLM

    from sandmle.policies.tiny import build_tiny_model

    path = build_tiny_model(tmp_path_factory.mktemp("tiny"), seed=0)
    return AutoModelForCausalLM.from_pretrained(path)


@pytest.mark.parametrize("keep_logits", [True, False])
def test_model_path_matches_full_log_softmax_at_response_columns(tiny_model, keep_logits):
    torch.manual_seed(1)
    ids = torch.randint(0, tiny_model.config.vocab_size, (2, 12))
    attn = torch.ones_like(ids)
    attn[1, 10:] = 0
    mask = torch.zeros(2, 11)
    mask[0, 4:7] = 1
    mask[1, 6:9] = 1
    assert accepts_logits_to_keep(tiny_model)
    logp, entropy = sequence_logprobs(tiny_model, ids, attn, mask, temperature=0.8, keep_logits=keep_logits)
    full = tiny_model(input_ids=ids, attention_mask=attn).logits[:, :-1].double() / 0.8
    ref = torch.log_softmax(full, -1)
    ref_logp = ref.gather(-1, ids[:, 1:, None]).squeeze(-1)
    ref_entropy = -(ref.exp() * ref).sum(-1)
    cols = [4, 5, 6, 7, 8]
    torch.testing.assert_close(logp[:, cols].double(), ref_logp[:, cols], atol=1e-5, rtol=0)
    torch.testing.assert_close(entropy[:, cols].double(), ref_entropy[:, cols], atol=1e-5, rtol=0)
    others = [c for c in range(11) if c not in cols]
    assert logp[:, others].abs().sum() == 0 and entropy[:, others].abs().sum() == 0
    logp[mask.bool()].sum().backward()
    assert tiny_model.lm_head.weight.grad is not None or tiny_model.model.embed_tokens.weight.grad is not None
    tiny_model.zero_grad(set_to_none=True)


def test_padding_only_at_the_end_needs_no_mask_and_other_padding_keeps_it(tiny_model):
    torch.manual_seed(2)
    ids = torch.randint(0, tiny_model.config.vocab_size, (2, 12))
    mask = torch.zeros(2, 11)
    mask[:, 5:8] = 1
    right = torch.ones_like(ids)
    right[1, 9:] = 0
    left = torch.ones_like(ids)
    left[1, :3] = 0                                   # left padding: the mask must reach the model
    assert right_padded(right) and not right_padded(left)
    for attn in (right, left):
        logp, _ = sequence_logprobs(tiny_model, ids, attn, mask)
        ref = torch.log_softmax(tiny_model(input_ids=ids, attention_mask=attn).logits[:, :-1].double(), -1)
        ref_logp = ref.gather(-1, ids[:, 1:, None]).squeeze(-1)
        torch.testing.assert_close(logp[:, 5:8].double(), ref_logp[:, 5:8], atol=1e-5, rtol=0)
    unmasked = torch.log_softmax(tiny_model(input_ids=ids).logits[:, :-1].double(), -1)
    assert (unmasked.gather(-1, ids[:, 1:, None]).squeeze(-1)[1, 5:8] - ref_logp[1, 5:8]).abs().max() > 1e-4
