"""Rollouts: the agent protocol, prompts, context budget, episodes and the batched runner.

Data flow of one episode: `prompts` writes the system and task messages; `context` keeps
what the policy sees under its token budget and `tokens` keeps it as exact prompt ids; each
turn `turns` makes the batched policy call (resuming a turn a stop string cut inside code),
the policy's text is parsed by `protocol`, run as a sandbox job or graded by `env`, and
answered with a `<tool_response>`; `episode` records everything (JSONL, replay, the usable
rule, SFT export) and `tokens` turns its recorded ids into training sequences; `runner`
advances many episodes together, within a `budgets` entry.
"""
