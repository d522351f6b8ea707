"""Validation reports: what failed, where, with examples; a compact summary for manifests."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class CheckFailure:
    """One failed check: which expectation, on which column, and a few offending values."""

    check: str
    column: str | None
    detail: str
    examples: list[Any] = field(default_factory=list)

    def describe(self) -> str:
        """One readable line for this failure."""
        where = f" on column '{self.column}'" if self.column else ""
        ex = f"; e.g. {self.examples[:5]!r}" if self.examples else ""
        return f"{self.check}{where}: {self.detail}{ex}"


@dataclass
class ValidationReport:
    """Outcome of validating one table against its kind's contract."""

    kind: str
    rows: int
    checks_run: int = 0
    failures: list[CheckFailure] = field(default_factory=list)
    schema_version: int = 1

    @property
    def success(self) -> bool:
        """True when no check failed."""
        return not self.failures

    def format(self, source: str | None = None) -> str:
        """Multi-line human-readable report naming the source file."""
        head = f"{source}: " if source else ""
        if self.success:
            return f"{head}{self.kind} contract OK ({self.rows} rows, {self.checks_run} checks)"
        lines = [
            f"{head}{self.kind} contract FAILED ({len(self.failures)} of {self.checks_run} checks, {self.rows} rows):"
        ]
        lines += [f"  - {f.describe()}" for f in self.failures]
        return "\n".join(lines)

    def summary(self) -> dict:
        """Compact JSON-able summary stored in the manifest."""
        return {
            "kind": self.kind,
            "success": self.success,
            "rows": self.rows,
            "checks_run": self.checks_run,
            "failures": [f.describe() for f in self.failures],
            "schema_version": self.schema_version,
        }


class ContractViolation(ValueError):
    """Raised when a table breaks its contract; the message names the file and every failed check."""

    def __init__(self, report: ValidationReport, source: str | None = None):
        self.report = report
        self.source = source
        super().__init__(report.format(source))
