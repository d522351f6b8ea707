"""Human agreement: side-by-side A/B pairs for annotators, their choices, and judge–human agreement.

- `export_pairs` writes an annotator folder (videos renamed to `<pair>-L.mp4` / `-R.mp4`, `pairs.csv` with an
  empty `choice` column, `index.html` to watch them side by side) and, separately, the key that says which
  condition is left and which is right (left/right is drawn per pair from a seed; pair order is shuffled).
- `read_choices` reads the annotators' file (CSV or JSONL: pair_id, choice ∈ left/right/tie, optional
  annotator), rejecting unusable rows with their line numbers.
- `agreement` compares each judge's preference — A when score(A) − score(B) > tie band, B when < −band, else a
  tie (paper: ±0.03) — with the annotators' majority preference.
"""

from __future__ import annotations

import csv
import html
import json
import random
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

CHOICES = {
    "left": "left",
    "l": "left",
    "a": "left",
    "1": "left",
    "right": "right",
    "r": "right",
    "b": "right",
    "2": "right",
    "tie": "tie",
    "t": "tie",
    "=": "tie",
    "same": "tie",
    "equal": "tie",
    "0": "tie",
    "both": "tie",
    "neither": "tie",
}
"""Accepted spellings of a choice (case-insensitive) → left / right / tie."""
KEY_COLUMNS = [
    "pair_id",
    "subset",
    "prompt_id",
    "left_condition",
    "right_condition",
    "left_sample_id",
    "right_sample_id",
    "source",
]
SHEET_COLUMNS = ["pair_id", "prompt", "left_video", "right_video", "choice", "annotator"]


class HumanDataError(ValueError):
    """An annotation file or key is unusable; the message lists every bad line."""


def export_pairs(
    videos: pd.DataFrame,
    cond_a: str,
    cond_b: str,
    out_dir: str | Path,
    key_path: str | Path,
    fetch_video: Callable[[str], bytes],
    seed: int = 0,
    limit: int | None = None,
    source: str = "",
) -> list[dict]:
    """Write the annotator folder and the key for every prompt both conditions have a video of; returns the key
    rows. The key must not be inside `out_dir` (annotators must not see it)."""
    out_dir, key_path = Path(out_dir), Path(key_path)
    if out_dir.resolve() in key_path.resolve().parents:
        raise HumanDataError(f"the key {key_path} must be kept outside the annotator folder {out_dir}")
    have = videos[videos["video_path"].notna()]
    a = have[have["condition"] == cond_a].set_index(["subset", "prompt_id"])
    b = have[have["condition"] == cond_b].set_index(["subset", "prompt_id"])
    common = [k for k in a.index if k in b.index]
    if not common:
        known = sorted(videos["condition"].unique())
        raise HumanDataError(f"no prompt has a video under both {cond_a!r} and {cond_b!r} (conditions: {known})")
    rng = random.Random(seed)
    rng.shuffle(common)
    common = common[:limit] if limit else common
    (out_dir / "videos").mkdir(parents=True, exist_ok=True)
    key, sheet = [], []
    for i, (subset, pid) in enumerate(common):
        pair_id = f"pair-{i:04d}"
        left, right = (a, b) if rng.random() < 0.5 else (b, a)
        lrow, rrow = left.loc[(subset, pid)], right.loc[(subset, pid)]
        for side, row in (("L", lrow), ("R", rrow)):
            (out_dir / "videos" / f"{pair_id}-{side}.mp4").write_bytes(fetch_video(row["video_path"]))
        key.append(
            {
                "pair_id": pair_id,
                "subset": subset,
                "prompt_id": pid,
                "left_condition": lrow["condition"],
                "right_condition": rrow["condition"],
                "left_sample_id": lrow["sample_id"],
                "right_sample_id": rrow["sample_id"],
                "source": source,
            }
        )
        sheet.append(
            {
                "pair_id": pair_id,
                "prompt": lrow["prompt"],
                "left_video": f"videos/{pair_id}-L.mp4",
                "right_video": f"videos/{pair_id}-R.mp4",
                "choice": "",
                "annotator": "",
            }
        )
    _write_csv(out_dir / "pairs.csv", SHEET_COLUMNS, sheet)
    (out_dir / "index.html").write_text(_viewer(sheet))
    key_path.parent.mkdir(parents=True, exist_ok=True)
    _write_csv(key_path, KEY_COLUMNS, key)
    return key


def _write_csv(path: Path, columns: Sequence[str], rows: Sequence[dict]) -> None:
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(columns))
        writer.writeheader()
        writer.writerows(rows)


def _viewer(sheet: Sequence[dict]) -> str:
    blocks = []
    for r in sheet:
        blocks.append(
            f"<section><h3>{html.escape(r['pair_id'])}</h3><p>{html.escape(r['prompt'])}</p><div class='pair'>"
            f"<figure><video src='{r['left_video']}' controls loop muted></video><figcaption>left</figcaption></figure>"
            f"<figure><video src='{r['right_video']}' controls loop muted></video><figcaption>right</figcaption>"
            "</figure></div></section>"
        )
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Which video follows the order?</title><style>"
        "body{font-family:sans-serif;max-width:1000px;margin:2em auto}.pair{display:flex;gap:1em}"
        "video{width:420px;image-rendering:pixelated}</style></head><body>"
        "<h1>Which video shows the events in the order the prompt gives?</h1>"
        "<p>For each pair write <b>left</b>, <b>right</b> or <b>tie</b> in the <code>choice</code> column of "
        "pairs.csv (and your name in <code>annotator</code>).</p>" + "".join(blocks) + "</body></html>"
    )


def read_key(path: str | Path) -> list[dict]:
    """Rows of a key file written by export_pairs."""
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    missing = [c for c in KEY_COLUMNS if rows and c not in rows[0]]
    if not rows or missing:
        raise HumanDataError(f"{path}: not a pair key (missing columns {missing or KEY_COLUMNS})")
    return rows


def read_choices(path: str | Path, key: Sequence[dict]) -> list[dict]:
    """Annotator choices {pair_id, annotator, choice} from a CSV (header line 1) or JSONL file. Rows without a
    choice are skipped (not yet annotated); unknown pairs, unknown choices and a second choice by the same
    annotator for the same pair are rejected with line numbers, all in one HumanDataError."""
    path = Path(path)
    known = {k["pair_id"] for k in key}
    records: list[tuple[int, dict]] = []
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        for lineno, line in enumerate(path.read_text().splitlines(), 1):
            if line.strip():
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    records.append((lineno, {"__error__": f"not valid JSON ({exc.msg})"}))
                    continue
                records.append((lineno, obj if isinstance(obj, dict) else {"__error__": "not a JSON object"}))
    else:
        with open(path, newline="") as fh:
            reader = csv.DictReader(fh)
            if not reader.fieldnames or "pair_id" not in reader.fieldnames or "choice" not in reader.fieldnames:
                raise HumanDataError(f"{path}: needs `pair_id` and `choice` columns (has {reader.fieldnames})")
            records = [(i + 2, row) for i, row in enumerate(reader)]
    out: list = []
    problems: list[str] = []
    seen: dict[tuple, int] = {}
    for lineno, rec in records:
        if "__error__" in rec:
            problems.append(f"line {lineno}: {rec['__error__']}")
            continue
        pair = str(rec.get("pair_id") or "").strip()
        raw = str(rec.get("choice") or "").strip()
        annotator = str(rec.get("annotator") or "").strip() or "anonymous"
        if not raw:
            continue
        choice = CHOICES.get(raw.lower())
        if pair not in known:
            problems.append(f"line {lineno}: unknown pair {pair!r}")
        elif choice is None:
            problems.append(f"line {lineno}: choice {raw!r} is not left, right or tie")
        elif (pair, annotator) in seen:
            problems.append(f"line {lineno}: {annotator} already chose for {pair} on line {seen[(pair, annotator)]}")
        else:
            seen[(pair, annotator)] = lineno
            out.append({"pair_id": pair, "annotator": annotator, "choice": choice})
    if problems:
        raise HumanDataError(
            f"{path}: {len(problems)} unusable row(s), nothing imported:\n  " + "\n  ".join(problems[:50])
        )
    if not out:
        raise HumanDataError(f"{path}: no choices yet")
    return out


def human_preferences(choices: Sequence[dict], key: Sequence[dict]) -> dict[str, str]:
    """pair_id → the annotators' majority preference as a condition name, or `tie` (also for a split vote)."""
    by_pair = {k["pair_id"]: k for k in key}
    votes: dict[str, Counter] = defaultdict(Counter)
    for c in choices:
        k = by_pair[c["pair_id"]]
        votes[c["pair_id"]][
            {"left": k["left_condition"], "right": k["right_condition"], "tie": "tie"}[c["choice"]]
        ] += 1
    out = {}
    for pair, counter in votes.items():
        top = counter.most_common()
        out[pair] = top[0][0] if len(top) == 1 or top[0][1] > top[1][1] else "tie"
    return out


def judge_preference(
    score_a: float | None, score_b: float | None, cond_a: str, cond_b: str, tie_band: float
) -> str | None:
    """cond_a when score_a − score_b > tie_band, cond_b when < −tie_band, `tie` otherwise; None if unscored."""
    if score_a is None or score_b is None or pd.isna(score_a) or pd.isna(score_b):
        return None
    d = float(score_a) - float(score_b)
    return cond_a if d > tie_band else cond_b if d < -tie_band else "tie"


@dataclass
class Agreement:
    """Judge–human agreement of one judge (metric) over the annotated pairs."""

    judge: str
    metric: str
    pairs: int
    agreement: float
    decisive_pairs: int
    decisive_agreement: float | None
    kappa: float | None
    unscored: int
    confusion: dict[str, dict[str, int]]

    def row(self) -> dict:
        """Flat dict (confusion as JSON)."""
        d = dict(self.__dict__)
        d["confusion"] = json.dumps(self.confusion, sort_keys=True)
        return d


def _kappa(pairs: Sequence[tuple[str, str]]) -> float | None:
    if not pairs:
        return None
    labels = sorted({x for p in pairs for x in p})
    n = len(pairs)
    po = sum(a == b for a, b in pairs) / n
    ca, cb = Counter(a for a, _ in pairs), Counter(b for _, b in pairs)
    pe = sum(ca[label] * cb[label] for label in labels) / (n * n)
    return None if pe >= 1 else (po - pe) / (1 - pe)


def agreement(
    results: pd.DataFrame,
    key: Sequence[dict],
    choices: Sequence[dict],
    tie_band: float = 0.03,
    judges: Sequence[str] | None = None,
) -> list[Agreement]:
    """Agreement of every judge (its aggregated `score`; the aesthetic judge's own metric) with the annotators'
    majority preference, over the pairs that have both. Exact agreement counts a tie only when both say tie;
    decisive agreement is measured over pairs where neither says tie; kappa is Cohen's over the three labels."""
    human = human_preferences(choices, key)
    main = results[(results["metric"] == "score") | (results["judge"] == results["metric"])]
    values = main.set_index(["sample_id", "judge"])["value"]
    out = []
    for judge in judges or list(dict.fromkeys(main["judge"])):
        labels, unscored = [], 0
        for k in key:
            if k["pair_id"] not in human:
                continue
            a, b = (values.get((k["left_sample_id"], judge)), values.get((k["right_sample_id"], judge)))
            pref = judge_preference(a, b, k["left_condition"], k["right_condition"], tie_band)
            if pref is None:
                unscored += 1
                continue
            sides = {k["left_condition"]: "left", k["right_condition"]: "right", "tie": "tie"}
            labels.append((sides[pref], sides[human[k["pair_id"]]]))
        confusion: dict[str, dict[str, int]] = {
            j: {h: 0 for h in ("left", "right", "tie")} for j in ("left", "right", "tie")
        }
        for j, h in labels:
            confusion[j][h] += 1
        decisive = [(j, h) for j, h in labels if j != "tie" and h != "tie"]
        metric = "score" if judge not in set(main[main["judge"] == main["metric"]]["judge"]) else judge
        out.append(
            Agreement(
                judge,
                metric,
                len(labels),
                sum(j == h for j, h in labels) / len(labels) if labels else 0.0,
                len(decisive),
                sum(j == h for j, h in decisive) / len(decisive) if decisive else None,
                _kappa(labels),
                unscored,
                confusion,
            )
        )
    return out
