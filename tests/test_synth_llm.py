"""Language-model synthesis, piece by piece: answer parsing, schemas, plans, leak checks, the
cache, grader validation and the file checks on a script's output (no model, no sandbox)."""
from __future__ import annotations

import dataclasses
import json
import os

import pytest

from sandmle.errors import UserError
from sandmle.policies.base import Generation, SamplingParams
from sandmle.synth.llm.cache import CachedPolicy, model_of, request_key
from sandmle.synth.llm.leaks import HiddenRule, description_leaks
from sandmle.synth.llm.outputs import check_outputs
from sandmle.synth.llm.pipeline import select_llm_seeds
from sandmle.synth.llm.plan import Layout, Strategy, layout_for, plan_problems
from sandmle.synth.llm.roles import grader_problems
from sandmle.synth.llm.schema import ParseError, extract_code, extract_json, schema_problems
from sandmle.synth.seeds import load_seeds

SEEDS = load_seeds()
BINARY = SEEDS["tabular-playground-series-may-2022"]


def plan(**changes):
    base = {
        "domain": "retail", "title": "Predict returned orders", "entity": "one order", "id_column": "order_id",
        "train_rows": 150, "test_rows": 2000,
        "features": [{"name": "basket_value", "type": "numeric", "description": "order value in euros"},
                     {"name": "items", "type": "numeric", "description": "number of items"},
                     {"name": "channel", "type": "categorical", "description": "web or app"}],
        "targets": [{"name": "returned", "description": "whether the order was returned"}],
        "classes": [],
        "mutations": {"missing_rate": 0.05},
        "hidden_rule": {"description": "Large baskets with many items are returned more often on the web.",
                        "formula": "logit = 1.37*z(basket_value)*z(items) + 0.8*web - 0.2",
                        "informative_features": ["basket_value", "items", "channel"],
                        "noise": "Bernoulli draw"},
    }
    base.update(changes)
    return base


# ---- parsing ---------------------------------------------------------------------------------

def test_json_is_found_after_thinking_in_a_fence_or_bare():
    assert extract_json('<think>{"no": 1}</think>\n```json\n{"a": 1}\n```') == {"a": 1}
    assert extract_json('Sure! {"a": [1, 2]} hope this helps') == {"a": [1, 2]}


@pytest.mark.parametrize("text, phrase", [
    ("no json here", "holds no JSON object"),
    ('```json\n{"a": 1,}\n```', "does not parse"),
    ("<think>unfinished {\"a\": 1}", "holds no JSON object"),
])
def test_bad_json_answers_say_why(text, phrase):
    with pytest.raises(ParseError, match=phrase):
        extract_json(text)


def test_code_is_the_longest_python_fence():
    text = "```python\nprint(1)\n```\nand the full script:\n```python\nimport numpy\nprint(2)\n```"
    assert extract_code(text) == "import numpy\nprint(2)\n"
    with pytest.raises(ParseError, match="no ```python code block"):
        extract_code("I would write a script that generates data.")


def test_schema_problems_name_the_path_and_the_rule():
    schema = {"type": "object", "additionalProperties": False, "required": ["n", "kind"],
              "properties": {"n": {"type": "integer", "minimum": 50},
                             "kind": {"enum": ["a", "b"]},
                             "items": {"type": "array", "items": {"type": "string", "pattern": "[a-z]+"}}}}
    problems = schema_problems({"n": 20, "kind": "c", "items": ["ok", "Bad"], "extra": 1}, schema)
    assert "$: unknown keys ['extra']" in problems
    assert "$.n: 20 is below minimum 50" in problems
    assert "$.kind: 'c' is not one of ['a', 'b']" in problems
    assert "$.items[1]: 'Bad' does not match [a-z]+" in problems
    assert schema_problems({"n": True, "kind": "a"}, schema) == ["$.n: expected integer, got bool"]


# ---- the strategist's plan -------------------------------------------------------------------

def test_a_valid_plan_has_no_problems():
    assert plan_problems(BINARY, plan()) == []


@pytest.mark.parametrize("changes, phrase", [
    ({"train_rows": 20}, "$.train_rows: 20 is below minimum 50"),
    ({"targets": []}, "$.targets: has 0 items"),
    ({"targets": [{"name": "a", "description": "first"}, {"name": "b", "description": "second"}]},
     "targets: need exactly 1, got 2"),
    ({"mutations": {"label_noise": 0.6}}, "quirks.label_noise must be a number in [0, 0.3]"),
    ({"test_rows": 60}, "test_rows: need"),
    ({"hidden_rule": {"description": "a rule of some kind", "formula": "y = x", "informative_features": ["ghost"],
                      "noise": "none"}}, "unknown features ['ghost']"),
    ({"features": [{"name": "note", "type": "text", "description": "free text"},
                   {"name": "items", "type": "numeric", "description": "count"}]}, "a tabular task has no text columns"),
])
def test_plan_rejections_say_why(changes, phrase):
    assert any(phrase in p for p in plan_problems(BINARY, plan(**changes))), plan_problems(BINARY, plan(**changes))


def test_multiclass_plan_needs_its_classes_and_puts_them_in_the_submission():
    dna = SEEDS["spooky-author-identification"]          # text, 3 classes, multi-class log loss
    text_plan = plan(features=[{"name": "passage", "type": "text", "description": "a passage of prose"}],
                     targets=[{"name": "author", "description": "who wrote it"}], test_rows=400,
                     hidden_rule={"description": "word choice marks the author", "formula": "p = softmax(W x)",
                                  "informative_features": ["passage"], "noise": "sampling"})
    assert any("classes: need 3 distinct names" in p for p in plan_problems(dna, text_plan))
    with_classes = dict(text_plan, classes=["poe", "lovecraft", "shelley"])
    assert [p for p in plan_problems(dna, with_classes) if "classes" in p] == []
    layout = layout_for(dna, with_classes)
    assert layout.label_columns == ("author",)
    assert layout.submission_columns == ("poe", "lovecraft", "shelley") == layout.classes


def test_only_csv_seeds_are_accepted():
    with pytest.raises(UserError, match="CSV data only"):
        select_llm_seeds("aerial-cactus-identification")
    chosen = select_llm_seeds(None)
    assert chosen and all(d.modality in ("tabular", "text", "multimodal") for d in chosen)
    assert not any(d.features.has_images or d.features.has_audio for d in chosen)


# ---- leak checks -----------------------------------------------------------------------------

RULE = HiddenRule(description="Large baskets with many items are returned more often on the web.",
                  formula="logit = 1.37*z(basket_value)*z(items) + 0.8*web - 0.2",
                  informative_features=("basket_value", "items"))
IDS = ["ord00017", "ord00018"]
VALUES = ["12.3456", "0", "1"]
CLEAN = ("# Returned orders\n\nAn online shop wants to know which orders come back. Columns: order_id, "
         "basket_value (euros), items, channel. Submit order_id,returned with a probability per test order.")


def test_a_clean_description_has_no_leaks():
    assert description_leaks(CLEAN, RULE, IDS, VALUES) == []


@pytest.mark.parametrize("addition, phrase", [
    ("Large baskets with many items are returned more often.", "repeats the hidden rule's wording"),
    ("The score is 1.37 * z(basket_value) times items.", "hidden formula"),
    ("A weight of 1.37 applies.", "coefficient(s) 1.37"),
    ("Note that basket value strongly determines returns.", "describes informative feature 'basket_value' as causal"),
    ("The items column is the most important signal.", "describes informative feature 'items' as causal"),
    ("For example ord00018 was returned.", "names test id 'ord00018'"),
    ("One return cost 12.3456 euros.", "states hidden answer value '12.3456'"),
])
def test_each_kind_of_leak_is_caught(addition, phrase):
    leaks = description_leaks(CLEAN + "\n\n" + addition, RULE, IDS, VALUES)
    assert any(phrase in leak for leak in leaks), leaks


def test_naming_a_feature_without_a_causal_claim_is_fine():
    text = CLEAN + "\n\nThe items column counts distinct products; channel is web or app."
    assert description_leaks(text, RULE, IDS, VALUES) == []


# ---- cache -----------------------------------------------------------------------------------

class CountingPolicy:
    name = "counting"

    def __init__(self, fail: bool = False) -> None:
        self.calls = 0
        self.fail = fail

    def generate(self, conversations, sampling):
        self.calls += len(conversations)
        if self.fail:
            return [Generation.failed("HTTP 500: boom") for _ in conversations]
        return [Generation(text=f"answer to {c[-1]['content']}") for c in conversations]

    def sync_weights(self, model):
        raise ValueError("no weights")

    def close(self):
        pass


MESSAGES = [{"role": "system", "content": "s"}, {"role": "user", "content": "q1"}]


def test_the_endpoint_url_is_not_part_of_the_key():
    assert model_of("openai:qwen@http://a:8000/v1") == model_of("openai:qwen@http://b:9000/v1") == "openai:qwen"
    sampling = SamplingParams(seed=1)
    assert request_key("openai:qwen", MESSAGES, sampling) != request_key("openai:qwen", MESSAGES, SamplingParams(seed=2))


def test_second_identical_request_is_served_from_the_cache(tmp_path):
    backend = CountingPolicy()
    llm = CachedPolicy("openai:m@http://x/v1", tmp_path / "cache", tmp_path / "calls.jsonl", factory=lambda s: backend)
    sampling = SamplingParams(temperature=0.7, seed=3)
    first = llm.generate([MESSAGES], sampling, tag="t:strategist")
    again = CachedPolicy("openai:m@http://elsewhere/v1", tmp_path / "cache", tmp_path / "calls.jsonl",
                         factory=lambda s: pytest.fail("a cached request reached the backend"))
    second = again.generate([MESSAGES], sampling, tag="t:strategist")
    assert first[0].text == second[0].text == "answer to q1" and backend.calls == 1
    assert (llm.misses, again.hits, again.misses) == (1, 1, 0)
    log = [json.loads(line) for line in (tmp_path / "calls.jsonl").read_text().splitlines()]
    assert [line["cached"] for line in log] == [False, True]
    assert log[0]["tag"] == "t:strategist" and log[0]["messages"] == MESSAGES and log[0]["text"] == "answer to q1"


def test_failed_requests_are_not_cached_and_offline_misses_fail(tmp_path):
    backend = CountingPolicy(fail=True)
    llm = CachedPolicy("openai:m@http://x/v1", tmp_path / "cache", factory=lambda s: backend)
    [failed] = llm.generate([MESSAGES], SamplingParams())
    assert failed.finish_reason == "error" and llm.lookup(MESSAGES, SamplingParams()) is None
    offline = CachedPolicy("openai:m@http://x/v1", tmp_path / "cache", offline=True,
                           factory=lambda s: pytest.fail("offline runs build no backend"))
    [missing] = offline.generate([MESSAGES], SamplingParams())
    assert missing.finish_reason == "error" and "offline" in missing.error


def test_a_truncated_answer_fails_its_role(tmp_path):
    from sandmle.synth.llm.pipeline import _Asker
    from sandmle.synth.llm.roles import RoleFailure

    class Truncating(CountingPolicy):
        def generate(self, conversations, sampling):
            return [Generation(text="```python\nimport num", finish_reason="length") for _ in conversations]

    llm = CachedPolicy("openai:m@http://x/v1", tmp_path / "cache", factory=lambda s: Truncating())
    ask = _Asker(llm, SamplingParams(max_new_tokens=16), "seed#0")
    with pytest.raises(RoleFailure, match="developer: the answer was cut off at max_new_tokens=16"):
        ask(MESSAGES, "developer")
    assert len(ask.keys) == 1


# ---- grader configuration and script output checks -------------------------------------------

def strategy(dna=BINARY, **changes) -> Strategy:
    p = plan(**changes)
    rule = p["hidden_rule"]
    return Strategy(plan=p, dna=dna, layout=layout_for(dna, p),
                    rule=HiddenRule(rule["description"], rule["formula"], tuple(rule["informative_features"])))


GOOD_GRADER = {"metric": "auc", "id_column": "order_id", "target_columns": ["returned"], "classes": [], "metric_params": {}}


@pytest.mark.parametrize("changes, phrase", [
    ({}, None),
    ({"metric": "log_loss"}, None),                                        # same kind: allowed
    ({"metric": "rmse"}, "has kind value, the task needs kind binary_proba"),
    ({"metric": "roc"}, "is not in the registry"),
    ({"target_columns": ["label"]}, "target_columns must be"),
    ({"id_column": "id"}, "id_column must be 'order_id'"),
    ({"classes": ["0", "1"]}, "classes must be [] for metric kind binary_proba"),
    ({"metric_params": {"k": 3}}, "metric_params must be {}"),
])
def test_grader_configuration_is_checked_against_the_registry(changes, phrase):
    problems = grader_problems(dict(GOOD_GRADER, **changes), strategy(), {"returned": ["0", "1"]})
    if phrase is None:
        assert problems == []
    else:
        assert any(phrase in p for p in problems), problems


def write_outputs(folder, n_train=150, n_test=2000, answers_header="order_id,returned"):
    folder.mkdir(exist_ok=True)
    train = ["order_id,basket_value,items,channel,returned"]
    train += [f"tr{i},{10 + i},{i % 5},web,{i % 2}" for i in range(n_train)]
    test = ["order_id,basket_value,items,channel"] + [f"te{i},{20 + i},{i % 4},app" for i in range(n_test)]
    (folder / "train.csv").write_text("\n".join(train) + "\n")
    (folder / "test.csv").write_text("\n".join(test) + "\n")
    (folder / "answers.csv").write_text("\n".join([answers_header] + [f"te{i},{i % 2}" for i in range(n_test)]) + "\n")
    (folder / "oracle.csv").write_text("\n".join(["order_id,returned"] + [f"te{i},{0.2 + 0.6 * (i % 2)}" for i in range(n_test)]) + "\n")
    (folder / "sample_submission.csv").write_text("\n".join(["order_id,returned"] + [f"te{i},0.5" for i in range(n_test)]) + "\n")


def test_good_script_output_passes_the_checks(tmp_path):
    write_outputs(tmp_path / "out")
    assert check_outputs(tmp_path / "out", strategy()) == []


@pytest.mark.parametrize("kw, phrase", [
    (dict(n_train=30), "train.csv has 30 rows, the plan says train_rows = 150"),
    (dict(answers_header="order_id,label"), "answers.csv columns must be ['order_id', 'returned']"),
])
def test_bad_script_output_is_reported(tmp_path, kw, phrase):
    write_outputs(tmp_path / "out", **kw)
    assert any(phrase in p for p in check_outputs(tmp_path / "out", strategy())), check_outputs(tmp_path / "out", strategy())


def test_an_oracle_no_better_than_the_sample_is_reported(tmp_path):
    write_outputs(tmp_path / "out")
    (tmp_path / "out" / "oracle.csv").write_text((tmp_path / "out" / "sample_submission.csv").read_text())
    assert any("not better than sample_submission.csv" in p for p in check_outputs(tmp_path / "out", strategy()))


def test_a_planted_symlink_is_never_followed(tmp_path):
    secret = tmp_path / "host-secret.csv"
    secret.write_text("order_id,returned\nte0,1\n")
    write_outputs(tmp_path / "out")
    os.unlink(tmp_path / "out" / "answers.csv")
    os.symlink(secret, tmp_path / "out" / "answers.csv")
    problems = check_outputs(tmp_path / "out", strategy())
    assert problems and "answers.csv cannot be read" in problems[0]


def test_layout_of_a_binary_plan():
    layout = layout_for(BINARY, plan())
    assert layout == Layout("order_id", ("basket_value", "items", "channel"), ("returned",), ("returned",), ())
    assert dataclasses.replace(layout).train_columns[-1] == "returned"


# ---- command line ----------------------------------------------------------------------------

def args(**kw):
    import argparse

    base = dict(generator="llm", policy=None, cache=None, max_repairs=None, dry_run=False, seeds=None,
                num_tasks=2, out="bank", seed=0, workers=1, timeout=30.0, separation=1.0, json=False)
    base.update(kw)
    return argparse.Namespace(**base)


def test_model_flags_need_the_llm_generator():
    from sandmle.cli.synth import check_flags

    check_flags(args(policy="openai:m@http://x/v1"))
    check_flags(args(generator="procedural"))
    with pytest.raises(UserError, match="--policy, --dry-run only apply with --generator llm"):
        check_flags(args(generator="procedural", policy="openai:m@http://x/v1", dry_run=True))
    with pytest.raises(UserError, match="^--dry-run only applies with --generator llm$"):
        check_flags(args(generator="procedural", dry_run=True))


def test_dry_run_prints_prompts_and_a_real_run_needs_a_policy(capsys, tmp_path):
    from sandmle.cli.synth import run_llm

    assert run_llm(args(dry_run=True, seeds="tabular-regression-mae", out=str(tmp_path / "bank"))) == 0
    out = capsys.readouterr().out
    assert out.count("strategist request") == 2 and "You are the Data Strategist" in out
    assert not (tmp_path / "bank").exists()
    with pytest.raises(UserError, match="needs --policy"):
        run_llm(args(out=str(tmp_path / "bank")))


def test_a_killed_runs_partial_rejection_line_is_cut(tmp_path):
    from sandmle.synth.llm.pipeline import LLMConfig, synthesize_llm
    from sandmle.synth.funnel import Outcome

    bank = tmp_path / "bank"
    bank.mkdir()
    line = json.dumps(Outcome("tabular-regression-mae", 0, 7, None, "tabular", False, "generate",
                              reason="writer: description rejected").to_json())
    (bank / "_rejected.jsonl").write_text(line + "\n" + line[:40])
    config = LLMConfig(policy="openai:m@http://127.0.0.1:9/v1", cache_dir=tmp_path / "cache", offline=True)
    report = synthesize_llm("tabular-regression-mae", 0, bank, config)
    kept = (bank / "_rejected.jsonl").read_text().splitlines()
    assert [json.loads(k) for k in kept] == [json.loads(line)]
    assert report.synth.funnel.attempted == 1 and report.requests_sent == 0
