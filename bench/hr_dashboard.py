"""Benchmark: the HR dashboard on a database made by bench/make_city.py.

Times (median of --runs, after one warm-up of the connection pool, each on a fresh session):
- dashboard_city: every KPI with the previous period, the unit table, all chart data, for the city HR;
- dashboard_cached: the same through the page's cache (ui.hr_cache.cached_dashboard's key + st.cache_data's
  own lookup is replaced here by the identical dict look-up keyed by scope, filters and data version,
  including the data-version query that a cached page still runs);
- drilldown_unit: one town (sub-units, KPIs) and its first page of people;
- early_warning: the list for the city (first page of 200, with the total) and units at risk;
- max_rss_mb: the process's peak resident memory.
Wall time depends on what else the machine runs (load_average is printed); cpu_median_ms is this
process's own work, the database's included on SQLite (in-process) but not on PostgreSQL.
Prints JSON. Usage: python bench/hr_dashboard.py [--db FILE.db] [--runs 5]  (or DATABASE_URL)."""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", default="data/bench_city.db")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    if "DATABASE_URL" not in os.environ:
        os.environ["DATABASE_URL"] = f"sqlite:///{args.db}"
    from sqlmodel import func, select

    from models import OrgUnit, User
    from models.db import session_scope
    from services import reports
    from services.analytics import dashboard as dash
    from services.analytics import forecast
    from services.permissions import load_actor

    with session_scope() as s:
        hr = s.exec(select(User).where(User.username == "bc_hr0")).one()
        actor = load_actor(s, hr.id)
        town = s.exec(select(OrgUnit).where(OrgUnit.code == "BC-0-T0")).one()
        learners = s.exec(select(func.count()).select_from(User).where(User.username.like("bc%"))).one() - 3
    filters = dash.Filters()

    def timed(fn):
        out, cpu = [], []
        for _ in range(args.runs):
            with session_scope() as s:
                t, c = time.perf_counter(), time.process_time()
                fn(s)
                out.append(1000 * (time.perf_counter() - t))
                cpu.append(1000 * (time.process_time() - c))
        # wall time depends on what else the machine runs; cpu_ms is this process's own work
        return {"median_ms": round(statistics.median(out), 1), "min_ms": round(min(out), 1),
                "max_ms": round(max(out), 1), "cpu_median_ms": round(statistics.median(cpu), 1)}

    t = time.perf_counter()
    with session_scope() as s:          # the roll-ups catch up with the whole ledger (once, like an index)
        added = dash.refresh_rollups(s)
    backfill = {"ledger_rows": added, "seconds": round(time.perf_counter() - t, 2)}
    with session_scope() as s:          # warm the pool and the page cache of the OS, once
        dash.dashboard(s, actor, filters)
    cache: dict = {}

    def cached(s):
        key = (actor.id, actor.scopes.get("hr"), filters.key(), dash.data_version(s))
        if key not in cache:
            cache[key] = dash.dashboard(s, actor, filters)
        return cache[key]

    with session_scope() as s:
        cached(s)
    result = {
        "load_average": os.getloadavg()[0],
        "database": os.environ["DATABASE_URL"].split("@")[-1],
        "learners": learners,
        "rollup_backfill": backfill,
        "dashboard_city": timed(lambda s: dash.dashboard(s, actor, filters)),
        "dashboard_cached": timed(cached),
        "data_version": timed(dash.data_version),
        "drilldown_unit": timed(lambda s: (dash.dashboard(s, actor, dash.Filters(unit_id=town.id)),
                                           reports.people_page(s, actor, unit_id=town.id, page_size=100))),
        "drilldown_people_only": timed(lambda s: reports.people_page(s, actor, unit_id=town.id, page_size=100)),
        "early_warning": timed(lambda s: forecast.early_warning(s, actor, limit=200)),
    }
    import resource
    # the peak resident memory of this process, which holds what a Streamlit server process would
    # (engine, the dashboards cached above); the page's own process adds Streamlit itself (~150 MB)
    result["max_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(result, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
