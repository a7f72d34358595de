"""SFT data: both line formats, the filters GRPO shares, and sequences identical to a rollout's."""
import dataclasses
import json
import math

import pytest

from sandmle.errors import UserError
from sandmle.policies import make_policy
from sandmle.policies.tiny import PROTOCOL_TOKENS, SPECIAL_TOKENS, build_tokenizer
from sandmle.rollout.episode import save_episodes, save_sft, to_sft
from sandmle.rollout.runner import RolloutConfig, run_episodes
from sandmle.rollout.tokens import training_sequences
from sandmle.sandbox.pool import Pool
from sandmle.train.sft_data import (DataStats, read_records, select_records, tokenize_record, tokenize_records,
                                    tokenizer_corpus)


@pytest.fixture(scope="module")
def tokenizer():
    return build_tokenizer()


@pytest.fixture(scope="module")
def rollouts(tmp_path_factory, tokenizer):
    """Scripted short-style episodes on two fixture tasks, played with the tiny tokenizer, so
    each turn records the ids a rollout trains on."""
    from conftest import build_task

    root = tmp_path_factory.mktemp("sft-data")
    tasks = [build_task(root / "bank", "auc", task_id="a"), build_task(root / "bank", "rmse", task_id="b")]
    with Pool(num_workers=2) as pool:
        episodes = run_episodes(make_policy("scripted:strong:short"), tasks * 2, pool, RolloutConfig(max_turns=4),
                                tokenizer=tokenizer, work_root=root / "work", seed=0, split="train")
    assert all(ep.termination == "answered" for ep in episodes)
    return episodes


def _strip_ids(ep):
    steps = tuple(dataclasses.replace(s, prompt_ids=None, completion_ids=None, logprobs=None, tokenised=False,
                                      prompt_extends=False) for s in ep.steps)
    return dataclasses.replace(ep, steps=steps)


def _records(tmp_path, episodes, name="eps.jsonl"):
    save_episodes(tmp_path / name, episodes)
    return read_records([tmp_path / name])


def test_text_episodes_train_on_the_sequences_a_rollout_records(tmp_path, rollouts, tokenizer):
    """A text-only episode (as the scripted teacher writes them) is replayed to exactly the ids
    and loss masks GRPO builds from the same turns recorded with this tokenizer."""
    records = _records(tmp_path, [_strip_ids(ep) for ep in rollouts])
    for record, ep in zip(records, rollouts):
        [seq] = tokenize_record(tokenizer, record, 100_000)
        [expected] = training_sequences(ep.steps)
        assert not seq.recorded_ids
        assert seq.input_ids == expected.input_ids and seq.loss_mask == expected.loss_mask


def test_recorded_ids_are_used_as_they_are(tmp_path, rollouts, tokenizer):
    [record] = _records(tmp_path, rollouts[:1])
    [seq] = tokenize_record(tokenizer, record, 100_000)
    [expected] = training_sequences(rollouts[0].steps)
    assert seq.recorded_ids and seq.input_ids == expected.input_ids


def test_ids_of_another_tokenizer_are_replayed(tmp_path, rollouts):
    other = build_tokenizer(vocab_size=400)
    [record] = _records(tmp_path, rollouts[:1])
    [seq] = tokenize_record(other, record, 100_000)
    assert not seq.recorded_ids
    assert max(seq.input_ids) < len(other)


def test_the_loss_covers_the_assistant_turns_only(tmp_path, rollouts, tokenizer):
    [record] = _records(tmp_path, rollouts[:1])
    [seq] = tokenize_record(tokenizer, record, 100_000)
    trained = tokenizer.decode([i for i, m in zip(seq.input_ids, seq.loss_mask) if m])
    assistant = "".join(m["content"] for m in rollouts[0].messages if m["role"] == "assistant")
    assert trained == assistant
    assert "<tool_response>" not in trained and "task-card" not in trained


def test_chat_records_tokenise_like_their_episode(tmp_path, rollouts, tokenizer):
    save_sft(tmp_path / "chat.jsonl", to_sft(rollouts))
    chats = read_records([tmp_path / "chat.jsonl"])
    assert [c.split for c in chats] == ["train"] * len(rollouts)
    for chat, ep in zip(chats, rollouts):
        [seq] = tokenize_record(tokenizer, chat, 100_000)
        assert seq.input_ids == training_sequences(ep.steps)[0].input_ids


def test_a_prefilled_think_is_not_trained_on(tmp_path, rollouts):
    """With a template whose generation prompt opens <think>, the completion is what follows it."""
    tok = build_tokenizer(template="think-prefill")
    [record] = _records(tmp_path, rollouts[:1])
    [seq] = tokenize_record(tok, record, 100_000)
    trained = tok.decode([i for i, m in zip(seq.input_ids, seq.loss_mask) if m])
    assert not trained.startswith("<think>") and trained.count("</think>") == 3


def test_long_sequences_are_cut_and_long_prompts_left_out(tmp_path, rollouts, tokenizer):
    [record] = _records(tmp_path, rollouts[:1])
    [full] = tokenize_record(tokenizer, record, 100_000)
    prompt = full.loss_mask.index(1)
    [cut] = tokenize_record(tokenizer, record, prompt + 5)
    assert cut.cut and cut.input_ids == full.input_ids[:prompt + 5]
    assert tokenize_record(tokenizer, record, prompt) == "prompt_over_budget"


def test_filters_share_grpos_usable_rule(tmp_path, rollouts):
    base = rollouts[0]
    variants = [
        base,
        dataclasses.replace(base, episode_id="err", termination="policy_error", terminated=False, error="503"),
        dataclasses.replace(base, episode_id="nan", reward=math.nan),
        dataclasses.replace(base, episode_id="slow", timed_out=True),
        dataclasses.replace(base, episode_id="poor", reward=base.reward - 0.05),
        dataclasses.replace(base, episode_id="other", split="heldout"),
    ]
    save_episodes(tmp_path / "v.jsonl", [v for v in variants if v.episode_id != "nan"])
    (tmp_path / "v.jsonl").write_text((tmp_path / "v.jsonl").read_text()
                                      + json.dumps({**variants[2].to_json(), "reward": "NaN"}).replace('"NaN"', "NaN") + "\n")
    records = read_records([tmp_path / "v.jsonl"])
    stats = DataStats()
    kept = select_records(records, min_reward=base.reward, splits=("train",), stats=stats)
    assert [r.episode_id for r in kept] == [base.episode_id]
    assert dict(stats.left_out) == {"policy_error": 1, "nonfinite_reward": 1, "timed_out": 1,
                                    "below_min_reward": 1, "other_split": 1}
    assert "slow" in [r.episode_id for r in select_records(records, include_timeouts=True)]


def test_a_reward_filter_needs_rewards(tmp_path):
    (tmp_path / "chat.jsonl").write_text(json.dumps({"messages": [{"role": "user", "content": "hi"},
                                                                  {"role": "assistant", "content": "yo"}]}) + "\n")
    records = read_records([tmp_path / "chat.jsonl"])
    assert len(select_records(records)) == 1
    with pytest.raises(UserError, match="without a \"reward\""):
        select_records(records, min_reward=0.5)


@pytest.mark.parametrize("line, message", [
    ("{not json", "not JSON"),
    (json.dumps({"text": "hi"}), "neither a sandmle episode nor a chat record"),
    (json.dumps({"messages": [{"role": "user"}]}), "string \"role\" and \"content\""),
    (json.dumps({"messages": [], "reward": "high"}), "\"reward\" must be a number"),
    (json.dumps({"messages": [], "steps": [{"index": 0}]}), "not an episode record"),
])
def test_bad_lines_name_the_file_and_line(tmp_path, line, message):
    (tmp_path / "bad.jsonl").write_text("\n" + line + "\n")
    with pytest.raises(UserError, match=f"bad.jsonl:2: .*{message}"):
        read_records([tmp_path / "bad.jsonl"])


def test_missing_file_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        read_records([tmp_path / "absent.jsonl"])


def test_stats_count_what_was_kept(tmp_path, rollouts, tokenizer):
    stats = DataStats()
    records = select_records(_records(tmp_path, rollouts), stats=stats)
    sequences = tokenize_records(tokenizer, records, 100_000, stats)
    assert stats.kept == len(rollouts) == len(sequences) and stats.recorded_ids == len(rollouts)
    assert stats.loss_tokens == sum(sum(s.loss_mask) for s in sequences)
    assert stats.to_json()["by_policy"] == {"scripted:strong:short": len(rollouts)}


def test_tokenizer_corpus_counts_each_task_once(tmp_path, rollouts):
    records = _records(tmp_path, rollouts)          # two episodes of each of two tasks
    corpus = tokenizer_corpus(records)
    system = rollouts[0].messages[0]["content"]
    task_a = rollouts[0].messages[1]["content"]
    assert corpus.count(system) == 2 and corpus.count(task_a) == 1


def test_a_learnt_vocabulary_keeps_protocol_tokens_whole_and_short(rollouts, tmp_path):
    corpus = tokenizer_corpus(_records(tmp_path, rollouts)) * 3
    tok = build_tokenizer(2000, corpus=corpus, merge_words=True, max_token_chars=16, min_frequency=2)
    for tag in SPECIAL_TOKENS + PROTOCOL_TOKENS:
        assert len(tok(tag, add_special_tokens=False)["input_ids"]) == 1
    pieces = [tok.convert_tokens_to_string([t]) for t in tok.get_vocab() if t not in SPECIAL_TOKENS + PROTOCOL_TOKENS]
    assert max(len(p) for p in pieces) <= 16
    assert any(" " in p.strip() for p in pieces)       # merges cross spaces
    system = rollouts[0].messages[0]["content"]
    assert len(tok(system)["input_ids"]) < len(build_tokenizer(2000, corpus=corpus)(system)["input_ids"])
