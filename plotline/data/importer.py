"""Import prompt lists (CSV, Parquet, JSONL) into instruction rows, rejecting unusable rows with line numbers."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path
from typing import Any

import pandas as pd


class ImportRejected(ValueError):
    """The file has rows that cannot be used; the message lists each with its line number and why."""


def _read_csv(path: Path) -> pd.DataFrame:
    """CSV rows as strings, each with the file line it starts on (quoted fields may span lines); a row with a
    wrong number of fields is kept with an `__error__` so it is reported, not silently shifted."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            if header is None:
                raise ImportRejected(f"{path}: empty file")
            header = [h.strip() for h in header]
            rows, start = [], reader.line_num + 1
            for rec in reader:
                line, start = start, reader.line_num + 1
                if not rec:  # a blank line (a line of empty fields is a row, reported as such)
                    continue
                row: dict[str, Any] = dict(zip(header, rec))
                row["__line__"] = line
                if len(rec) != len(header):
                    row["__error__"] = f"has {len(rec)} field(s), the header has {len(header)}"
                rows.append(row)
    except UnicodeDecodeError as exc:
        raise ImportRejected(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except csv.Error as exc:
        raise ImportRejected(f"{path}: line {reader.line_num}: malformed CSV ({exc})") from None
    return pd.DataFrame(rows, columns=[*header, "__line__", "__error__"]).fillna({"__error__": ""})


def _read(path: Path) -> tuple[pd.DataFrame, int]:
    """Frame of the file plus the line number of its first data row (CSV header = line 1)."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _read_csv(path), 2
    if suffix in (".jsonl", ".ndjson"):
        rows = []
        for lineno, line in enumerate(path.read_text().splitlines(), start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ImportRejected(f"{path}: line {lineno} is not valid JSON ({exc.msg})") from None
            if not isinstance(obj, dict):
                raise ImportRejected(f"{path}: line {lineno} is not a JSON object")
            obj["__line__"] = lineno
            rows.append(obj)
        return pd.DataFrame(rows), 1
    if suffix == ".parquet":
        return pd.read_parquet(path), 1
    raise ImportRejected(f"{path}: unsupported file type {suffix!r} (use .csv, .jsonl or .parquet)")


def _steps(value: Any) -> list[str] | None:
    if value is None or (isinstance(value, float) and pd.isna(value)) or value == "":
        return []
    if isinstance(value, (list, tuple)) or hasattr(value, "tolist"):
        items = list(value.tolist() if hasattr(value, "tolist") else value)
        return [str(s).strip() for s in items] if all(isinstance(s, str) and s.strip() for s in items) else None
    text = str(value).strip()
    if text.startswith("["):
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError:
            return None
        return _steps(parsed)
    return [s.strip() for s in text.split("|") if s.strip()]


def import_instructions(
    path: str | Path, split: str = "train", source: str | None = None, max_prompt_chars: int = 4000
) -> list[dict]:
    """Rows for the instructions contract from a prompt list with a `prompt` column (optional id, category, steps).

    Every unusable row (missing/empty/too long prompt, malformed steps, duplicate id) is reported with its line
    number in one ImportRejected error; nothing is returned partially.
    """
    path = Path(path)
    if not path.is_file():
        raise ImportRejected(f"{path}: file not found")
    frame, first_line = _read(path)
    if "prompt" not in frame.columns:
        raise ImportRejected(f"{path}: no 'prompt' column (columns: {', '.join(map(str, frame.columns)) or 'none'})")
    rows: list[dict[str, Any]] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    for i, rec in enumerate(frame.to_dict("records")):
        line = int(rec.get("__line__", i + first_line))
        if rec.get("__error__"):
            problems.append(f"line {line}: {rec['__error__']}")
            continue
        prompt = rec.get("prompt")
        prompt = "" if prompt is None or (isinstance(prompt, float) and pd.isna(prompt)) else str(prompt).strip()
        if not prompt:
            problems.append(f"line {line}: empty prompt")
            continue
        if len(prompt) > max_prompt_chars:
            problems.append(f"line {line}: prompt has {len(prompt)} characters (limit {max_prompt_chars})")
            continue
        steps = _steps(rec.get("steps"))
        if steps is None:
            problems.append(f"line {line}: 'steps' is not a list of non-empty strings: {rec.get('steps')!r}")
            continue
        given_id = rec.get("instruction_id") or rec.get("id")
        iid = (
            str(given_id).strip()
            if given_id not in (None, "") and not (isinstance(given_id, float) and pd.isna(given_id))
            else "i-" + hashlib.sha1(prompt.encode()).hexdigest()[:12]
        )
        if iid in seen:
            problems.append(f"line {line}: duplicate instruction id {iid!r} (first on line {seen[iid]})")
            continue
        seen[iid] = line
        category = rec.get("category")
        category = (
            str(category).strip()
            if category not in (None, "") and not (isinstance(category, float) and pd.isna(category))
            else "general"
        )
        rows.append(
            {
                "instruction_id": iid,
                "prompt": prompt,
                "category": category,
                "split": split,
                "steps": steps,
                "source": source or f"file:{path.name}",
            }
        )
    if problems:
        shown = problems[:50]
        more = f"\n  ... and {len(problems) - 50} more" if len(problems) > 50 else ""
        raise ImportRejected(
            f"{path}: {len(problems)} unusable row(s), nothing imported:\n  " + "\n  ".join(shown) + more
        )
    if not rows:
        raise ImportRejected(f"{path}: no rows")
    return rows
