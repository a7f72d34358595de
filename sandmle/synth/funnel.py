"""A bank's record of its finished tasks: one `Outcome` per task, and the funnel over them.

An accepted task keeps its outcome in BANK/<task_id>/private/outcome.json; a rejected one is
a line of BANK/_rejected.jsonl (appended, so a killed run can leave a partial last line,
which `repair_rejected` cuts). `compute_funnel` counts them stage by stage, like the
paper's 1200 -> 1119 -> 1106 -> 912, and BANK/_funnel.json keeps the result with the
run's seed. Both generators (`sandmle.synth.pipeline`, `sandmle.synth.llm.pipeline`) file
their tasks this way, and `sandmle bank stats` reads it.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sandmle.files import write_text_atomic
from sandmle.task import write_json_atomic

FUNNEL_FILE = "_funnel.json"
REJECTED_FILE = "_rejected.jsonl"


@dataclass(frozen=True)
class Outcome:
    """What happened to one task: its stage results, kept in the funnel and rejected log."""

    seed_id: str
    index: int
    random_seed: int
    task_id: str | None
    modality: str
    accepted: bool
    stage: str                          # last stage reached: "generate", "screen" (a data check failed
    # before calibration, sandmle.synth.verify.DATA_CHECKS), "calibrate", "verify", "accepted"
    reason: str | None = None           # first failure, one line
    checks: tuple[dict, ...] = ()       # CheckResult.to_json() of every check run
    valid_solutions: int = 0
    total_solutions: int = 0
    wall_s: float = 0.0
    domain: str = ""
    metric: str = ""
    phase_s: dict[str, float] = field(default_factory=dict)   # generate, calibrate, verify; jobs = sum of job
    # walls; jobs_cpu = CPU seconds of those jobs
    repairs: tuple[dict, ...] = ()      # failed rounds before the last: {design, stage, reason}
    design: dict = field(default_factory=dict)    # the last round's design (sandmle.synth.design.Design)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["checks"] = list(self.checks)
        data["repairs"] = list(self.repairs)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Outcome":
        data = dict(data)
        data["checks"] = tuple(data.get("checks", ()))
        data["repairs"] = tuple(data.get("repairs", ()))
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class Funnel:
    """Counts over every finished task of a bank."""

    attempted: int
    generated: int
    calibrated: int
    check_passes: dict[str, int]        # per check: tasks passing it (out of `calibrated`)
    cumulative: tuple[tuple[str, int], ...]   # generated -> screened -> calibrated -> each check in turn
    accepted: int
    by_modality: dict[str, dict[str, int]]    # modality -> {"generated": n, "accepted": n}
    rejected_by_stage: dict[str, int]
    repaired: int = 0                   # accepted after one or more repaired designs

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["cumulative"] = [list(x) for x in self.cumulative]
        return data

    def line(self) -> str:
        """attempted 41 -> generated 40 -> screened 40 -> calibrated 39 -> ... -> accepted 35"""
        parts = [f"attempted {self.attempted}"] + [f"{name} {n}" for name, n in self.cumulative]
        parts.append(f"accepted {self.accepted}" + (f" ({self.repaired} after a repair)" if self.repaired else ""))
        return " -> ".join(parts)



def read_outcomes(out_dir: Path) -> list[Outcome]:
    """Every finished task of a bank: accepted folders, then the rejected log."""
    outcomes = []
    for path in sorted(out_dir.iterdir()) if out_dir.is_dir() else ():
        record = path / "private" / "outcome.json"
        if path.is_dir() and not path.name.startswith((".", "_")) and record.is_file():
            outcomes.append(Outcome.from_json(json.loads(record.read_text(encoding="utf-8"))))
    return outcomes + read_rejected(out_dir)


def read_rejected(out_dir: Path) -> list[Outcome]:
    path = out_dir / REJECTED_FILE
    if not path.is_file():
        return []
    outcomes = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            outcomes.append(Outcome.from_json(json.loads(line)))
        except (json.JSONDecodeError, TypeError):
            continue      # only a killed run's last, partial line can be malformed
    return outcomes


def repair_rejected(out_dir: Path) -> None:
    """Drop a partial last line left by a killed run (rewrite the log atomically)."""
    path = out_dir / REJECTED_FILE
    if not path.is_file():
        return
    text = path.read_text(encoding="utf-8")
    good = [o.to_json() for o in read_rejected(out_dir)]
    fixed = "".join(json.dumps(o, sort_keys=True) + "\n" for o in good)
    if fixed != text:
        write_text_atomic(path, fixed)


def compute_funnel(outcomes: list[Outcome], checks: tuple[str, ...] | None = None) -> Funnel:
    from sandmle.synth.verify import CHECKS

    checks = CHECKS if checks is None else checks
    generated = [o for o in outcomes if o.stage != "generate"]
    screened = [o for o in generated if o.stage != "screen"]
    calibrated = [o for o in screened if o.stage != "calibrate"]

    def passed(o: Outcome, name: str) -> bool:
        return any(c["name"] == name and c["passed"] for c in o.checks)

    check_passes = {name: sum(passed(o, name) for o in calibrated) for name in checks}
    cumulative = [("generated", len(generated)), ("screened", len(screened)), ("calibrated", len(calibrated))]
    alive = calibrated
    for name in checks:
        alive = [o for o in alive if passed(o, name)]
        cumulative.append((name, len(alive)))
    by_modality: dict[str, dict[str, int]] = {}
    for o in outcomes:
        row = by_modality.setdefault(o.modality, {"attempted": 0, "generated": 0, "accepted": 0})
        row["attempted"] += 1
        row["generated"] += o.stage != "generate"
        row["accepted"] += o.accepted
    rejected_by_stage: dict[str, int] = {}
    for o in outcomes:
        if not o.accepted:
            rejected_by_stage[o.stage] = rejected_by_stage.get(o.stage, 0) + 1
    return Funnel(attempted=len(outcomes), generated=len(generated), calibrated=len(calibrated),
                  check_passes=check_passes, cumulative=tuple(cumulative),
                  accepted=sum(o.accepted for o in outcomes),
                  by_modality=dict(sorted(by_modality.items())),
                  rejected_by_stage=dict(sorted(rejected_by_stage.items())),
                  repaired=sum(o.accepted and bool(o.repairs) for o in outcomes))


def read_funnel(out_dir: Path) -> Funnel:
    return compute_funnel(read_outcomes(Path(out_dir)))



def write_funnel(out_dir: Path, seed: int, funnel: Funnel, request=None) -> None:
    """BANK/_funnel.json: the run's seed, the funnel, and `request` (a
    `sandmle.synth.schedule.ScheduleSummary`: N asked for, attempts taken, seeds short)."""
    data = {"random_seed": seed, **funnel.to_json()}
    if request is not None:
        data["request"] = request.to_json()
    write_json_atomic(out_dir / FUNNEL_FILE, data)

