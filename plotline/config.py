"""The whole system's typed configuration: loading presets, `--set` overrides, and stable hashes."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from plotline._base import Section, cache_key_exclusions
from plotline.data.synth_config import SynthConfig
from plotline.data_config import DataConfig
from plotline.eval.config import EvalConfig
from plotline.executor.config import ExecutorConfig
from plotline.orchestration_config import OrchestrationConfig
from plotline.planner.config import PlannerConfig
from plotline.reflect.config import GenerateConfig, ReflectConfig
from plotline.rewards.config import RewardsConfig
from plotline.rl.config import RLConfig
from plotline.store.config import StorageConfig
from plotline.video import VideoConfig
from plotline.world.config import WorldConfig


class ConfigError(ValueError):
    """A configuration file or override is invalid; the message names the key and the source."""


class PlotlineConfig(Section):
    """Root configuration of a plotline run."""

    seed: int = 0
    """Global seed; stages derive their own generators from (seed, step, stage)."""
    run_name: str = "shapes-default"
    """Run id used when no --run is given: the run lives at {storage.root}/{run_name}; rerunning resumes it."""
    steps: int = Field(1, ge=1)
    """Number of RL steps the train flow runs."""
    storage: StorageConfig = Field(default_factory=StorageConfig)
    """Artifact store location and object-store connection."""
    orchestration: OrchestrationConfig = Field(default_factory=OrchestrationConfig)
    """How flows execute stages."""
    data: DataConfig = Field(default_factory=DataConfig)
    """Where instructions come from."""
    video: VideoConfig = Field(default_factory=VideoConfig)
    """Latent video geometry (K, L, chunk size, switch points)."""
    world: WorldConfig = Field(default_factory=WorldConfig)
    """The shapes world."""
    planner: PlannerConfig = Field(default_factory=PlannerConfig)
    """LLM planner."""
    executor: ExecutorConfig = Field(default_factory=ExecutorConfig)
    """AR diffusion executor."""
    rewards: RewardsConfig = Field(default_factory=RewardsConfig)
    """Judges and reward weights."""
    rl: RLConfig = Field(default_factory=RLConfig)
    """Policy-update hyperparameters."""
    synth: SynthConfig = Field(default_factory=SynthConfig)
    """LLM synthesis of ordered-event instructions."""
    eval: EvalConfig = Field(default_factory=EvalConfig)
    """Temporal Order benchmark protocol, conditions and judges."""
    reflect: ReflectConfig = Field(default_factory=ReflectConfig)
    """Closed-loop generation with a critic (plan – act – reflect), and critic rewards for training."""
    generate: GenerateConfig = Field(default_factory=GenerateConfig)
    """What `plotline generate` (the generate stage) renders."""

    @field_validator("run_name")
    @classmethod
    def _safe_run_name(cls, value: str) -> str:
        from plotline.store.layout import check_run_id

        return check_run_id(value)  # one folder name: never '..' or a path, so the run stays under storage.root

    @model_validator(mode="after")
    def _cross_checks(self) -> PlotlineConfig:
        from plotline.config_checks import cross_check

        problems = cross_check(self)
        if problems:
            raise ValueError("\n  ".join(problems))
        return self


def _deep_merge(base: dict, update: dict) -> dict:
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split `a.b.c=value` into (["a","b","c"], value); the value is parsed as YAML (so 1e-5, true, [6,12] work)."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} is not of the form key.path=value")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise ConfigError(f"override {text!r} has an empty key segment")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as exc:
        raise ConfigError(f"override {key}: value {raw!r} is not valid YAML ({exc})") from exc
    # YAML 1.1 reads "1e-5" as a string; accept scientific notation as a float.
    if isinstance(value, str):
        try:
            value = float(value) if any(c in value.lower() for c in "e.") and value.strip() else value
        except ValueError:
            pass
    return key.split("."), value


def _apply_override(data: dict, path: list[str], value: Any, text: str) -> None:
    node = data
    for i, part in enumerate(path[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        elif not isinstance(child, dict):
            raise ConfigError(f"override {text!r}: {'.'.join(path[: i + 1])} is a value, not a section")
        node = child
    node[path[-1]] = value


def _format_errors(exc: ValidationError, source: str) -> str:
    lines = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"]) or "<root>"
        if err["type"] == "extra_forbidden":
            lines.append(f"unknown key '{key}'")
        elif not err["loc"]:  # a cross-section check: its message names the keys itself
            lines.append(str(err["msg"]).removeprefix("Value error, "))
        else:
            lines.append(f"'{key}': {err['msg']} (got {err.get('input')!r})")
    return f"invalid configuration from {source}:\n  " + "\n  ".join(lines)


def load_yaml(path: str | Path) -> dict:
    """Read one YAML preset into a dict, naming the file on any error."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"config file {path} is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start})"
        ) from None
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping at the top level, got {type(data).__name__}")
    return data


def load_config(paths: Iterable[str | Path] = (), overrides: Iterable[str] = ()) -> PlotlineConfig:
    """Merge YAML presets in order, apply `key.path=value` overrides, and validate the result."""
    data: dict = {}
    sources = []
    for p in paths:
        data = _deep_merge(data, load_yaml(p))
        sources.append(str(p))
    overrides = list(overrides)
    for text in overrides:
        path, value = parse_override(text)
        _apply_override(data, path, value, text)
    source = ", ".join(sources + [f"--set {o}" for o in overrides]) or "defaults"
    try:
        return PlotlineConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_errors(exc, source)) from None


def canonical_json(obj: Any) -> str:
    """JSON with sorted keys and no whitespace: the basis of every stable hash."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def config_hash(config: PlotlineConfig, sections: Iterable[str] | None = None) -> str:
    """Stable sha256 of the config's result-affecting settings: the whole config, or only the named dotted sections
    (what a stage depends on). Fields declared with `plotline._base.placement` (where or how parallel a computation
    runs) are left out, so sharding, device lists and concurrency never change a hash."""
    dumped = config.model_dump(mode="json", exclude=cache_key_exclusions(config) or None)
    if sections is not None:
        picked = {}
        for name in sorted(set(sections)):
            node: Any = dumped
            for part in name.split("."):
                if not isinstance(node, dict) or part not in node:
                    raise ConfigError(
                        f"config section {name!r} is not a result-affecting setting of the config "
                        f"(unknown key, or a placement field that cache keys leave out)"
                    )
                node = node[part]
            picked[name] = node
        dumped = picked
    return hashlib.sha256(canonical_json(dumped).encode()).hexdigest()


def with_sections(config: PlotlineConfig, **sections: Any) -> PlotlineConfig:
    """`config` with the given sections (objects or dicts) replacing its own, re-validated as a root config."""
    data = config.model_dump(mode="json")
    for name, value in sections.items():
        data[name] = value.model_dump(mode="json") if hasattr(value, "model_dump") else value
    return PlotlineConfig.model_validate(data)
