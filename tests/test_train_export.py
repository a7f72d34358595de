"""Model folders: training writes one per checkpoint and RUN/model, `sandmle export-model`
rebuilds one from an older run's checkpoint, and what it writes loads with from_pretrained,
peft and `sandmle eval --policy hf:` (the tiny random model, trained for real)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from sandmle.cli import main

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "smoke-cpu.toml"


@pytest.fixture(autouse=True)
def fresh_accelerator_state():
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state(reset_partial_state=True)
    yield
    AcceleratorState._reset_state(reset_partial_state=True)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The smoke recipe (tiny random Qwen2, 2 sklearn tasks) trained 2 steps by the CLI."""
    from accelerate.state import AcceleratorState

    root = tmp_path_factory.mktemp("trained")
    run, bank = root / "run", root / "bank"
    code = main(["train", str(RECIPE), "--out", str(run), "--set", f"bank.path={bank}",
                 "--set", "train.keep_last=2", "--json"])
    AcceleratorState._reset_state(reset_partial_state=True)
    assert code == 0
    return run, bank


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    from transformers import AutoModelForCausalLM

    return {k: v.detach().clone() for k, v in AutoModelForCausalLM.from_pretrained(folder).state_dict().items()}


def _logits(model, ids):
    with torch.no_grad():
        return model(input_ids=ids).logits


def test_training_writes_a_model_folder_per_checkpoint_and_at_the_end(trained):
    from safetensors.torch import load_file

    run, _ = trained
    summary = json.loads((run / "summary.json").read_text())
    assert summary["model_dir"] == str(run / "model")
    for step in (1, 2):
        folder = run / "checkpoints" / f"step-{step:06d}" / "model"
        assert {"config.json", "model.safetensors", "tokenizer.json", "generation_config.json"} <= {
            p.name for p in folder.iterdir()}
    # The exported weights are the trained ones (accelerate's state), not the initial model's.
    trained_state = load_file(run / "checkpoints" / "step-000002" / "model.safetensors")
    final = _weights(run / "model")
    initial = _weights(run / "model-init")
    for name, tensor in trained_state.items():
        torch.testing.assert_close(final[name], tensor, rtol=0, atol=0, msg=name)
    assert any(not torch.equal(final[k], initial[k]) for k in final)
    step1 = _weights(run / "checkpoints" / "step-000001" / "model")
    assert step1.keys() == final.keys() and any(not torch.equal(step1[k], final[k]) for k in final)


def test_train_export_then_eval_the_export(trained, tmp_path, capsys):
    run, bank = trained
    out = tmp_path / "exported"
    assert main(["export-model", str(run), "--out", str(out), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result == {"out": str(out), "run": str(run), "step": 2, "kind": "merged", "how": "copied"}
    evaluation = tmp_path / "eval"
    code = main(["eval", "--policy", f"hf:{out}", "--bank", str(bank), "--out", str(evaluation),
                 "--limit-tasks", "1", "--max-turns", "2", "--max-new-tokens", "24",
                 "--max-context-tokens", "4096", "--workers", "1", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["policy"] == f"hf:{out}" and report["total_runs"] == 1
    assert report["terminations"].get("policy_error", 0) == 0
    episode = json.loads((evaluation / "episodes.jsonl").read_text().splitlines()[0])
    assert episode["num_turns"] >= 1 and episode["steps"][0]["action"] is not None


def test_export_model_rebuilds_an_older_runs_checkpoint(trained, tmp_path, capsys):
    """A run from before model folders: export-model rebuilds the model from accelerate's
    saved state, identical to the folder training wrote."""
    run, _ = trained
    older = tmp_path / "older"
    shutil.copytree(run, older)
    shutil.rmtree(older / "model")
    for checkpoint in (older / "checkpoints").iterdir():
        shutil.rmtree(checkpoint / "model")
    for step in (1, 2):
        out = tmp_path / f"step{step}"
        assert main(["export-model", str(older), "--step", str(step), "--out", str(out), "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["how"] == "rebuilt"
        written = _weights(run / "checkpoints" / f"step-{step:06d}" / "model")
        rebuilt = _weights(out)
        assert written.keys() == rebuilt.keys()
        for name in written:
            torch.testing.assert_close(rebuilt[name], written[name], rtol=0, atol=0, msg=name)


@pytest.mark.parametrize("argv, words", [
    (["--step", "7"], ["no checkpoint of step 7", "1, 2"]),
    (["--kind", "adapter"], ["no LoRA"]),
])
def test_export_model_refusals_are_one_line(trained, tmp_path, capsys, argv, words):
    run, _ = trained
    assert main(["export-model", str(run), "--out", str(tmp_path / "m"), *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sandmle: error: ") and err.count("\n") == 1
    assert all(word in err for word in words), err
    assert not (tmp_path / "m").exists()


def test_export_model_refuses_a_non_empty_folder_and_a_non_run(trained, tmp_path, capsys):
    run, _ = trained
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    assert main(["export-model", str(run), "--out", str(tmp_path / "full")]) == 2
    assert "not empty" in capsys.readouterr().err
    assert main(["export-model", str(tmp_path), "--out", str(tmp_path / "m")]) == 2
    assert "not a training run" in capsys.readouterr().err


@pytest.fixture(scope="module")
def lora_model(tmp_path_factory):
    peft = pytest.importorskip("peft")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from sandmle.policies.tiny import build_tiny_model

    base = build_tiny_model(tmp_path_factory.mktemp("base"), seed=1)
    model = peft.get_peft_model(AutoModelForCausalLM.from_pretrained(base), peft.LoraConfig(
        r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"))
    torch.manual_seed(0)
    with torch.no_grad():                       # trained-looking adapters (lora_B starts at 0)
        for name, param in model.named_parameters():
            if "lora_" in name:
                param.normal_(0, 0.2)
    return model, AutoTokenizer.from_pretrained(base), base


def test_lora_merged_folder_is_the_adapted_model(lora_model, tmp_path):
    from transformers import AutoModelForCausalLM

    from sandmle.train.export import ModelExport

    model, tokenizer, base = lora_model
    ModelExport(base, tokenizer, "merged").write(model, tmp_path / "merged")
    ids = torch.tensor([[3, 17, 42, 5, 9]])
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path / "merged")
    torch.testing.assert_close(_logits(loaded, ids), _logits(model, ids), rtol=1e-5, atol=1e-5)
    assert not any("lora" in k for k in loaded.state_dict())
    base_model = AutoModelForCausalLM.from_pretrained(base)
    assert not torch.allclose(_logits(loaded, ids), _logits(base_model, ids))     # the adapters count
    # and are unmerged again afterwards: the model in training keeps its base weights (up to
    # the rounding of peft's merge and unmerge)
    q_proj = model.get_base_model().model.layers[0].self_attn.q_proj.base_layer.weight
    torch.testing.assert_close(q_proj, base_model.model.layers[0].self_attn.q_proj.weight, rtol=0, atol=1e-6)


def test_lora_adapter_folder_loads_on_its_base(lora_model, tmp_path):
    from peft import AutoPeftModelForCausalLM

    from sandmle.policies import SamplingParams, make_policy
    from sandmle.train.export import ModelExport

    model, tokenizer, base = lora_model
    folder = ModelExport(base, tokenizer, "adapter").write(model, tmp_path / "adapter")
    config = json.loads((folder / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == str(base.resolve()) and config["r"] == 4
    assert not (folder / "config.json").exists()
    ids = torch.tensor([[3, 17, 42, 5, 9]])
    loaded = AutoPeftModelForCausalLM.from_pretrained(folder)
    torch.testing.assert_close(_logits(loaded, ids), _logits(model, ids), rtol=1e-5, atol=1e-5)
    policy = make_policy(f"hf:{folder}")
    [generation] = policy.generate([[{"role": "user", "content": "hi"}]],
                                   SamplingParams(temperature=0.0, max_new_tokens=4))
    assert generation.error is None and len(generation.token_ids) >= 1


def test_fsdp_sharded_checkpoint_is_merged_and_loaded(tmp_path):
    """accelerate's SHARDED_STATE_DICT layout (a torch.distributed.checkpoint folder holding
    {"model": state_dict}) is merged back into whole tensors."""
    import torch.distributed.checkpoint as dcp
    from transformers import AutoModelForCausalLM

    from sandmle.policies.tiny import build_tiny_model
    from sandmle.train.export import load_training_weights

    source = AutoModelForCausalLM.from_pretrained(build_tiny_model(tmp_path / "a", seed=1))
    target = AutoModelForCausalLM.from_pretrained(build_tiny_model(tmp_path / "b", seed=2))
    checkpoint = tmp_path / "step-000001"
    dcp.save({"model": source.state_dict()}, storage_writer=dcp.FileSystemWriter(checkpoint / "pytorch_model_fsdp_0"),
             no_dist=True)
    load_training_weights(target, checkpoint)
    for name, tensor in source.state_dict().items():
        torch.testing.assert_close(target.state_dict()[name], tensor, rtol=0, atol=0, msg=name)


def test_a_checkpoint_of_another_model_is_refused(tmp_path):
    from safetensors.torch import save_file
    from transformers import AutoModelForCausalLM

    from sandmle.errors import UserError
    from sandmle.policies.tiny import build_tiny_model
    from sandmle.train.export import load_training_weights

    model = AutoModelForCausalLM.from_pretrained(build_tiny_model(tmp_path / "a"))
    (tmp_path / "ck").mkdir()
    save_file({"encoder.weight": torch.zeros(2, 2)}, str(tmp_path / "ck" / "model.safetensors"))
    with pytest.raises(UserError, match="does not hold this run's model"):
        load_training_weights(model, tmp_path / "ck")


FSDP_SCRIPT = r"""
import functools, sys
from pathlib import Path
import peft, torch, torch.distributed as dist
from safetensors.torch import load_file
from torch.distributed.fsdp import FullyShardedDataParallel, fully_shard
from torch.distributed.fsdp.wrap import transformer_auto_wrap_policy
from transformers import AutoModelForCausalLM, AutoTokenizer
from sandmle.errors import UserError
from sandmle.train.export import ModelExport

dist.init_process_group("gloo")
base, out = Path(sys.argv[1]), Path(sys.argv[2])
tokenizer = AutoTokenizer.from_pretrained(base)


def lora_model():
    model = peft.get_peft_model(AutoModelForCausalLM.from_pretrained(base), peft.LoraConfig(
        r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"))
    torch.manual_seed(0)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_" in name:
                param.normal_(0, 0.2)
    return model


def same(a, b):
    assert a.keys() == b.keys(), sorted(set(a) ^ set(b))
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=0, atol=1e-6, msg=name)


plain = lora_model()                 # unsharded: the reference, written by rank 0 alone
for kind in ("merged", "adapter"):
    ModelExport(base, tokenizer, kind).write(plain, out / f"reference-{kind}")
sharded = lora_model()
for layer in sharded.base_model.model.model.layers:
    fully_shard(layer)
fully_shard(sharded)
for kind in ("merged", "adapter"):
    ModelExport(base, tokenizer, kind).check(sharded)
    ModelExport(base, tokenizer, kind).write(sharded, out / f"fsdp2-{kind}")

model = AutoModelForCausalLM.from_pretrained(base)
policy = functools.partial(transformer_auto_wrap_policy, transformer_layer_cls={type(model.model.layers[0])})
fsdp1 = FullyShardedDataParallel(model, auto_wrap_policy=policy, use_orig_params=True, device_id=torch.device("cpu"))
ModelExport(base, tokenizer, "merged").write(fsdp1, out / "fsdp1-merged")
try:
    ModelExport(base, tokenizer, "merged").check(FullyShardedDataParallel(
        lora_model(), auto_wrap_policy=policy, use_orig_params=True, device_id=torch.device("cpu")))
    raise SystemExit("LoRA under FSDP1 was not refused")
except UserError as exc:
    assert "FSDP2" in str(exc)
dist.barrier()
if dist.get_rank() == 0:
    load = lambda p: AutoModelForCausalLM.from_pretrained(p).state_dict()
    same(load(out / "fsdp2-merged"), load(out / "reference-merged"))
    same(load_file(out / "fsdp2-adapter" / "adapter_model.safetensors"),
         load_file(out / "reference-adapter" / "adapter_model.safetensors"))
    same(load(out / "fsdp1-merged"), load(base))
print("rank", dist.get_rank(), "ok")
dist.destroy_process_group()
"""


@pytest.mark.slow
def test_fsdp_model_folders_match_the_unsharded_model(tmp_path):
    """Two CPU processes (gloo): FSDP2 with LoRA (merged and adapter) and FSDP1 write the same
    folders as the unsharded model; LoRA under FSDP1 is refused before training."""
    pytest.importorskip("peft")
    import subprocess
    import sys

    from sandmle.policies.tiny import build_tiny_model

    base = build_tiny_model(tmp_path / "base", architecture="qwen3", hidden_size=64, tie_word_embeddings=False)
    script = tmp_path / "fsdp_export.py"
    script.write_text(FSDP_SCRIPT)
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", str(script),
                             str(base), str(tmp_path / "out")], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert result.stdout.count("ok") == 2
