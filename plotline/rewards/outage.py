"""Refusing a step whose judges mostly failed: the unscored share per judge against `max_unscored_fraction`."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping


class JudgeOutage(RuntimeError):
    """Too many replies of a judge were unscored in one step; the message gives the share and the reasons."""


def unscored_shares(rows: Iterable[Mapping], judges: Iterable[str]) -> dict[str, tuple[int, int, Counter]]:
    """judge -> (unscored rows, all rows, Counter of reasons) over the score rows of the named judges."""
    wanted = set(judges)
    out: dict[str, tuple[int, int, Counter]] = {}
    for row in rows:
        judge = row["judge"]
        if judge not in wanted:
            continue
        bad, total, reasons = out.get(judge, (0, 0, Counter()))
        if row["status"] == "unscored":
            bad += 1
            reasons[str(row.get("reason") or "no reason given")[:200]] += 1
        out[judge] = (bad, total + 1, reasons)
    return out


def check_unscored(rows: Iterable[Mapping], judges: Iterable[str], max_fraction: float, where: str) -> None:
    """Raise JudgeOutage when any judge's unscored share exceeds `max_fraction`, naming the share and the three
    most common reasons of every failing judge."""
    problems = []
    for judge, (bad, total, reasons) in sorted(unscored_shares(rows, judges).items()):
        if total and bad / total > max_fraction:
            top = "; ".join(f"{n}x {reason}" for reason, n in reasons.most_common(3))
            problems.append(f"{judge} judge: {bad} of {total} replies unscored ({bad / total:.0%}); reasons: {top}")
    if problems:
        raise JudgeOutage(
            f"{where}: unscored share above rewards.max_unscored_fraction={max_fraction:g}, nothing "
            f"committed:\n  " + "\n  ".join(problems)
        )
