"""Language-model synthesis end to end, against a scripted chat-completions server on loopback.

The server speaks the OpenAI chat-completions protocol over real HTTP on 127.0.0.1 and plays
the four roles: the strategist's first plan breaks the schema, the developer's first script
raises, the writer's first description leaks the hidden rule. Each test checks one property:
an accepted task folder, repair and rejection along the way, offline replay, the dry run.
"""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from sandmle.synth.llm.pipeline import CALLS_LOG, LLMConfig, dry_run_text, synthesize_llm
from sandmle.task import load_task

SEED = "tabular-regression-mae"
MODEL = "scripted-model"

PLAN = {
    "domain": "cold-chain logistics",
    "title": "Predict the delay of refrigerated shipments",
    "entity": "one refrigerated shipment",
    "id_column": "shipment_id",
    "train_rows": 200,
    "test_rows": 2000,
    "features": [
        {"name": "transit_hours", "type": "numeric", "description": "hours between loading and delivery"},
        {"name": "ambient_temp_c", "type": "numeric", "description": "mean outside temperature on the route, Celsius"},
        {"name": "door_openings", "type": "numeric", "description": "times the cargo door was opened"},
        {"name": "insulation_score", "type": "numeric", "description": "container insulation rating, 0 to 10"},
        {"name": "pallet_weight_kg", "type": "numeric", "description": "weight of the pallet load"},
        {"name": "route_km", "type": "numeric", "description": "length of the route"},
        {"name": "carrier", "type": "categorical", "description": "the haulage company"},
        {"name": "depot", "type": "categorical", "description": "the dispatching depot"},
    ],
    "targets": [{"name": "delay_minutes", "description": "minutes the shipment arrived after its slot"}],
    "classes": [],
    "mutations": {"missing_rate": 0.02, "distractors": 2},
    "hidden_rule": {
        "description": "Delays grow for routes far from the typical length in either direction and fall with "
                       "hot weather, with carrier effects that interact with the route length.",
        "formula": "score = (-1.17*(z(route_km)^2 - 1) + 0.51*z(transit_hours) + 0.66*(z(pallet_weight_kg)^2 - 1) "
                   "- 1.11*tanh(1.5*z(ambient_temp_c)) + 1.09*(carrier^2 - 1) + 0.40*depot - 1.00*z(door_openings) "
                   "- 1.03*carrier*z(route_km) + 0.38) / 3.57; delay_minutes = 45 + 12*(score + N(0, 0.2^2))",
        "informative_features": ["route_km", "transit_hours", "pallet_weight_kg", "ambient_temp_c", "carrier",
                                 "depot", "door_openings"],
        "noise": "Gaussian noise with standard deviation 0.2 on the standardised score",
    },
}

GOOD_SCRIPT = """\
import numpy as np
import pandas as pd

SEED = {seed}
rng = np.random.default_rng(SEED)
n_train, n_test = 200, 2000
n = n_train + n_test
transit = rng.gamma(4.0, 12.0, n)
temp = rng.normal(18.0, 6.0, n)
doors = rng.poisson(3.0, n).astype(float)
insulation = rng.uniform(0.0, 10.0, n)
weight = rng.normal(800.0, 150.0, n)
route = rng.normal(600.0, 200.0, n)
carrier = rng.choice(["northline", "coastal", "express", "budgetfreight"], n)
depot = rng.choice(["d1", "d2", "d3", "d4", "d5"], n)

def z(v):
    return (v - v.mean()) / v.std()

carrier_effect = pd.Series(carrier).map({{"northline": -1.2, "coastal": 0.1, "express": 0.9, "budgetfreight": 1.6}}).to_numpy()
depot_effect = pd.Series(depot).map({{"d1": 0.5, "d2": -0.4, "d3": 0.0, "d4": 0.8, "d5": -0.9}}).to_numpy()
score = (-1.17 * (z(route) ** 2 - 1) + 0.51 * z(transit) + 0.66 * (z(weight) ** 2 - 1)
         - 1.11 * np.tanh(1.5 * z(temp)) + 1.09 * (carrier_effect ** 2 - 1) + 0.40 * depot_effect
         - 1.00 * z(doors) - 1.03 * carrier_effect * z(route) + 0.38) / 3.57
delay = 45.0 + 12.0 * (score + rng.normal(0.0, 0.2, n))
clean = 45.0 + 12.0 * score
ids = np.array([f"shp{{i:05d}}" for i in rng.permutation(n)])
frame = pd.DataFrame({{
    "shipment_id": ids, "transit_hours": transit.round(2), "ambient_temp_c": temp.round(1),
    "door_openings": doors, "insulation_score": insulation.round(2), "pallet_weight_kg": weight.round(1),
    "route_km": route.round(1), "carrier": carrier, "depot": depot,
    "humidity_pct": rng.uniform(20, 90, n).round(1), "driver_shift_hours": rng.normal(8, 1.5, n).round(2),
}})
for column in ("pallet_weight_kg", "humidity_pct"):
    frame.loc[rng.random(n) < 0.02, column] = np.nan
train, test = frame.iloc[:n_train].copy(), frame.iloc[n_train:].copy()
train["delay_minutes"] = delay[:n_train].round(2)
train.to_csv("train.csv", index=False)
test.to_csv("test.csv", index=False)
pd.DataFrame({{"shipment_id": test.shipment_id, "delay_minutes": delay[n_train:].round(3)}}).to_csv("answers.csv", index=False)
pd.DataFrame({{"shipment_id": test.shipment_id, "delay_minutes": clean[n_train:].round(3)}}).to_csv("oracle.csv", index=False)
pd.DataFrame({{"shipment_id": test.shipment_id, "delay_minutes": round(float(np.median(delay[:n_train])), 2)}}).to_csv(
    "sample_submission.csv", index=False)
print(f"wrote {{n_train}} train and {{n_test}} test rows")
"""

BROKEN_SCRIPT = """\
import numpy as np
import pandas as pd

rng = np.random.default_rng(1)
frame = pd.DataFrame({"transit_hours": rng.gamma(4.0, 12.0, 800)})
frame["delay_minutes"] = frame["transit_hourz"] * 0.5
"""

LEAKY_DESCRIPTION = """# Predict the delay of refrigerated shipments

A cold-chain operator wants to know how late its refrigerated shipments arrive.
Delays grow for routes far from the typical length in either direction, and door_openings drives the delay directly.

Submit `shipment_id,delay_minutes` for each test shipment, like sample_submission.csv.
"""

CLEAN_DESCRIPTION = """# Predict the delay of refrigerated shipments

A cold-chain logistics operator moves fresh produce in refrigerated containers and promises each
customer a delivery slot. Using the trip records below, predict for each shipment in the test set
how many minutes after its slot it arrived.

## Data
- `train.csv`: 200 shipments with the outcome column `delay_minutes`
- `test.csv`: 2000 shipments without the outcome
- Columns: `shipment_id`, transit hours, ambient temperature, door openings, insulation score,
  pallet weight, route length, carrier, depot and further trip measurements. Some cells are missing.

## Evaluation
Mean absolute error between your predictions and the true delays (lower is better).

## Submission
A CSV with header `shipment_id,delay_minutes`, one row per test shipment, as in `sample_submission.csv`.
"""

GRADER = {"metric": "mae", "id_column": "shipment_id", "target_columns": ["delay_minutes"], "classes": [],
          "metric_params": {}}


def answer(messages: list[dict]) -> str:
    """The scripted model: the role from the system prompt, the attempt from the turn count."""
    system, attempt = messages[0]["content"], (len(messages) - 2) // 2
    if system.startswith("You are the Data Strategist"):
        plan = dict(PLAN, train_rows=20) if attempt == 0 else PLAN      # the first plan is too small
        return f"<think>Pick a domain.</think>\n```json\n{json.dumps(plan, indent=1)}\n```"
    if system.startswith("You are the ML Developer"):
        seed = int(messages[1]["content"].split("SEED = ")[1].split()[0])
        code = BROKEN_SCRIPT if attempt == 0 else GOOD_SCRIPT.format(seed=seed)
        return f"Here is the script.\n```python\n{code}```\n"
    if system.startswith("You are the MLOps Engineer"):
        return json.dumps(GRADER)
    if system.startswith("You are the Technical Writer"):
        return LEAKY_DESCRIPTION if attempt == 0 else CLEAN_DESCRIPTION
    raise AssertionError(f"unexpected system prompt {system[:60]!r}")


class ScriptedServer:
    """A chat-completions endpoint on 127.0.0.1 in a thread; counts requests per role."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if self.path != "/v1/chat/completions":
                    self.send_error(404)
                    return
                server.requests.append(body)
                reply = {"id": f"chatcmpl-{len(server.requests)}", "object": "chat.completion", "created": 0,
                         "model": body["model"],
                         "choices": [{"index": 0, "finish_reason": "stop",
                                      "message": {"role": "assistant", "content": answer(body["messages"])}}],
                         "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}
                data = json.dumps(reply).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def roles(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for body in self.requests:
            role = body["messages"][0]["content"].split(",")[0].split("the ")[1].split(" of")[0]
            counts[role] = counts.get(role, 0) + 1
        return counts

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def pool():
    from sandmle.synth.llm.pipeline import PRELOAD_EXTRA
    from sandmle.sandbox.pool import DEFAULT_PRELOAD, Pool

    with Pool(num_workers=2, preload=DEFAULT_PRELOAD + PRELOAD_EXTRA, isolate=True) as running:
        yield running


@pytest.fixture(scope="module")
def first_run(tmp_path_factory, pool):
    """One task synthesised against the live server; the server is stopped afterwards."""
    root = tmp_path_factory.mktemp("llm")
    server = ScriptedServer()
    config = LLMConfig(policy=f"openai:{MODEL}@{server.url}", cache_dir=root / "cache", max_repairs=2)
    try:
        report = synthesize_llm(SEED, 1, root / "bank", config, workers=2, pool=pool)
    finally:
        server.stop()
    return root, config, report, server


def test_accepted_task_folder_loads_with_llm_lineage(first_run):
    root, _, report, _ = first_run
    assert report.synth.accepted_now == 1, report.synth.rejected_now
    [folder] = [p for p in (root / "bank").iterdir() if p.is_dir() and not p.name.startswith(".")]
    task = load_task(folder)
    lineage = task.spec.lineage
    assert lineage.generator == "llm" and lineage.seed == SEED
    assert lineage.extra["model"] == f"openai:{MODEL}"
    assert len(lineage.extra["prompts_sha256"]) == 64
    assert lineage.extra["scripts_run"] == 2
    assert task.spec.metric == "mae" and task.spec.target_columns == ("delay_minutes",)
    assert task.spec.train_rows == 200 and task.spec.test_rows == 2000
    verification = json.loads((folder / "private" / "verification.json").read_text())
    assert verification["passed"]
    assert "tanh" in (folder / "private" / "rule.md").read_text()
    assert not (folder / "public" / "answers.csv").exists()


def test_broken_script_is_repaired_and_leaky_description_rejected(first_run):
    root, _, report, server = first_run
    assert server.roles() == {"Data Strategist": 2, "ML Developer": 2, "MLOps Engineer": 1, "Technical Writer": 2}
    retry = [b for b in server.requests if b["messages"][0]["content"].startswith("You are the Data Strategist")][1]
    assert "$.train_rows: 20 is below minimum 50" in retry["messages"][-1]["content"]
    repair = [b for b in server.requests if b["messages"][0]["content"].startswith("You are the ML Developer")][1]
    feedback = repair["messages"][-1]["content"]
    assert "KeyError" in feedback and "transit_hourz" in feedback
    rewrite = [b for b in server.requests if b["messages"][0]["content"].startswith("You are the Technical Writer")][1]
    assert "rejected" in rewrite["messages"][-1]["content"]
    [folder] = [p for p in (root / "bank").iterdir() if p.is_dir() and not p.name.startswith(".")]
    description = (folder / "public" / "description.md").read_text()
    assert description == CLEAN_DESCRIPTION
    assert "hourz" not in (folder / "private" / "generate.py").read_text()


def test_every_call_is_logged(first_run):
    root, _, report, server = first_run
    lines = [json.loads(x) for x in (root / "bank" / CALLS_LOG).read_text().splitlines()]
    assert len(lines) == len(server.requests) == 7
    assert not any(line["cached"] for line in lines)
    assert report.requests_sent == 7 and report.cache_hits == 0


def test_replay_from_cache_makes_no_request(first_run, tmp_path, pool):
    root, config, first, server = first_run
    before = len(server.requests)          # the server is stopped: a request would fail the task
    report = synthesize_llm(SEED, 1, tmp_path / "bank", config, workers=2, pool=pool)
    assert len(server.requests) == before
    assert report.requests_sent == 0 and report.cache_hits == 7
    assert report.synth.accepted_now == 1
    [a] = [p for p in (root / "bank").iterdir() if p.is_dir() and not p.name.startswith(".")]
    [b] = [p for p in (tmp_path / "bank").iterdir() if p.is_dir() and not p.name.startswith(".")]
    for name in ("train.csv", "test.csv", "sample_submission.csv", "description.md"):
        assert (a / "public" / name).read_bytes() == (b / "public" / name).read_bytes()


def test_offline_run_without_cache_rejects_at_the_strategist(tmp_path, pool):
    config = LLMConfig(policy=f"openai:{MODEL}@http://127.0.0.1:9/v1", cache_dir=tmp_path / "empty", offline=True)
    report = synthesize_llm(SEED, 1, tmp_path / "bank", config, workers=1, pool=pool, max_attempts=1)
    [rejected] = report.synth.rejected_now
    assert report.synth.request.short_seeds == {SEED: {"accepted": 0, "wanted": 1, "attempts": 1}}
    assert rejected.stage == "generate" and rejected.reason.startswith("strategist: model call failed")
    assert report.failures_by_role == {"strategist": 1}


def test_developer_out_of_repairs_is_a_rejection(first_run, tmp_path, pool):
    _, config, _, _ = first_run
    server = ScriptedServer()
    try:
        strict = LLMConfig(policy=f"openai:{MODEL}@{server.url}", cache_dir=tmp_path / "cache", max_repairs=0)
        report = synthesize_llm(SEED, 1, tmp_path / "bank", strict, workers=1, pool=pool, max_attempts=1)
    finally:
        server.stop()
    [rejected] = report.synth.rejected_now
    assert rejected.reason.startswith("developer: no valid data after 1 script(s)")
    rejected_log = (tmp_path / "bank" / "_rejected.jsonl").read_text()
    assert "developer" in rejected_log
    assert not any(p.is_dir() and not p.name.startswith(".") for p in (tmp_path / "bank").iterdir())


def test_dry_run_prints_prompts_without_calls(first_run, tmp_path):
    _, config, _, _ = first_run
    offline = LLMConfig(policy=config.policy, cache_dir=config.cache_dir)
    text = dry_run_text(SEED, 2, config=offline)
    assert text.count("strategist request") == 2
    assert "(cached)" in text and "(not cached)" in text        # task #0 was run, task #1 not
    assert '"modality": "tabular"' in text and "You are the ML Developer" in text
    assert "Kaggle" not in text                                  # the seed's meaning stays out
