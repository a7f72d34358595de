#!/usr/bin/env bash
# The paper's pipeline in miniature, on CPU: a scripted teacher's trajectories (weak, medium
# and strong in equal shares) on one synthetic bank, SFT of a small transformer from scratch
# until it writes valid turns, then GRPO through the real agent protocol, sandbox and grader
# on that bank; the policy is evaluated on a held-out bank (new tasks of the same nine seeds)
# before SFT, after SFT and after GRPO.
#
#   make sft-grpo-cpu                  (or: bash recipes/sft-grpo-cpu.sh [RUN_DIR])
#
# Stages (each resumes: rerun the script after a kill):
#   banks/train, banks/heldout   sandmle synth: 18 training and 36 held-out tasks of nine tabular seeds
#   teacher/                     sandmle eval --mix: 6 episodes a task of scripted:*:short
#   sft/                         sandmle sft recipes/sft-cpu.toml: sft/model-init (the scratch
#                                model and its tokenizer), sft/model (after SFT)
#   grpo/                        sandmle train recipes/grpo-after-sft-cpu.toml from sft/model:
#                                grpo/curves.png (train and held-out reward), grpo/model
#   eval/{before-sft,after-sft,after-grpo}   sandmle eval on banks/heldout, same settings
#   stages.png, stages.json      sandmle report: valid rate and mean reward at the three points
#   timing.txt                   seconds per stage and the machine's load (uptime)
#
# Every stage gives the agent the score tool of the paper's training (the test score and the
# medal thresholds), so the model always sees the responses it learnt from, and one episode
# budget: three turns (solution, score, answer), 300 s an episode, 60 s a Python run, which
# the task message states ("At most 3 turns, 300 s in all, 60 s per Python run"), and at most
# 160 new tokens a turn. A small model reads that line as part of its prompt: with the
# teacher at 4 turns / 1200 s / 300 s, GRPO at 3 / 300 / 60 and the evaluations at eval's
# CPU budget (3 / 600 / 120), the GRPO model was evaluated on a prompt it never trained on.
#
# Hardware: 2 CPU cores. torch runs one thread (OMP_NUM_THREADS=1): on the shared 2-core
# development machine training ran faster with one thread than with two; on an idle machine
# OMP_NUM_THREADS=2 may be faster.
#
# Measured with these defaults (2026-12-01, the shared 2-core development machine (AMD EPYC),
# nice 0, other jobs beside it; mean reward +/- SE over the 36 held-out tasks and the paired
# gain, as `sandmle report --stages` prints them; before SFT 1 episode a task, after 4):
#   run 1 (synth --seed 11 and 12, sft seed 0, train seed 0, eval seed 7; load 2-6; 20.4 min
#   with 4 episodes a task before SFT, which took 396 s of it):
#     before SFT   valid   0%, medal  0%, reward 0.008 +/- 0.002
#     after SFT    valid  93%, medal 42%, reward 0.554 +/- 0.022  (paired +0.546 +/- 0.022, +24.8 SE)
#     after GRPO   valid  95%, medal 56%, reward 0.626 +/- 0.026  (paired +0.072 +/- 0.030, +2.4 SE)
#   run 2 (the same seeds, from scratch; load 3.3-6.2; 15.4 min: synth 52 + 61, teacher 32,
#   sft 103, evaluations 65, 102 and 161, grpo 347 s):
#     before SFT   valid   0%, medal  0%, reward 0.004 +/- 0.002
#     after SFT    valid  99%, medal 44%, reward 0.604 +/- 0.025  (paired +0.600 +/- 0.025, +23.7 SE)
#     after GRPO   valid  96%, medal 58%, reward 0.677 +/- 0.029  (paired +0.073 +/- 0.028, +2.6 SE)
#   run 3 (other seeds: TRAIN_BANK_SEED=21 HELDOUT_BANK_SEED=22 SFT_SET="sft.seed=1"
#   GRPO_SET="train.seed=1"; load 2.5-5.8; 13.4 min: synth 48 + 96, teacher 30, sft 69,
#   evaluations 40, 86 and 106, grpo 329 s):
#     before SFT   valid   0%, medal  0%, reward 0.006 +/- 0.002
#     after SFT    valid  99%, medal 49%, reward 0.615 +/- 0.021  (paired +0.609 +/- 0.021, +29.5 SE)
#     after GRPO   valid 100%, medal 74%, reward 0.736 +/- 0.028  (paired +0.122 +/- 0.028, +4.3 SE)
#   run 4 (the seeds of runs 1 and 2, training with the CPU attention kernel; load 1.1-3.3;
#   12.0 min: synth 39 + 30, teacher 15, sft 53, evaluations 40, 121 and 159, grpo 266 s):
#     before SFT   valid   0%, medal  0%, reward 0.012 +/- 0.003
#     after SFT    valid  79%, medal 32%, reward 0.493 +/- 0.029  (paired +0.481 +/- 0.029, +16.4 SE)
#     after GRPO   valid  65%, medal 38%, reward 0.450 +/- 0.046  (paired -0.043 +/- 0.042, -1.0 SE)
#   Two more GRPO stages from run 4's SFT model: with [model] attention = "sdpa" valid 85%,
#   medal 38%, 0.553 +/- 0.030 (+0.060 +/- 0.031, +1.9 SE); with the kernel again valid 85%,
#   medal 49%, 0.601 +/- 0.027 (+0.109 +/- 0.026, +4.1 SE). SFT with either attention reached
#   the same loss (0.0386 at step 150; weights within 3e-5). GRPO's gain varies from run to
#   run of the same SFT model (-0.043 to +0.109 here): a tendency, not a promise for each run.
#   The runs differ with the same seeds: the hf backend's batches depend on which episodes are
#   in flight. KL to the SFT model at most 0.012, 0.035, 0.022 and 0.008 a token.
# Earlier runs with 18 held-out tasks (same stages and defaults otherwise) gained +0.088, +0.096
# and +0.112 (20 GRPO steps) but at +2.4, +1.6 and +2.4 SE: the held-out bank was too small to
# show a gain of this size every time, so it went to 36 tasks (SE 0.036-0.061 -> 0.028-0.030).
# Those runs:
#   the first from scratch (GRPO lr 1.5e-4; load average 1.2-2.5 from other users'
#   jobs): stage seconds synth-train 17, synth-heldout 16, teacher 10, sft 63 (150 steps),
#   eval-before-sft 71, eval-after-sft 41, grpo 176 (10 steps), eval-after-grpo 47: 7.4 min
#   in all (the same stages took 11.5 min at load 2.2-6.6, and 35.5 min at nice 10 and load
#   3-12).
#     before SFT   valid   0%, medal  0%, reward 0.009 +/- 0.002
#     after SFT    valid  99%, medal 33%, reward 0.574 +/- 0.027  (paired +0.565 +/- 0.026, +21.5 SE)
#     after GRPO   valid  99%, medal 53%, reward 0.661 +/- 0.038  (paired +0.088 +/- 0.036, +2.4 SE)
#   A second run from scratch with the same defaults and seeds (load 1.2-1.9, 9.5 min in all:
#   synth 17 + 16, teacher 11, sft 59, evaluations 65, 58 and 57, grpo 285) fell short of
#   two SE: after SFT valid 86%, medal 35%, reward 0.546 +/- 0.049 (that SFT model wrote no
#   code on some tasks); after GRPO valid 97%, medal 47%, reward 0.642 +/- 0.038, paired
#   +0.096 +/- 0.061 (+1.6 SE; KL at most 0.011). Neither stage is bit-reproducible: the hf
#   backend's batches depend on which episodes are in flight, so the same seeds give
#   different samples. GRPO gained +0.09 to +0.10 in both runs; the goal of more than two SE
#   is met in one of the two.
#   A third from scratch with 20 GRPO steps (GRPO_SET="train.steps=20"; load 3-4 with a test
#   suite running beside it, 17.3 min in all, grpo 575 s): after SFT valid 89%, medal 35%,
#   reward 0.540 +/- 0.035; after GRPO valid 92%, medal 57%, reward 0.652 +/- 0.053, paired
#   +0.112 +/- 0.046 (+2.4 SE); held-out during training 0.772 at step 5, 0.706 at 10, 0.569
#   at 15, 0.670 at 20 (1 episode a task), KL at most 0.054: no better than 10 steps.
#   From scratch at the earlier lr 3e-4 (load 2.2-6.6, 11.5 min): after SFT 0.628 +/- 0.035,
#   after GRPO valid 82%, 0.628 +/- 0.051 (+0.0 SE): the KL to the SFT model jumped to 0.42 a
#   token at step 7 (0.03-0.10 in the runs that held) and the model wrote a regressor into
#   the classifier branch (`... if kind == "value" else RandomForestRegressor(...)`, often
#   repeated), an invalid submission. On that run's SFT model, one GRPO run each (two at a
#   time, load 6-7.7, grpo about 700 s): lr 1.5e-4 0.730 +/- 0.038 (+0.102 +/- 0.046, +2.2 SE,
#   valid 100%, KL at most 0.026); lr 3e-4 with groups of 4 over 8 tasks a step 0.739 +/- 0.039
#   (+0.111 +/- 0.043, +2.6 SE, valid 99%). On an earlier SFT model (0.612 +/- 0.032), lr 3e-4
#   held twice: 10 steps 0.743 +/- 0.040 (+3.4 SE); 20 steps 0.720 at step 10, 0.762 at 15,
#   0.757 +/- 0.042 at 20 (+3.3 SE; grpo 800 s at load 3.6-4.8). So GRPO gains about +0.09 to
#   +0.14 when it holds the format, 1.6-3.4 SE at this size; lr 1.5e-4 is the default for its
#   smaller steps (KL at most 0.095, 0.011 and 0.026 in its three runs, 0.42 in the failed
#   one at 3e-4), not for a measured lower failure rate: three runs are too few to
#   show one. GRPO also learns to spend the third turn on another Python run rather than the
#   answer (the last submission is graded either way at the turn budget).
#   Before the one-budget change (2 episodes a task) GRPO measured 0.636 -> 0.600 (-0.9 SE),
#   valid 81%, with the same failure; lr 1e-3 without a KL term broke the format further
#   (valid 39%, reward 0.389 +/- 0.073). 4 held-out episodes a task instead of 2 cost about a
#   minute in all and cut the paired SE from 0.056 to 0.038 on the same two models.
set -euo pipefail

RUN=${1:-runs/sft-grpo-cpu}
SANDMLE=${SANDMLE:-.venv/bin/sandmle}
SEEDS=${SEEDS:-tabular-playground-series-may-2022,tabular-binary-logloss-grouped,tabular-binary-accuracy,tabular-binary-mcc,tabular-multiclass-f1-macro,tabular-playground-series-dec-2021,tabular-regression-mae,tabular-regression-r2,new-york-city-taxi-fare-prediction}
NUM_TASKS=${NUM_TASKS:-18}            # training bank
TRAIN_BANK_SEED=${TRAIN_BANK_SEED:-11}   # sandmle synth --seed of each bank
HELDOUT_BANK_SEED=${HELDOUT_BANK_SEED:-12}
HELDOUT_TASKS=${HELDOUT_TASKS:-36}    # held-out bank: the SE of the paired gain shrinks as 1/sqrt(tasks)
TEACHER_EPISODES=${TEACHER_EPISODES:-6}   # per training task
HELDOUT_EPISODES=${HELDOUT_EPISODES:-4}   # per held-out task, after SFT and after GRPO
BEFORE_SFT_EPISODES=${BEFORE_SFT_EPISODES:-1}   # per held-out task before SFT: the scratch model writes
                                      # 160 tokens of noise a turn (no valid turn in 144 episodes) and took
                                      # 396 s for 4 a task, more than any other stage
MAX_NEW_TOKENS=${MAX_NEW_TOKENS:-160}   # per turn, in GRPO's rollouts and the held-out evaluations
# One episode budget for the teacher, GRPO and the evaluations: the task message states it
# ("At most 3 turns, 300 s in all, 60 s per Python run"), so a different one is a prompt the
# policy never trained on.
MAX_TURNS=3
EPISODE_TIMEOUT_S=300
STEP_TIMEOUT_S=60
BUDGET=(--max-turns "$MAX_TURNS" --episode-timeout-s "$EPISODE_TIMEOUT_S" --step-timeout-s "$STEP_TIMEOUT_S")
SFT_SET=${SFT_SET:-}                  # extra --set overrides, e.g. "sft.max_steps=5"
GRPO_SET=${GRPO_SET:-}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}

mkdir -p "$RUN"
TIMING="$RUN/timing.txt"
stage() {            # stage NAME COMMAND...: run it; log its wall and CPU seconds and the load
    local name=$1      # (on stderr: a stage's stdout may be redirected to a JSON file)
    shift
    echo "== $name" >&2
    /usr/bin/time -f "$name %e s wall, %U s user, %S s system (children included)" -a -o "$TIMING" "$@"
    echo "$name done; $(uptime)" | tee -a "$TIMING" >&2
}
has_tasks() { compgen -G "$1/*/task.json" > /dev/null; }
sets() { local s; for s in $1; do printf -- '--set %s ' "$s"; done; }

# A bank folder that already holds tasks is used as it is (a test may bring its own).
has_tasks "$RUN/banks/train" || stage synth-train "$SANDMLE" synth --seeds "$SEEDS" --num-tasks "$NUM_TASKS" \
    --out "$RUN/banks/train" --seed "$TRAIN_BANK_SEED" --workers 2
has_tasks "$RUN/banks/heldout" || stage synth-heldout "$SANDMLE" synth --seeds "$SEEDS" --num-tasks "$HELDOUT_TASKS" \
    --out "$RUN/banks/heldout" --seed "$HELDOUT_BANK_SEED" --workers 2

stage teacher "$SANDMLE" eval --mix scripted:weak:short=1,scripted:medium:short=1,scripted:strong:short=1 \
    --bank "$RUN/banks/train" --out "$RUN/teacher" --num-episodes-per-task "$TEACHER_EPISODES" \
    "${BUDGET[@]}" --score-tool test --workers 2 --split train --resume --json > "$RUN/teacher.json"

# shellcheck disable=SC2046
stage sft "$SANDMLE" sft recipes/sft-cpu.toml --data "$RUN/teacher/episodes.jsonl" --out "$RUN/sft" \
    --set log.live=false $(sets "$SFT_SET")

mkdir -p "$RUN/eval"
EVAL=(--bank "$RUN/banks/heldout" --num-episodes-per-task "$HELDOUT_EPISODES" "${BUDGET[@]}"
      --max-new-tokens "$MAX_NEW_TOKENS" --temperature 0.7 --score-tool test --seed 7 --workers 2 --split heldout
      --resume --json)
stage eval-before-sft "$SANDMLE" eval --policy "hf:$RUN/sft/model-init" --out "$RUN/eval/before-sft" "${EVAL[@]}" \
    --num-episodes-per-task "$BEFORE_SFT_EPISODES" > "$RUN/eval/before-sft.json"
stage eval-after-sft "$SANDMLE" eval --policy "hf:$RUN/sft/model" --out "$RUN/eval/after-sft" "${EVAL[@]}" \
    > "$RUN/eval/after-sft.json"

# shellcheck disable=SC2046
stage grpo "$SANDMLE" train recipes/grpo-after-sft-cpu.toml --out "$RUN/grpo" \
    --set "model.path=\"$RUN/sft/model\"" --set "bank.path=\"$RUN/banks/train\"" \
    --set "eval.bank=\"$RUN/banks/heldout\"" --set "rollout.max_turns=$MAX_TURNS" \
    --set "rollout.episode_timeout_s=$EPISODE_TIMEOUT_S" --set "rollout.step_timeout_s=$STEP_TIMEOUT_S" \
    --set "rollout.max_new_tokens=$MAX_NEW_TOKENS" --set log.live=false $(sets "$GRPO_SET")
stage eval-after-grpo "$SANDMLE" eval --policy "hf:$RUN/grpo/model" --out "$RUN/eval/after-grpo" "${EVAL[@]}" \
    > "$RUN/eval/after-grpo.json"

"$SANDMLE" report --stages "$RUN/eval/before-sft" "$RUN/eval/after-sft" "$RUN/eval/after-grpo" \
    --labels "before SFT,after SFT,after GRPO" --chart "$RUN/stages.png"
"$SANDMLE" report --stages "$RUN/eval/before-sft" "$RUN/eval/after-sft" "$RUN/eval/after-grpo" \
    --labels "before SFT,after SFT,after GRPO" --json > "$RUN/stages.json"
echo "wrote $RUN/stages.png, $RUN/stages.json, $RUN/grpo/curves.png, $TIMING"
