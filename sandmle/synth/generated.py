"""A generated task in memory, before calibration: `generate_task(seed, random_seed)`.

The procedural engine: amplify the seed (domain, mutations, micro sizes), generate data
with a hidden rule, write the description. It needs no language model and is deterministic:
the same (seed, random_seed) gives byte-identical files. `GeneratedTask.spec` carries
placeholder thresholds (0, 0, 0, 0); calibration replaces them.

`spec.train_rows` counts rows of train.csv; `spec.test_rows` counts rows of answers.csv
(one per test id, or per pixel/token for long-format submissions).
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from sandmle.synth.amplify import amplify
from sandmle.synth.describe import describe
from sandmle.synth.design import Design
from sandmle.synth.dna import TaskDNA
from sandmle.synth.generators import generate_data
from sandmle.sources.mlebench_lite import seeded_grader
from sandmle.synth.generators.common import to_csv
from sandmle.task import Lineage, TaskSpec, Thresholds

GENERATOR = "procedural"
GENERATOR_VERSION = "1"
RULE_FILE = "rule.md"
ORACLE_FILE = "oracle.csv"


@dataclass(frozen=True)
class GeneratedTask:
    spec: TaskSpec
    dna: TaskDNA                       # the amplified DNA
    domain: str
    public_files: dict[str, bytes]     # path under public/ -> bytes
    answers_csv: bytes
    oracle_csv: bytes
    hidden_rule: str
    train_ids: tuple[str, ...]
    test_ids: tuple[str, ...]

    def write(self, public_dir: Path, private_dir: Path) -> None:
        """Write public files, answers, oracle and rule into folders of their own, each file
        straight to its name: the pipeline stages a task in a fresh folder and renames the
        whole folder into the bank (`sandmle.synth.pipeline`), so no reader sees a file half
        written, and a killed run's staging is cleared when the next run starts. An image or
        audio task holds thousands of files; a temporary name and a rename per file cost as
        much as the writes (mlsp's 1956 files: 0.17-0.22 -> 0.10-0.13 s CPU)."""
        files = [(Path(public_dir) / rel, data) for rel, data in self.public_files.items()]
        files += [(Path(private_dir) / "answers.csv", self.answers_csv), (Path(private_dir) / ORACLE_FILE, self.oracle_csv),
                  (Path(private_dir) / RULE_FILE, self.hidden_rule.encode("utf-8"))]
        folders: set[Path] = set()
        for path, data in files:
            if path.parent not in folders:
                path.parent.mkdir(parents=True, exist_ok=True)
                folders.add(path.parent)
            with open(path, "wb") as fh:
                fh.write(data)


def task_rng(seed: TaskDNA, random_seed: int) -> np.random.Generator:
    """The generator's randomness: a function of the seed id and the random seed only."""
    return np.random.default_rng([int(random_seed) & 0xFFFFFFFF, zlib.crc32(seed.id.encode("utf-8"))])


def generate_task(seed: TaskDNA, random_seed: int, task_id: str | None = None,
                  domain: str | None = None, design: Design | None = None) -> GeneratedTask:
    """Amplify `seed`, generate its data and description (deterministic; see module doc).
    `design` sets the test size and signal strength (`sandmle.synth.design`)."""
    design = design or Design()
    rng = task_rng(seed, random_seed)
    dna, bp = amplify(seed, rng, domain=domain, test_scale=design.test_scale)
    extra = {"domain": dna.domain, "design": design.to_json()}
    if seed.is_data_conditioned:        # a twin follows its data model; the design sets only its test size
        from sandmle.synth.twin.generate import generate_twin, mutations, twin_classes
        from sandmle.synth.twin.model import DataModel

        bp = replace(bp, classes=twin_classes(DataModel.from_json(seed.data_model), dna, bp))
        data = generate_twin(seed, dna, bp, rng)
        extra.update(twin=True, mutations=mutations(seed, dna),
                     source_duplicate_share=DataModel.from_json(seed.data_model).duplicate_share)
    else:
        data = generate_data(dna, bp, rng, signal=design.signal)
    task_id = task_id or f"{seed.id}-{dna.domain}-{random_seed}"
    sample_csv = to_csv(data.sample)
    grader = seeded_grader(seed.id, dna.metric_kind)
    public = {"description.md": describe(dna, bp, data, grader).encode("utf-8"),
              "train.csv": to_csv(data.train), "test.csv": to_csv(data.test),
              "sample_submission.csv": sample_csv}
    public.update(data.files)
    answers_csv = to_csv(data.answers)
    spec = TaskSpec(
        id=task_id, title=bp.title, modality=dna.modality, metric=dna.metric,
        is_lower_better=dna.is_lower_better, id_column=bp.id_column,
        target_columns=tuple(bp.target_columns), thresholds=Thresholds(0.0, 0.0, 0.0, 0.0),
        train_rows=len(next(iter(data.train.values()))), test_rows=len(next(iter(data.answers.values()))),
        lineage=Lineage(seed=seed.id, generator=GENERATOR, generator_version=GENERATOR_VERSION,
                        random_seed=int(random_seed), dna=dna.lineage_json(), extra=extra),
        domain=dna.domain, metric_params=dict(dna.metric_params), classes=tuple(bp.classes),
        grader=grader)
    rule = (f"# Hidden rule of {task_id}\n\nSeed {seed.id}, domain {dna.domain}, random seed {random_seed}.\n\n"
            f"{data.rule_text}")
    return GeneratedTask(spec=spec, dna=dna, domain=dna.domain, public_files=public, answers_csv=answers_csv,
                         oracle_csv=to_csv(data.oracle), hidden_rule=rule,
                         train_ids=data.train_ids, test_ids=data.test_ids)
