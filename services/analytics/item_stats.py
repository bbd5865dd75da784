"""Item analysis of a test from its marks: Moodle's quiz statistics (formulas in the Moodle conformance
README) plus the classical upper-lower 27 % index D and the point-biserial correlation.

Input is the long form every source can give — one row per attempt × question with the mark and the
question's maximum — so the same code serves exams, course quizzes and offline results (CLI
`stats items --responses FILE.csv`). Units follow Moodle: facility as a fraction 0–1, sd in raw marks,
discrimination index, discriminative efficiency, effective weight, CIC, error ratio in percent; None
where a statistic is undefined (a zero variance, a zero maximum)."""
from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

# Thresholds in common use (design.md §2)
FACILITY_IDEAL = (0.3, 0.7)
D27_VERY_GOOD, D27_GOOD, D27_REVISE = 0.40, 0.30, 0.20
EFFICIENCY_LOW = 15.0            # Moodle flags discriminative efficiency below 15 %
CIC_SATISFACTORY, CIC_POOR = 75.0, 64.0
FEW_ATTEMPTS = 30                # fewer: show the numbers with a caution
GROUP_SHARE = 0.27


@dataclass
class ItemStats:
    question_id: str
    n: int
    max_mark: float
    facility: float | None
    sd: float | None
    discrimination_index: float | None
    discriminative_efficiency: float | None
    effective_weight: float | None
    d27: float | None
    point_biserial: float | None
    flags: list[str] = field(default_factory=list)


@dataclass
class TestStats:
    attempts: int
    questions: int
    mean: float | None
    median: float | None
    sd: float | None
    skewness: float | None
    kurtosis: float | None
    cic: float | None
    error_ratio: float | None
    standard_error: float | None
    flags: list[str] = field(default_factory=list)


@dataclass
class ItemAnalysis:
    test: TestStats
    items: list[ItemStats]

    def as_json(self) -> dict:
        return {"test": asdict(self.test), "items": [asdict(i) for i in self.items]}


def _var(x: np.ndarray) -> float | None:
    return float(np.var(x, ddof=1)) if len(x) > 1 else None


def _cov(x: np.ndarray, y: np.ndarray) -> float | None:
    return float(np.cov(x, y, ddof=1)[0, 1]) if len(x) > 1 else None


def _clean(v: float | None) -> float | None:
    return None if v is None or not math.isfinite(v) else float(v)


def analyse(responses: pd.DataFrame | Iterable[dict]) -> ItemAnalysis:
    """responses: columns attempt_id, question_id, mark, max_mark (one row per attempt × question).
    Question order in the result follows first appearance."""
    df = responses if isinstance(responses, pd.DataFrame) else pd.DataFrame(list(responses))
    if df.empty:
        return ItemAnalysis(TestStats(0, 0, None, None, None, None, None, None, None, None, ["no_attempts"]), [])
    df = df.astype({"attempt_id": str, "question_id": str, "mark": float, "max_mark": float})
    totals = df.groupby("attempt_id", sort=False)["mark"].sum()
    order = list(dict.fromkeys(df["question_id"]))
    test = _test_stats(df, totals, len(order))
    items = [_item_stats(qid, g, totals) for qid, g in df.groupby("question_id", sort=False)]
    items.sort(key=lambda i: order.index(i.question_id))
    _effective_weights(df, totals, items)
    for it in items:
        it.flags = _flags(it)
    return ItemAnalysis(test, items)


def _test_stats(df: pd.DataFrame, totals: pd.Series, n_items: int) -> TestStats:
    item_vars = [v for v in (_var(g.to_numpy()) for _, g in df.groupby("question_id")["mark"]) if v is not None]
    return whole_test(totals.to_numpy(dtype=float), n_items, item_vars)


def whole_test(t: np.ndarray, n_items: int, item_vars: list[float]) -> TestStats:
    """The whole test from the attempts' totals `t` and the questions' mark variances (None ones left out);
    also services/analytics/item_report (numpy arrays straight from the database)."""
    s = len(t)
    mean = float(t.mean())
    median = float(np.median(t))
    k2 = _var(t)
    sd = math.sqrt(k2) if k2 is not None else None
    skew = kurt = None
    if s > 3 and k2:
        d = t - mean
        m2, m3, m4 = (float(np.mean(d ** k)) for k in (2, 3, 4))
        k3 = s * s * m3 / ((s - 1) * (s - 2))
        k4 = s * s * ((s + 1) * m4 - 3 * (s - 1) * m2 * m2) / ((s - 1) * (s - 2) * (s - 3))
        skew, kurt = k3 / k2 ** 1.5, k4 / (k2 * k2)
    cic = error_ratio = standard_error = None
    if n_items > 1 and k2:
        cic = 100 * n_items / (n_items - 1) * (1 - sum(item_vars) / k2)
        if cic <= 100:
            error_ratio = 100 * math.sqrt(1 - cic / 100)
            standard_error = error_ratio * sd / 100
    flags = []
    if s < FEW_ATTEMPTS:
        flags.append("few_attempts")
    if cic is not None and cic < CIC_POOR:
        flags.append("cic_poor")
    elif cic is not None and cic < CIC_SATISFACTORY:
        flags.append("cic_fair")
    return TestStats(s, n_items, _clean(mean), _clean(median), _clean(sd), _clean(skew), _clean(kurt),
                     _clean(cic), _clean(error_ratio), _clean(standard_error), flags)


def _item_stats(qid: str, g: pd.DataFrame, totals: pd.Series) -> ItemStats:
    x = g["mark"].to_numpy(dtype=float)
    t = totals.loc[g["attempt_id"]].to_numpy(dtype=float)
    return item_from_arrays(qid, x, t, float(g["max_mark"].max()))[0]


def item_from_arrays(qid: str, x: np.ndarray, t: np.ndarray, max_mark: float) -> tuple[ItemStats, np.ndarray | None, np.ndarray | None]:
    """One question from its marks `x` and the same attempts' totals `t`; also the positions of the bottom and
    top 27 % groups (services/analytics/item_report counts their options). Effective weight is set later."""
    n = len(x)
    if max_mark <= 0:    # an item worth nothing: nothing to say about it
        return ItemStats(qid, n, max_mark, None, None, None, None, None, None, None), None, None
    r = t - x
    facility = float(x.mean()) / max_mark
    vx, vr = _var(x), _var(r)
    sd = math.sqrt(vx) if vx is not None else None
    cov_xr = _cov(x, r)
    di = de = None
    if vx and vr and cov_xr is not None:
        di = 100 * cov_xr / math.sqrt(vx * vr)
        cov_max = _cov(np.sort(x), np.sort(r))
        de = 100 * cov_xr / cov_max if cov_max else None
    pb = None
    vt = _var(t)
    if vx and vt:
        pb = _cov(x, t) / math.sqrt(vx * vt)
    d27 = low = high = None
    if n >= 2:
        k = max(1, round(GROUP_SHARE * n))
        ranked = np.argsort(t, kind="stable")
        low, high = ranked[:k], ranked[-k:]
        d27 = (float(x[high].mean()) - float(x[low].mean())) / max_mark
    return (ItemStats(qid, n, max_mark, _clean(facility), _clean(sd), _clean(di), _clean(de), None, _clean(d27), _clean(pb)),
            low, high)


def _effective_weights(df: pd.DataFrame, totals: pd.Series, items: list[ItemStats]) -> None:
    """100·√cov(x,T) / Σ√cov(xj,T) over the items with cov ≥ 0; undefined for a negative covariance."""
    covs: dict[str, float | None] = {}
    for qid, g in df.groupby("question_id", sort=False):
        x = g["mark"].to_numpy(dtype=float)
        t = totals.loc[g["attempt_id"]].to_numpy(dtype=float)
        covs[qid] = _cov(x, t)
    total = sum(math.sqrt(c) for c in covs.values() if c is not None and c >= 0)
    for it in items:
        c = covs.get(it.question_id)
        if c is None or c < 0:
            it.effective_weight = None
        else:
            it.effective_weight = 100 * math.sqrt(c) / total if total else 0.0


def _flags(it: ItemStats) -> list[str]:
    flags = []
    if it.n < FEW_ATTEMPTS:
        flags.append("few_attempts")
    if it.facility is not None:
        if it.facility < FACILITY_IDEAL[0]:
            flags.append("too_hard")
        elif it.facility > FACILITY_IDEAL[1]:
            flags.append("too_easy")
    if it.d27 is not None:
        if it.d27 < 0:
            flags.append("check_key")
        elif it.d27 < D27_REVISE:
            flags.append("discard")
        elif it.d27 < D27_GOOD:
            flags.append("revise")
    if it.discriminative_efficiency is not None and it.discriminative_efficiency < EFFICIENCY_LOW:
        flags.append("low_efficiency")
    return flags


def d27_band(d27: float | None) -> str | None:
    """The verbal band of design.md §2 for an upper-lower index."""
    if d27 is None:
        return None
    if d27 < 0:
        return "check_key"
    if d27 >= D27_VERY_GOOD:
        return "very_good"
    if d27 >= D27_GOOD:
        return "good"
    if d27 >= D27_REVISE:
        return "revise"
    return "discard"


def read_responses_csv(data: bytes) -> pd.DataFrame:
    """The CLI's input: attempt_id,question_id,mark,max_mark. Raises ValueError naming the line."""
    import csv
    import io
    text = data.decode("utf-8-sig")
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    need = ["attempt_id", "question_id", "mark", "max_mark"]
    if header is None or [h.strip() for h in header] != need:
        raise ValueError(f"line 1: the header must be {','.join(need)}")
    rows = []
    seen: set[tuple[str, str]] = set()
    for line_no, row in enumerate(reader, start=2):
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != 4:
            raise ValueError(f"line {line_no}: expected 4 fields, found {len(row)}")
        a, q, m, mm = (c.strip() for c in row)
        if not a or not q:
            raise ValueError(f"line {line_no}: attempt_id and question_id must not be empty")
        try:
            mark, max_mark = float(m), float(mm)
        except ValueError:
            raise ValueError(f"line {line_no}: mark and max_mark must be numbers") from None
        if not (math.isfinite(mark) and math.isfinite(max_mark)) or max_mark < 0 or mark < 0 or mark > max_mark + 1e-9:
            raise ValueError(f"line {line_no}: need 0 ≤ mark ≤ max_mark")
        if (a, q) in seen:
            raise ValueError(f"line {line_no}: attempt {a} has question {q} twice")
        seen.add((a, q))
        rows.append({"attempt_id": a, "question_id": q, "mark": mark, "max_mark": max_mark})
    if not rows:
        raise ValueError("line 2: no responses")
    return pd.DataFrame(rows)
