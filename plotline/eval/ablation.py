"""The method ablation (`plotline eval ablation`): per seed, one bootstrap, one training run per variant that starts
from it, and one evaluation of every condition on the same held-out prompts and noise; then the table over seeds,
committed as an `ablation` artifact.

Layout under the store root, per seed s (AblationConfig.run_prefix = P):
- `P-s<s>-base`: the setup stages (instructions, bootstrap) and the evaluate stage at step 0, whose conditions are
  `mode@base` (the bootstrap policy) or `mode[+reflect]@<variant run>@step=<steps−1>`;
- `P-s<s>-<variant>`: the variant's RL steps. Its stages read the base run's committed instructions and bootstrap
  checkpoint as pinned inputs (their manifests name those artifacts by URI), so every variant starts from the same
  warm start, trained once, and the lineage says so;
- `P`: the `ablation` artifact (step 0): `seeds.parquet` (ablation_seeds), `summary.parquet` (ablation_summary),
  `report.md`, `report.html` and `ablation.png`. Its inputs are the seeds' evaluate manifests.

Stages go through a `StageRunner` handed in by the caller (the CLI passes `stages.base.run_stage`): a stage whose
inputs and config are already committed is skipped, never recomputed, and an ablation artifact with the same inputs
is reused, so rerunning the command resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from plotline.config import PlotlineConfig, load_config, with_sections
from plotline.eval.ablation_config import AblationCondition, AblationConfig, AblationVariant
from plotline.eval.ablation_report import ABLATION_STAGE, AblationReport, build_ablation_report
from plotline.eval.ablation_stats import seed_rows, summary_rows
from plotline.eval.config import EvalCondition, eval_section
from plotline.store import Artifact, RunStore
from plotline.store.config import StorageConfig
from plotline.store.manifest import InputRef, Manifest, input_digest
from plotline.version import code_version

BASE = "base"
"""Run-folder suffix of a seed's bootstrap run (and the variant label of conditions without training)."""
REQUIRED_SETUP = ("instructions", "bootstrap")
"""Setup stages the ablation shares between a seed's runs."""


class StageRunner(Protocol):
    """`stages.base.run_stage`'s signature, as far as the ablation calls it."""

    def __call__(
        self,
        name: str,
        config: PlotlineConfig,
        run_uri: str,
        step: int,
        *,
        pinned_inputs: dict[str, str] | None = None,
        show_progress: bool = True,
    ) -> Any: ...


@dataclass(frozen=True)
class StageEvent:
    """One stage call of the ablation: where it ran and whether it was committed or skipped (already committed)."""

    seed: int
    run: str
    stage: str
    step: int
    status: str
    wall_s: float | None


@dataclass
class AblationOutcome:
    """What `run_ablation` produced: the committed artifact, whether it is new, and the rendered report."""

    status: str
    artifact: Artifact
    report: AblationReport
    events: list[StageEvent] = field(default_factory=list)

    @property
    def started(self) -> list[StageEvent]:
        """The stage calls that computed something (status `committed`)."""
        return [e for e in self.events if e.status == "committed"]


def run_uri(root: str, prefix: str, seed: int | None = None, name: str | None = None) -> str:
    """`<root>/<prefix>-s<seed>-<name>`, or `<root>/<prefix>` for the ablation artifact's own run."""
    leaf = prefix if seed is None else f"{prefix}-s{seed}-{name}"
    return f"{str(root).rstrip('/')}/{leaf}"


def seed_config(presets: Sequence[str], overrides: Sequence[str], seed: int, root: str) -> PlotlineConfig:
    """The presets and overrides with `seed` and the store root set (the world, hence the prompts, unchanged)."""
    return load_config(list(presets), [*overrides, f"seed={seed}", f"storage.root={root}"])


def variant_config(
    presets: Sequence[str], overrides: Sequence[str], seed: int, root: str, variant: AblationVariant
) -> PlotlineConfig:
    """A variant's config: the seed's config with the variant's overrides applied last."""
    return load_config(list(presets), [*overrides, f"seed={seed}", f"storage.root={root}", *variant.overrides])


def variant_stages(config: PlotlineConfig, variant: AblationVariant) -> list[str]:
    """The variant's RL step stages: `orchestration.step_stages` without its `omit_stages`."""
    steps = list(config.orchestration.step_stages)
    unknown = [s for s in variant.omit_stages if s not in steps]
    if unknown:
        raise ValueError(
            f"ablation variant {variant.name!r}: omit_stages {unknown} are not in orchestration.step_stages {steps}"
        )
    return [s for s in steps if s not in variant.omit_stages]


def eval_conditions(acfg: AblationConfig, runs: dict[str, str], steps: int) -> list[EvalCondition]:
    """The evaluate stage's conditions: `mode@base`, or the variant run's checkpoint after its last RL step."""
    out = []
    for c in acfg.conditions:
        ckpt = BASE if c.variant is None else f"{runs[c.variant]}@step={steps - 1}"
        out.append(EvalCondition(name=c.name, mode=c.mode, checkpoint=ckpt, reflect=c.reflect))
    return out


def check_setup(config: PlotlineConfig, steps: int) -> None:
    """Refuse a config the ablation cannot share a bootstrap under, or a step count below 1."""
    setup = list(config.orchestration.setup_stages)
    missing = [s for s in REQUIRED_SETUP if s not in setup]
    if missing:
        raise ValueError(f"the ablation shares {missing} between runs: add them to orchestration.setup_stages {setup}")
    if steps < 1:
        raise ValueError(f"--steps {steps}: the trained conditions need at least one RL step")


def planned_calls(acfg: AblationConfig, config: PlotlineConfig, seeds: Sequence[int], steps: int) -> int:
    """How many stage calls the ablation makes (setup + RL steps of the used variants + one evaluate, per seed)."""
    per_seed = len(config.orchestration.setup_stages) + 1
    per_seed += sum(steps * len(variant_stages(config, v)) for v in acfg.used_variants())
    return per_seed * len(seeds)


def _wall(art: Artifact) -> float | None:
    value = art.manifest.summary.get("wall_s")
    return None if value is None else float(value)


def _sum_wall(arts: Sequence[Artifact]) -> float | None:
    walls = [_wall(a) for a in arts]
    return None if any(w is None for w in walls) else float(sum(w for w in walls if w is not None))


def _rows_of_kind(art: Artifact, kind: str) -> int:
    return sum(int(f.rows or 0) for f in art.manifest.files if f.kind == kind)


@dataclass
class _VariantRun:
    uri: str
    artifacts: list[Artifact]
    rl_steps: int

    def compute(self) -> dict:
        rollouts = [a for a in self.artifacts if a.manifest.stage == "rollout"]
        return {
            "train_s": _sum_wall(self.artifacts),
            "rl_steps": self.rl_steps,
            "train_videos": sum(_rows_of_kind(a, "rollouts") for a in rollouts),
        }


def _eval_compute(evaluation: Artifact) -> dict[str, dict]:
    names = [f.name for f in evaluation.manifest.files if f.kind == "eval_throughput"]
    if not names:
        return {}
    tp = evaluation.read_table(names[0]).to_pandas()
    out: dict[str, dict] = {}
    for name, g in tp.groupby("condition"):
        out[str(name)] = {
            "eval_s": float((g["generation_s"] + g["planning_s"]).sum()),
            "eval_videos": int(g["videos"].sum()),
        }
    return out


def evaluation_results(evaluation: Artifact) -> pd.DataFrame:
    """The eval_results table of a committed evaluate artifact."""
    names = [f.name for f in evaluation.manifest.files if f.kind == "eval_results"]
    if not names:
        raise ValueError(f"{evaluation.uri} holds no eval_results table")
    return evaluation.read_table(names[0]).to_pandas()


def _condition_meta(c: AblationCondition, judge: str) -> dict:
    return {"label": c.label, "mode": c.mode, "reflect": c.reflect, "variant": c.variant or BASE, "judge": judge}


def seed_table(
    acfg: AblationConfig,
    seed: int,
    evaluation: Artifact,
    setup: Sequence[Artifact],
    variants: dict[str, _VariantRun],
) -> list[dict]:
    """The per-seed rows of one seed (scores and paired differences from its evaluate artifact, compute from the
    committed manifests of its runs)."""
    names = [c.name for c in acfg.conditions]
    rows = seed_rows(evaluation_results(evaluation), names, acfg.baseline, acfg.judge, seed, acfg.confidence)
    ev = _eval_compute(evaluation)
    bootstrap_s = _sum_wall(setup)
    by_name = {c.name: c for c in acfg.conditions}
    for row in rows:
        c = by_name[row["condition"]]
        train = (
            variants[c.variant].compute()
            if c.variant is not None
            else {"train_s": 0.0, "rl_steps": 0, "train_videos": 0}
        )
        row.update(_condition_meta(c, acfg.judge))
        row.update({"bootstrap_s": bootstrap_s, **train})
        row.update(ev.get(c.name, {"eval_s": None, "eval_videos": 0}))
        row["evaluation"] = evaluation.uri
    return rows


def run_seed(
    acfg: AblationConfig,
    presets: Sequence[str],
    overrides: Sequence[str],
    seed: int,
    steps: int,
    root: str,
    run_stage: StageRunner,
    on_event: Callable[[StageEvent], None] | None = None,
) -> tuple[list[dict], Artifact, list[StageEvent]]:
    """Bootstrap, train every used variant and evaluate every condition for one seed; (per-seed rows, the
    evaluate artifact, the stage events)."""
    events: list[StageEvent] = []

    def call(name: str, cfg: PlotlineConfig, uri: str, step: int, pins: dict[str, str] | None = None) -> Artifact:
        out = run_stage(name, cfg, uri, step, pinned_inputs=pins)  # progress reaches this process's listeners (the CLI)
        event = StageEvent(seed, uri.rsplit("/", 1)[-1], name, step, out.status, _wall(out.artifact))
        events.append(event)
        if on_event is not None:
            on_event(event)
        return out.artifact

    cfg = seed_config(presets, overrides, seed, root)
    check_setup(cfg, steps)
    base = run_uri(root, acfg.run_prefix, seed, BASE)
    setup = {name: call(name, cfg, base, 0) for name in cfg.orchestration.setup_stages}
    pins = {name: setup[name].uri for name in REQUIRED_SETUP}
    runs: dict[str, _VariantRun] = {}
    for variant in acfg.used_variants():
        vcfg = variant_config(presets, overrides, seed, root, variant)
        names = variant_stages(vcfg, variant)
        uri = run_uri(root, acfg.run_prefix, seed, variant.name)
        arts = [call(name, vcfg, uri, step, pins) for step in range(steps) for name in names]
        updates = {a.manifest.step for a in arts if a.manifest.stage.startswith("update_")}
        runs[variant.name] = _VariantRun(uri, arts, len(updates))
    ecfg = eval_section(cfg).model_copy(
        update={
            "conditions": eval_conditions(acfg, {k: r.uri for k, r in runs.items()}, steps),
            "baseline": acfg.baseline,
        }
    )
    ecfg = type(ecfg).model_validate(ecfg.model_dump(mode="json"))
    evaluation = call("evaluate", with_sections(cfg, eval=ecfg), base, 0)
    return seed_table(acfg, seed, evaluation, list(setup.values()), runs), evaluation, events


def _config_key(acfg: AblationConfig, seeds: Sequence[int], steps: int) -> str:
    body = json.dumps({"ablation": acfg.model_dump(mode="json"), "seeds": list(seeds), "steps": steps}, sort_keys=True)
    return hashlib.sha256(body.encode()).hexdigest()


def commit_ablation(
    uri: str,
    storage: StorageConfig,
    acfg: AblationConfig,
    seeds: Sequence[int],
    steps: int,
    evaluations: dict[int, Artifact],
    per_seed: list[dict],
    summary: list[dict],
    report: AblationReport,
) -> tuple[str, Artifact]:
    """Commit the ablation artifact at step 0 of run `uri` (or reuse the committed one with the same inputs and
    config): ("committed" | "skipped", artifact). Its inputs are the seeds' evaluate manifests."""
    store = RunStore(uri, storage)
    chash = _config_key(acfg, seeds, steps)
    refs = [
        InputRef(
            key=f"evaluate:s{seed}",
            stage=a.manifest.stage,
            step=a.manifest.step,
            version=a.manifest.version,
            area=a.manifest.area,
            manifest_id=a.manifest.manifest_id,
            path=a.uri,
        )
        for seed, a in sorted(evaluations.items())
    ]
    digest = input_digest(chash, refs)
    for art in reversed(store.artifacts(ABLATION_STAGE, 0)):
        if art.manifest.input_digest == digest:
            return "skipped", art
    version = store.next_version(ABLATION_STAGE, 0)
    attempt = f"attempt-{uuid.uuid4().hex[:12]}"
    stamp = {"plotline.run_id": store.run_id, "plotline.stage": ABLATION_STAGE, "plotline.step": "0"}
    writer = store.open_writer(ABLATION_STAGE, 0, version, attempt, stamp)
    try:
        writer.write_table("seeds.parquet", "ablation_seeds", per_seed)
        writer.write_table("summary.parquet", "ablation_summary", summary)
        writer.write_bytes("report.md", report.markdown.encode())
        writer.write_bytes("report.html", report.html.encode())
        for name, png in report.plots.items():
            writer.write_bytes(name, png)
        writer.summary.update(
            {
                "seeds": list(seeds),
                "steps": steps,
                "baseline": acfg.baseline,
                "judge": acfg.judge,
                "confidence": acfg.confidence,
                "headline": {r["condition"]: r["mean"] for r in summary},
            }
        )
        manifest = Manifest(
            run_id=store.run_id,
            stage=ABLATION_STAGE,
            step=0,
            version=version,
            code_version=code_version(),
            config_hash=chash,
            config_sections=["ablation"],
            input_digest=digest,
            inputs=refs,
            attempt=attempt,
        )
        store.ensure_run_file({"ablation": acfg.model_dump(mode="json"), "seeds": list(seeds)}, code_version())
        return "committed", store.commit(writer, manifest)
    except BaseException:
        writer.abort()
        raise


def run_ablation(
    acfg: AblationConfig,
    presets: Sequence[str],
    overrides: Sequence[str],
    seeds: Sequence[int],
    steps: int,
    root: str | Path,
    run_stage: StageRunner,
    on_event: Callable[[StageEvent], None] | None = None,
) -> AblationOutcome:
    """Run (or resume) the whole ablation and commit its artifact; see the module docstring."""
    if not seeds:
        raise ValueError("--seeds is empty: give at least one seed, e.g. --seeds 0,1,2")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"--seeds {list(seeds)} repeats a seed")
    root = str(root)
    events: list[StageEvent] = []
    per_seed: list[dict] = []
    evaluations: dict[int, Artifact] = {}
    for seed in seeds:
        rows, evaluation, seed_events = run_seed(acfg, presets, overrides, seed, steps, root, run_stage, on_event)
        per_seed += rows
        evaluations[seed] = evaluation
        events += seed_events
    names = [c.name for c in acfg.conditions]
    summary = summary_rows(per_seed, names, acfg.confidence, {c.name: c.reference for c in acfg.conditions})
    meta = {c.name: _condition_meta(c, acfg.judge) for c in acfg.conditions}
    for row in summary:
        row.update(meta[row["condition"]])
    report = build_ablation_report(summary, per_seed, acfg.baseline, acfg.confidence, steps)
    storage = seed_config(presets, overrides, seeds[0], root).storage
    status, art = commit_ablation(
        run_uri(root, acfg.run_prefix), storage, acfg, seeds, steps, evaluations, per_seed, summary, report
    )
    return AblationOutcome(status, art, report, events)
