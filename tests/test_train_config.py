"""Recipe loading, overrides and validation messages."""
from pathlib import Path

import pytest

from sandmle.errors import UserError
from sandmle.train.config import GRPOConfig, RunConfig, load_recipe, parse_override

RECIPES = Path(__file__).resolve().parents[1] / "recipes"


def test_defaults_are_the_papers_hyperparameters():
    cfg = RunConfig()
    assert (cfg.grpo.group_size, cfg.grpo.tasks_per_step) == (4, 16)
    assert (cfg.grpo.clip_ratio_low, cfg.grpo.clip_ratio_high) == (0.2, 0.28)
    assert cfg.grpo.loss_agg == "seq-mean-token-mean" and cfg.grpo.kl_coef == 0.0
    assert (cfg.train.lr, cfg.train.weight_decay, cfg.train.grad_clip) == (1e-6, 0.01, 1.0)
    assert cfg.rollout.score_tool == "test"           # the paper trains with the test score shown


def test_override_values_parse_as_toml_literals():
    assert parse_override("train.lr=3e-4") == ("train", "lr", 3e-4)
    assert parse_override("grpo.normalize_std=false") == ("grpo", "normalize_std", False)
    assert parse_override("model.lora_target_modules=['q_proj']") == ("model", "lora_target_modules", ["q_proj"])
    assert parse_override("bank.path=banks/x") == ("bank", "path", "banks/x")


def test_load_recipe_applies_overrides(tmp_path):
    recipe = tmp_path / "r.toml"
    recipe.write_text("[train]\nsteps = 3\nlr = 1\n[grpo]\ngroup_size = 8\ntasks_per_step = 2\n")
    cfg = load_recipe(recipe, ["train.steps=5", "grpo.loss_agg=token-mean"])
    assert cfg.train.steps == 5 and cfg.train.lr == 1.0 and cfg.grpo.loss_agg == "token-mean"


@pytest.mark.parametrize("text, message", [
    ("[grpo]\ngroup_size = 1\n", "group_size=1 must be >= 2"),
    ("[grpo]\nloss_agg = 'sum'\n", "loss_agg='sum' is unknown"),
    ("[grpo]\ngroup_size = 4\ntasks_per_step = 3\nmini_batches = 5\n", "(12) must be divisible by mini_batches (5)"),
    ("[train]\nlr = 'fast'\n", "lr='fast' must be a number"),
    ("[train]\nbogus = 1\n", "unknown key(s) ['bogus']"),
    ("[trian]\nsteps = 1\n", "unknown recipe section(s) ['trian']"),
    ("[rollout]\nbackend = 'vllm'\nvllm_mode = 'server'\n", "needs vllm_sync_dir"),
    ("[model]\nkind = 'actions'\n[rollout]\nbackend = 'vllm'\n", "backend=\"vllm\" needs [model] kind=\"hf\""),
    ("[rollout]\nvllm_tensor_parallel_size = 2\n", "vllm_tensor_parallel_size=2 is not supported"),
    ("[rollout]\nscore_tool = 'hidden'\n", "score_tool='hidden' is unknown: use one of test, validation"),
    ("[eval]\nevery = 2\n", "every=2 needs bank, the held-out bank folder"),
    ("[eval]\nbank = 'held'\n", "bank='held' needs every > 0"),
    ("[train]\nsave_model = 'adapter'\n", "save_model=\"adapter\" needs LoRA"),
    ("[train]\nsave_model = 'pickle'\n", "save_model='pickle' is unknown"),
    ("[model]\nattention = 'flash'\n", "attention='flash' is unknown: use \"auto\" or \"sdpa\""),
])
def test_bad_recipes_raise_one_line_naming_the_value(tmp_path, text, message):
    recipe = tmp_path / "bad.toml"
    recipe.write_text(text)
    with pytest.raises(UserError) as info:
        load_recipe(recipe)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_bad_override_syntax_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="SECTION.KEY=VALUE"):
        parse_override("lr=1")
    with pytest.raises(UserError, match="does not exist"):
        load_recipe(tmp_path / "missing.toml")


def test_batch_size_is_group_times_tasks():
    assert GRPOConfig(group_size=4, tasks_per_step=16).batch_size == 64


@pytest.mark.parametrize("recipe", sorted(RECIPES.glob("*.toml")), ids=lambda p: p.name)
def test_shipped_recipes_load_and_name_their_command(recipe):
    import tomllib

    header = recipe.read_text().splitlines()[:12]
    if "sft" in tomllib.loads(recipe.read_text()):          # an SFT recipe: the data comes with --data
        from sandmle.train.sft_config import load_sft_recipe

        load_sft_recipe(recipe, ['data.files=["episodes.jsonl"]'])
        assert any("sandmle sft" in line for line in header)
        return
    load_recipe(recipe)
    assert any("sandmle train" in line for line in header)
