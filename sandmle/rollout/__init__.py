"""Rollouts: the agent protocol, prompts, context budget, episodes and the batched runner.

Data flow of one episode: `prompts` writes the system and task messages; each turn the
policy's text is parsed by `protocol`, run as a sandbox job or graded by `env`, and answered
with a `<tool_response>`; `context` keeps what the policy sees under its token budget;
`episode` records everything (JSONL, replay, SFT export); `tokens` turns a finished
conversation into training ids with a loss mask; `runner` advances many episodes together.
"""
