"""Re-checking a committed artifact as `plotline validate` does: every listed file against the manifest (sha256,
size), Parquet files against their kind's contract, safetensors files for NaN/inf, and the folder for files the
manifest does not list."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field

from plotline.store.artifact import Artifact
from plotline.store.layout import MANIFEST_NAME
from plotline.store.tensors import nonfinite_report, tensors_from_bytes
from plotline.store.writer import LEASE_SUFFIX


@dataclass
class VerifyReport:
    """Outcome of verify_artifact: one printable line per check, and the failed ones."""

    uri: str
    lines: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no check failed."""
        return not self.failures


def unlisted_files(art: Artifact) -> tuple[list[str], list[str]]:
    """(files inside the committed version folder that its manifest does not list, uncommitted attempt folders).

    The manifest itself and attempt lease files are part of the layout, not extra files; other attempts' folders
    are garbage of killed or losing writers (see `plotline gc`), reported separately."""
    listed = {posixpath.join(art.prefix, f.path) for f in art.manifest.files}
    committed = posixpath.join(art.prefix, art.manifest.attempt) + "/"
    extra, others = [], set()
    for rel in art.fs.list_files(art.prefix):
        if rel in listed or rel == posixpath.join(art.prefix, MANIFEST_NAME):
            continue
        inner = rel[len(art.prefix) + 1 :]
        if "/" not in inner and inner.endswith(LEASE_SUFFIX):
            continue
        if rel.startswith(committed) or "/" not in inner:
            extra.append(rel)
        else:
            others.add(posixpath.join(art.prefix, inner.split("/", 1)[0]))
    return sorted(extra), sorted(others)


def verify_artifact(art: Artifact) -> VerifyReport:
    """Every check of `plotline validate` on one committed artifact (see the module docstring)."""
    from data_contracts import validate

    report = VerifyReport(art.uri)
    params_by_file = {v.get("file"): v.get("params", {}) for v in art.manifest.validation}
    for entry in art.manifest.files:
        where = f"{art.uri}/{entry.path}"
        try:
            data = art.read_bytes(entry.name)
        except Exception as exc:  # noqa: BLE001 - a missing or changed file is a finding, not a crash
            report.failures.append(str(exc))
            report.lines.append(f"{where}: FAILED: {exc}")
            continue
        if entry.kind:
            result = validate(entry.kind, art.read_table(entry.name), params_by_file.get(entry.name, {}))
            report.lines.append(result.format(where))
            if not result.success:
                report.failures.append(f"{where}: {entry.kind} contract checks failed")
        elif entry.name.endswith(".safetensors"):
            bad = nonfinite_report(tensors_from_bytes(data))
            if bad:
                report.failures.append(f"{where}: non-finite tensors ({'; '.join(bad[:5])})")
                report.lines.append(f"{where}: FAILED: non-finite tensors ({'; '.join(bad[:5])})")
            else:
                report.lines.append(f"{where}: sha256 OK ({entry.bytes} bytes), all tensors finite")
        else:
            report.lines.append(f"{where}: sha256 OK ({entry.bytes} bytes)")
    extra, others = unlisted_files(art)
    for rel in extra:
        report.failures.append(f"{art.fs.url(rel)}: file not listed in the manifest")
        report.lines.append(f"{art.fs.url(rel)}: FAILED: file not listed in the manifest")
    for rel in others:
        report.notes.append(
            f"{art.fs.url(rel)}: uncommitted attempt (garbage of a killed or losing writer; see plotline gc)"
        )
    return report


def verify_run(store) -> list[VerifyReport]:
    """verify_artifact on every committed version of every stage of a run (`store` is a RunStore)."""
    reports = []
    for area in ("steps", "checkpoints"):
        for step in store.steps(area):
            for stage in store.stages_at(step, area):
                reports += [verify_artifact(art) for art in store.artifacts(stage, step, area)]
    return reports
