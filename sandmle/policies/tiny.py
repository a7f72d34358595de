"""A tiny randomly initialised chat model and tokenizer, built offline in seconds.

`build_tiny_model(out_dir, seed)` trains a byte-level BPE tokenizer on a small corpus of
the agent protocol (its tags are single tokens), wraps it with a chat template (ChatML, a
Qwen3-style thinking template, or one that prefills `<think>`), builds a 2-layer Qwen2 model
with hidden size 32 (or, with `architecture="qwen3"`, a Qwen3 of the sizes asked for, tied or
untied, in float32 or bfloat16: what the vLLM tests and the GPU check serve) and saves both
to `out_dir`, loadable with
`make_policy("hf:OUT_DIR")` or `transformers.AutoModelForCausalLM.from_pretrained`. Its
output is noise: it exists so tests and CPU smoke recipes exercise the real generation,
tokenisation and training code paths without a model download.

The same two functions make the starting point of a model trained from scratch (`sandmle
sft` with `[model] path = "scratch"`): `build_tokenizer(corpus=...)` learns its vocabulary
from the training conversations, and with `merge_words` its merges may cross spaces (BPE
without the whitespace pre-split, tokens of at most `max_token_chars` characters), so the
protocol's fixed phrases and a solution's fixed lines become a few tokens each: measured on
108 episodes of the short scripted teacher on 18 tabular tasks, merges across spaces
(tokens of at most 24 characters) make an episode 434 tokens and its policy turns 90, where
the usual word-split BPE makes them 1,575 and 409.
"""
from __future__ import annotations

from pathlib import Path

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
# Qwen3's stock rule for think blocks: an assistant turn after the last real user query (tool
# responses do not count) is rendered as <think>\nREASONING\n</think>\n\nANSWER, with the
# reasoning cut out of its content at the last </think>; turns before that query lose their
# reasoning; the last turn without reasoning gets an empty think block. Rendering a turn thus
# depends on what follows it and rewrites the sampled text.
QWEN3_TEMPLATE = (
    "{%- if messages[0].role == 'system' %}{{- '<|im_start|>system\n' + messages[0].content + '<|im_end|>\n' }}{%- endif %}"
    "{%- set ns = namespace(multi_step_tool=true, last_query_index=messages|length - 1) %}"
    "{%- for message in messages[::-1] %}{%- set index = (messages|length - 1) - loop.index0 %}"
    "{%- if ns.multi_step_tool and message.role == 'user' and not(message.content.startswith('<tool_response>')"
    " and message.content.endswith('</tool_response>')) %}"
    "{%- set ns.multi_step_tool = false %}{%- set ns.last_query_index = index %}{%- endif %}{%- endfor %}"
    "{%- for message in messages %}{%- set content = message.content %}"
    "{%- if message.role == 'user' or (message.role == 'system' and not loop.first) %}"
    "{{- '<|im_start|>' + message.role + '\n' + content + '<|im_end|>\n' }}"
    "{%- elif message.role == 'assistant' %}{%- set reasoning_content = '' %}"
    "{%- if '</think>' in content %}"
    "{%- set reasoning_content = content.split('</think>')[0].rstrip('\n').split('<think>')[-1].lstrip('\n') %}"
    "{%- set content = content.split('</think>')[-1].lstrip('\n') %}{%- endif %}"
    "{%- if loop.index0 > ns.last_query_index and (loop.last or reasoning_content) %}"
    "{{- '<|im_start|>' + message.role + '\n<think>\n' + reasoning_content.strip('\n') + '\n</think>\n\n'"
    " + content.lstrip('\n') }}"
    "{%- else %}{{- '<|im_start|>' + message.role + '\n' + content }}{%- endif %}"
    "{{- '<|im_end|>\n' }}{%- endif %}{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\n' }}"
    "{%- if enable_thinking is defined and enable_thinking is false %}{{- '<think>\n\n</think>\n\n' }}{%- endif %}"
    "{%- endif %}"
)
# Reasoning distills (DeepSeek-R1 style): the generation prompt opens <think>, so completions
# begin inside the think block and close it with a lone </think>; past turns keep only the
# text after their last </think>.
THINK_PREFILL_TEMPLATE = (
    "{% for message in messages %}{% set content = message['content'] %}"
    "{% if message['role'] == 'assistant' and '</think>' in content %}"
    "{% set content = content.split('</think>')[-1].lstrip() %}{% endif %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + content + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n<think>\n' }}{% endif %}"
)
CHAT_TEMPLATES = {"chatml": CHAT_TEMPLATE, "qwen3": QWEN3_TEMPLATE, "think-prefill": THINK_PREFILL_TEMPLATE}
SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
PROTOCOL_TOKENS = ("<think>", "</think>", "<tool_call>", "</tool_call>", "<code>", "</code>",
                   "<answer>", "</answer>", "<tool_response>", "</tool_response>")

_CORPUS = [
    "<think>Look at the data first.</think>",
    '<tool_call>{"name": "python"}<code>\nimport pandas as pd\n'
    'df = pd.read_csv("input/train.csv")\nprint(df.head())\nprint(df.shape)\n</code></tool_call>',
    '<tool_call>{"name": "score"}</tool_call>',
    "<answer>submission.csv</answer>",
    "<tool_response>\nexit code 0\n   id  feature_0  target\n0   1   0.25   1\n</tool_response>",
    "from sklearn.linear_model import LogisticRegression\nmodel = LogisticRegression()\n"
    "model.fit(X, y)\npred = model.predict_proba(X_test)[:, 1]\n"
    'pd.DataFrame({"id": test["id"], "target": pred}).to_csv("submission.csv", index=False)',
    "You are an expert machine-learning engineer. Write submission.csv in your working directory.",
    "The metric is auc, higher is better. The score is 0.81234, median 0.7, bronze 0.75.",
]


def build_tokenizer(vocab_size: int = 512, template: str = "chatml", corpus: list[str] | None = None,
                    merge_words: bool = False, max_token_chars: int | None = None, min_frequency: int = 0):
    """A byte-level BPE PreTrainedTokenizerFast with one of `CHAT_TEMPLATES`, trained on
    `corpus` (default: a few lines of the protocol). The special and protocol tokens are
    single ids; the corpus is cut at them before training, so no merge is spent across one.
    `merge_words`: merges may cross spaces and punctuation; `max_token_chars` caps a token's
    length; `min_frequency`: a pair seen fewer times is never merged."""
    import re

    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from sandmle.rollout.prompts import system_prompt

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=not merge_words)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS), max_token_length=max_token_chars,
        min_frequency=min_frequency,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    texts = _CORPUS * 4 + [system_prompt(20)] if corpus is None else corpus
    tags = re.compile("|".join(re.escape(t) for t in SPECIAL_TOKENS + PROTOCOL_TOKENS))
    core.train_from_iterator((piece for text in texts for piece in tags.split(text) if piece), trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core, eos_token="<|im_end|>", pad_token="<|endoftext|>",
        bos_token=None, unk_token=None)
    tokenizer.add_tokens(list(PROTOCOL_TOKENS))     # single ids, kept when decoding
    tokenizer.chat_template = CHAT_TEMPLATES[template]
    tokenizer.padding_side = "left"
    return tokenizer


def build_tiny_model(out_dir: str | Path, seed: int = 0, hidden_size: int = 32, num_layers: int = 2,
                     architecture: str = "qwen2", head_dim: int | None = None, tie_word_embeddings: bool = True,
                     dtype: str = "float32", template: str = "chatml", tokenizer=None, num_heads: int = 4,
                     num_kv_heads: int = 2, intermediate_size: int | None = None,
                     max_positions: int = 4096) -> Path:
    """Save a tiny random model (`architecture`: "qwen2" | "qwen3") and its tokenizer (chat
    template `template`, one of `CHAT_TEMPLATES`; or `tokenizer`, e.g. one `build_tokenizer`
    trained on a corpus) to `out_dir`; return the folder. Weights are saved in `dtype`
    ("float32" | "bfloat16"); the feed-forward width defaults to twice `hidden_size`."""
    import torch
    from transformers import AutoModelForCausalLM, Qwen2Config, Qwen3Config

    if architecture not in ("qwen2", "qwen3"):
        raise ValueError(f"architecture must be 'qwen2' or 'qwen3', got {architecture!r}")
    out = Path(out_dir)
    tokenizer = tokenizer if tokenizer is not None else build_tokenizer(template=template)
    shape = dict(
        vocab_size=len(tokenizer), hidden_size=hidden_size, intermediate_size=intermediate_size or 2 * hidden_size,
        num_hidden_layers=num_layers, num_attention_heads=num_heads, num_key_value_heads=num_kv_heads,
        max_position_embeddings=max_positions, tie_word_embeddings=tie_word_embeddings,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
        bos_token_id=None)
    if architecture == "qwen3":
        config = Qwen3Config(head_dim=head_dim or hidden_size // num_heads, **shape)
    else:
        config = Qwen2Config(**shape)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config).to(getattr(torch, dtype))
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
