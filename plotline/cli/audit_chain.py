"""`plotline audit --sample`: print one sample's chain (plotline.audit.chain) as rich tables or JSON, and the
lineage table (which version each downstream stage consumed) under the plain audit."""

from __future__ import annotations

import json
from typing import Any

from rich.table import Table

from plotline.cli.common import fail
from plotline.console import console


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, dict)):
        return json.dumps(value, default=str)
    return str(value)


def run_config(store):
    """The run's recorded config (run.json), validated; a clear error when it is missing or invalid."""
    from plotline.config import PlotlineConfig

    info = store.run_info()
    try:
        return PlotlineConfig.model_validate(info.get("config") or {})
    except Exception as exc:  # noqa: BLE001
        raise ValueError(f"{store.uri}/run.json: its config does not validate: {exc}") from None


def print_chain(run: str, step: int | None, sample: str, version: int | None, as_json: bool) -> None:
    """Load and print the chain of `sample` at `step` (default: the newest step) of `run`."""
    from plotline.audit.chain import sample_chain
    from plotline.store import RunStore

    try:
        store = RunStore(run)
        cfg = run_config(store)
        steps = store.steps()
        if not steps:
            fail(f"nothing committed in {run}", code=1)
        at = steps[-1] if step is None else step
        chain = sample_chain(
            store, at, sample, cfg.rewards, cfg.rl.advantage, cfg.reflect.critic_reward.weight, head_version=version
        )
    except (LookupError, ValueError) as exc:
        fail(str(exc), code=1)
    except Exception as exc:  # noqa: BLE001
        fail(f"{type(exc).__name__}: {exc}", code=1)
    if as_json:
        console.print_json(json.dumps(chain, default=str))
        return
    _print_human(chain)


def _kv(title: str, pairs: dict[str, Any]) -> None:
    table = Table(title=title, show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    for k, v in pairs.items():
        table.add_row(k, _fmt(v))
    console.print(table)


def _print_human(c: dict[str, Any]) -> None:
    console.print(
        f"[bold]sample {c['sample_id']}[/] ({c['role']}) · run {c['run']} · step {c['step']}", highlight=False
    )
    _lineage_table(c["lineage"], f"versions used (step {c['step']})")
    _kv("instruction", c["instruction"])
    plan = dict(c["plan"])
    _kv(
        "plan",
        {
            **{
                k: plan[k]
                for k in (
                    "plan_id",
                    "parse_status",
                    "format_reward",
                    "adapter_version",
                    "backend",
                    "finish_reason",
                    "error",
                )
            },
            "raw_text": plan["raw_text"],
            **{f"step {i + 1}": s for i, s in enumerate(plan["steps"] or [])},
        },
    )
    if c["rollout"]:
        r = c["rollout"]
        spans = {
            f"span {i + 1} @ frame {start}": p for i, (p, start) in enumerate(zip(r["span_prompts"], r["span_starts"]))
        }
        _kv(
            "rollout",
            {
                **{
                    k: r[k]
                    for k in (
                        "rollout_id",
                        "switch_step",
                        "fork_frame",
                        "transition_start",
                        "transition_end",
                        "step_prompt",
                        "executor_adapter_version",
                        "planner_adapter_version",
                        "video_path",
                    )
                },
                **spans,
            },
        )
    for j in c["judges"]:
        pairs = {"model": j["model"], "status": j["status"], "reason": j["reason"], "raw": j["raw"]}
        for key, value in j["fields"].items():
            pairs[f"{key}"] = value
        for key, value in j["normalised"].items():
            pairs[f"norm {key} (w={j['weights'].get(key, '')})"] = value
        pairs["aggregate Σ w·norm"] = j["aggregate"]
        pairs["stored score"] = j["stored_score"]
        _kv(f"judge {j['judge']}", pairs)
    if c["reward"]:
        rw = c["reward"]
        _kv(
            "reward",
            {
                "formula": rw["formula"],
                **{f"term {k}": v for k, v in rw["terms"].items()},
                **{f"weight {k}": v for k, v in rw["weights"].items()},
                "recomputed": rw["recomputed"],
                "stored": rw["stored"],
                "consistent": rw["consistent"],
            },
        )
    if c["group"]:
        g = c["group"]
        table = Table(
            title=f"group {g['group_id']} ({g['role']}): mean {_fmt(g['mean'])}, std {_fmt(g['std'])} "
            f"({g['std_mode']}), {g['scored']} scored"
        )
        for col in ("sample_id", "reward", "advantage", "keep"):
            table.add_column(col)
        for m in g["members"]:
            mark = " ◀" if m["sample_id"] == c["sample_id"] else ""
            table.add_row(m["sample_id"] + mark, _fmt(m["reward"]), _fmt(m["advantage"]), _fmt(m["keep"]))
        console.print(table)
    if c["advantage"]:
        _kv("advantage", c["advantage"])
    if c["self_paced"]:
        _kv("self-paced weights", dict(zip(c["self_paced"]["terms"], c["self_paced"]["weights"])))


def _lineage_table(entries: list[dict[str, Any]], title: str) -> None:
    table = Table(title=title)
    for col in ("stage", "version", "newest", "consumed by", "manifest"):
        table.add_column(col)
    for e in entries:
        newer = " (newer exists)" if e["newest"] != e["version"] else ""
        table.add_row(e["stage"], f"v{e['version']}{newer}", f"v{e['newest']}", e["consumed_by"], e["manifest_id"])
    console.print(table)


def print_lineage(store, step: int | None) -> None:
    """Per step: which version of each stage the newest downstream output consumed (nothing when no chain)."""
    from plotline.audit.lineage import StepLineage

    for s in [step] if step is not None else store.steps():
        try:
            lineage = StepLineage(store, s)
        except LookupError:
            continue
        _lineage_table([e.as_dict() for e in lineage.entries], f"versions consumed at step {s} (head {lineage.head})")
