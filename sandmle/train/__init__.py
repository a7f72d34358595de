"""Training: trajectory-wise GRPO over sandbox rollouts.

    config.py        recipe sections (TOML) -> frozen, validated dataclasses
    grpo.py          group advantages and the clipped policy loss (where a gradient is taken)
    batch.py         Sample (one episode as tokens, loss mask, reward) and padded batches
    trainer.py       the step loop: rollouts -> advantages -> PPO epochs -> weight sync, on
                     one process or several (accelerate: DDP, FSDP)
    build.py         a recipe -> bank, sandbox pool, model, environment, trainer; `run`
    agent_env.py     rollouts of a language model through the real agent protocol
    actions.py       a compact action language and its tiny policy for the CPU experiment
    action_env.py    renders actions to scripts, runs them in the sandbox, grades, rewards
    checkpoint.py    atomic checkpoints that resume a run exactly
    logging/         per-step metrics: JSONL, live view, PNG curves, tensorboard / W&B
    gpu_check.py     a few real GRPO steps on a GPU with vLLM colocate

Run with `sandmle train RECIPE [--set section.key=value ...] [--out DIR]`.
"""
