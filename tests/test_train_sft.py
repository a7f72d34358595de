"""`sandmle sft`: the loss on policy tokens falls, bucketing leaves the gradient unchanged, a
resumed run matches an uninterrupted one, LoRA is merged into the folder, the folder loads
where `train` and `eval` load models, and two processes train like one."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from sandmle.cli import main
from sandmle.errors import UserError
from sandmle.train.sft import micro_batches, run_sft
from sandmle.train.sft_config import load_sft_recipe


@pytest.fixture(autouse=True)
def fresh_accelerator_state():
    """One process holds one accelerate state; each run makes its own Accelerator."""
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state(reset_partial_state=True)
    yield
    AcceleratorState._reset_state(reset_partial_state=True)


def chat_data(path: Path, n: int = 8) -> Path:
    """Chat records of the agent protocol, of a few lengths (replies the model can learn)."""
    from sandmle.rollout.prompts import system_prompt

    lines = []
    for i in range(n):
        code = "\n".join(f"x{j} = {j}" for j in range(i % 4 + 1))
        messages = [{"role": "system", "content": system_prompt(20)},
                    {"role": "user", "content": f"# Task {i}\nPredict the target. " + "More rows. " * (i % 3)},
                    {"role": "assistant", "content": f'<think>Fit a model.</think>\n<tool_call>{{"name": "python"}}'
                                                     f"<code>\n{code}\n</code></tool_call>"},
                    {"role": "user", "content": "<tool_response>\n[exit code 0, 0.1 s]\n</tool_response>"},
                    {"role": "assistant", "content": "<think>Submit.</think>\n<answer>submission.csv</answer>"}]
        lines.append(json.dumps({"messages": messages, "task_id": f"t{i % 3}", "reward": 0.1 * i}))
    path.write_text("\n".join(lines) + "\n")
    return path


def recipe(tmp_path: Path, data: Path, *sets: str, model: str = "tiny"):
    if model == "tiny":
        from sandmle.policies.tiny import build_tiny_model

        model = str(build_tiny_model(tmp_path / "tiny", seed=0, hidden_size=32))
    return load_sft_recipe(None, [f"model.path={json.dumps(model)}", f"data.files={json.dumps([str(data)])}",
                                  "sft.lr=0.01", "sft.lr_schedule=\"constant\"", "sft.batch_size=4",
                                  "sft.micro_batch_tokens=100000", "log.live=false", *sets])


def test_loss_on_policy_tokens_falls_and_the_folder_loads(tmp_path):
    from transformers import AutoModelForCausalLM

    from sandmle.policies.hf import HFPolicy

    data = chat_data(tmp_path / "chat.jsonl")
    summary = run_sft(recipe(tmp_path, data, "sft.max_steps=12"), tmp_path / "run", say=lambda m: None)
    assert summary["steps"] == 12 and summary["epochs"] == 6
    assert summary["loss_last"] < 0.5 * summary["loss_first"]
    folder = Path(summary["model"])
    model = AutoModelForCausalLM.from_pretrained(folder)       # train's [model] path loads it this way
    policy = HFPolicy(str(folder))                              # eval --policy hf:FOLDER
    assert policy.tokenizer.chat_template and model.config.vocab_size == len(policy.tokenizer)
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == list(range(1, 13))
    assert (tmp_path / "run" / "curves.png").stat().st_size > 0
    data_report = json.loads((tmp_path / "run" / "data.json").read_text())
    assert data_report["kept"] == 8 and data_report["loss_tokens"] > 0


def test_min_reward_filter_and_its_count(tmp_path):
    data = chat_data(tmp_path / "chat.jsonl")
    summary = run_sft(recipe(tmp_path, data, "sft.max_steps=1", "data.min_reward=0.45"), tmp_path / "run",
                      say=lambda m: None)
    assert summary["sequences"] == 3 and summary["data"]["left_out"] == {"below_min_reward": 5}


def test_micro_batches_cover_every_row_within_the_budget():
    lengths = [5, 40, 7, 40, 12, 3, 90]
    groups = micro_batches(lengths, list(range(7)), 80)
    assert sorted(r for g in groups for r in g) == list(range(7))
    assert groups[0] == [6]                                   # longer than the budget: alone
    for g in groups:
        assert len(g) == 1 or len(g) * max(lengths[r] for r in g) <= 80
        assert [lengths[r] for r in g] == sorted((lengths[r] for r in g), reverse=True)


def test_bucketing_leaves_the_step_unchanged(tmp_path):
    """One step with every sequence in one forward pass, and with one sequence per pass, has
    the same loss and the same gradient: the loss is normalised by the step's policy tokens."""
    data = chat_data(tmp_path / "chat.jsonl")
    rows = []
    for budget in (100000, 1):
        run_sft(recipe(tmp_path, data, "sft.max_steps=1", f"sft.micro_batch_tokens={budget}"),
                tmp_path / f"run{budget}", say=lambda m: None)
        rows.append(json.loads((tmp_path / f"run{budget}" / "metrics.jsonl").read_text()))
    assert rows[0]["micro_batches"] == 1 and rows[1]["micro_batches"] == 4
    assert rows[1]["loss"] == pytest.approx(rows[0]["loss"], rel=1e-6)
    assert rows[1]["grad_norm"] == pytest.approx(rows[0]["grad_norm"], rel=1e-5)


def _weights(folder: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


def test_a_resumed_run_matches_an_uninterrupted_one(tmp_path):
    data = chat_data(tmp_path / "chat.jsonl")
    cfg = recipe(tmp_path, data, "sft.max_steps=4", "sft.save_every=2", "sft.lr_schedule=\"cosine\"")
    run_sft(cfg, tmp_path / "whole", say=lambda m: None)
    first = run_sft(cfg, tmp_path / "parts", say=lambda m: None, steps=2)
    assert first["model"] is None and not (tmp_path / "parts" / "model").exists()
    said = []
    run_sft(cfg, tmp_path / "parts", say=said.append)
    assert any("resumed from" in s and "step 2 of 4" in s for s in said)
    whole, parts = _weights(tmp_path / "whole" / "model"), _weights(tmp_path / "parts" / "model")
    for key in whole:
        torch.testing.assert_close(parts[key], whole[key])
    rows = [json.loads(line)["loss"] for line in (tmp_path / "parts" / "metrics.jsonl").read_text().splitlines()]
    assert rows == [json.loads(line)["loss"] for line in (tmp_path / "whole" / "metrics.jsonl").read_text().splitlines()]


def test_resume_refuses_other_data(tmp_path):
    data = chat_data(tmp_path / "chat.jsonl")
    run_sft(recipe(tmp_path, data, "sft.max_steps=2", "sft.save_every=1"), tmp_path / "run", say=lambda m: None,
            steps=1)
    chat_data(data, n=6)
    with pytest.raises(UserError, match="trained on other data"):
        run_sft(recipe(tmp_path, data, "sft.max_steps=2", "sft.save_every=1"), tmp_path / "run", say=lambda m: None)


def test_lora_trains_adapters_and_the_folder_is_merged(tmp_path):
    pytest.importorskip("peft")
    from transformers import AutoModelForCausalLM

    data = chat_data(tmp_path / "chat.jsonl")
    cfg = recipe(tmp_path, data, "sft.max_steps=3", "model.lora_rank=4", "sft.lr=0.05")
    summary = run_sft(cfg, tmp_path / "run", say=lambda m: None)
    merged = _weights(Path(summary["model"]))
    base = _weights(tmp_path / "tiny")
    assert not any("lora" in k for k in merged)
    changed = {k for k in base if not torch.equal(base[k], merged[k])}
    assert changed and all(k.split(".")[-2] in ("q_proj", "k_proj", "v_proj", "o_proj") for k in changed)
    AutoModelForCausalLM.from_pretrained(summary["model"])


def test_scratch_learns_its_vocabulary_from_the_data(tmp_path):
    from transformers import AutoTokenizer

    data = chat_data(tmp_path / "chat.jsonl")
    cfg = recipe(tmp_path, data, "sft.max_steps=1", "scratch.vocab_size=400", "scratch.hidden_size=32",
                 "scratch.num_layers=1", "scratch.num_heads=2", "scratch.num_kv_heads=1", model="scratch")
    summary = run_sft(cfg, tmp_path / "run", say=lambda m: None)
    tok = AutoTokenizer.from_pretrained(tmp_path / "run" / "model-init")
    ids = tok("<think>Fit a model.</think>", add_special_tokens=False)["input_ids"]
    assert len(ids) <= 4                       # learnt merges cross spaces; tags are single tokens
    assert summary["vocab_size"] == len(tok) and Path(summary["model"], "tokenizer.json").is_file()


@pytest.mark.parametrize("args, message", [
    (["--data", "absent.jsonl"], "does not exist"),
    (["--data", "chat.jsonl", "--min-reward", "5"], "passes the filters"),
    (["--data", "chat.jsonl", "--set", "sft.batch_size=0"], "batch_size=0"),
    (["--data", "chat.jsonl", "--model", "no-such-folder"], "not a local model folder"),
    (["--data", "table.csv"], "not JSON"),
    ([], "files is empty"),
])
def test_bad_input_is_one_line(tmp_path, capsys, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    chat_data(tmp_path / "chat.jsonl")
    (tmp_path / "table.csv").write_text("id,target\n1,0\n")
    assert main(["sft", *args, "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sandmle: error:") and message in err and err.count("\n") == 1
    assert not (tmp_path / "run").exists()                 # nothing left behind


SCRIPT = r'''
import sys
from pathlib import Path
from sandmle.train.sft import run_sft
from sandmle.train.sft_config import load_sft_recipe
cfg = load_sft_recipe(None, sys.argv[3:])
run_sft(cfg, Path(sys.argv[1]), say=lambda m: None)
'''


@pytest.mark.slow
def test_two_processes_train_like_one(tmp_path):
    """torchrun + accelerate (gloo): each process takes half of the step's sequences, and the
    step is the one process's step (loss, gradient norm and weights). One step: Adam turns
    float-rounding differences in near-zero gradients into whole lr-sized steps after a few."""
    from sandmle.policies.tiny import build_tiny_model

    data = chat_data(tmp_path / "chat.jsonl", n=10)
    model = build_tiny_model(tmp_path / "tiny", seed=0, hidden_size=32)
    script = tmp_path / "sft.py"
    script.write_text(SCRIPT)
    sets = [f"model.path={json.dumps(str(model))}", f"data.files={json.dumps([str(data)])}", "sft.max_steps=1",
            "sft.batch_size=4", "sft.lr=0.01", "log.live=false"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    torchrun = Path(sys.executable).with_name("torchrun")
    for name, cmd in (("one", [sys.executable, str(script)]),
                      ("two", [str(torchrun), "--nproc_per_node", "2", "--master_port", "29531", str(script)])):
        done = subprocess.run(cmd + [str(tmp_path / name), "-", *sets], env=env, capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
    rows = {name: [json.loads(line) for line in (tmp_path / name / "metrics.jsonl").read_text().splitlines()]
            for name in ("one", "two")}
    assert [r["loss_tokens"] for r in rows["two"]] == [r["loss_tokens"] for r in rows["one"]]
    for key in ("loss", "grad_norm"):
        assert rows["two"][0][key] == pytest.approx(rows["one"][0][key], rel=1e-5)
    one, two = _weights(tmp_path / "one" / "model"), _weights(tmp_path / "two" / "model")
    for key in one:
        torch.testing.assert_close(two[key], one[key], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("choice, said", [("auto", "attention: sandmle's CPU kernel in training forwards (head dim 8"),
                                          ("sdpa", "attention: sdpa")])
def test_sft_runs_and_names_the_attention_it_trains_with(tmp_path, choice, said):
    from sandmle.train import attention

    calls = []
    kernel = attention.causal_attention

    def counted(*args):
        calls.append(args[0].shape)
        return kernel(*args)

    data = chat_data(tmp_path / "chat.jsonl", n=4)
    lines = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(attention, "causal_attention", counted)
        run_sft(recipe(tmp_path, data, "sft.max_steps=2", f'model.attention="{choice}"'), tmp_path / "run",
                say=lines.append)
    assert any(line.startswith(said) for line in lines)
    assert bool(calls) == (choice == "auto")
