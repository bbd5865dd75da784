"""Benchmark: bulk user import of N rows (default 20,000) from .xlsx into a fresh database.

Prints JSON figures: file build time (not part of the import), read+validate, write (with the
commit), total, and the initial-passwords spreadsheet. The unit tests check the rows; the time is
measured here only.
Usage: python bench/import_users.py [--rows N] [--format xlsx|csv]   (DATABASE_URL picks the engine;
default: a fresh SQLite file in a temp folder)."""
from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=20_000)
    ap.add_argument("--format", choices=("xlsx", "csv"), default="xlsx")
    args = ap.parse_args()
    if "DATABASE_URL" not in os.environ:
        os.environ["DATABASE_URL"] = f"sqlite:///{tempfile.mkdtemp(prefix='isa-bench-')}/app.db"

    from openpyxl import Workbook

    from models.db import session_scope
    from models.migrate import upgrade_db
    from services import user_import
    from services.demo import build_org
    from services.permissions import system_actor

    upgrade_db()
    with session_scope() as s:
        units = build_org(s)
        s.commit()
        codes = [u.code for u in units if u.kind in ("department", "town", "village", "station")]

    t0 = time.perf_counter()
    header = user_import.TEMPLATE_HEADERS
    rows = [[f"bench{i:06d}", f"学员{i}", codes[i % len(codes)], "学员" if i % 50 else "学员,人事", "", f"E{i:06d}",
             f"139{i:08d}", f"bench{i}@example.gov.cn", ""] for i in range(args.rows)]
    if args.format == "xlsx":
        wb = Workbook(write_only=True)
        ws = wb.create_sheet()
        ws.append(header)
        for r in rows:
            ws.append(r)
        buf = io.BytesIO()
        wb.save(buf)
        data = buf.getvalue()
    else:
        text = io.StringIO()
        csv.writer(text).writerows([header, *rows])
        data = text.getvalue().encode("utf-8-sig")
    t1 = time.perf_counter()

    actor = system_actor()
    with session_scope() as s:
        plan = user_import.plan_import(s, actor, filename=f"bench.{args.format}", data=data)
        t2 = time.perf_counter()
        assert plan.ok, plan.errors[:5]
        result = user_import.apply_import(s, actor, plan=plan)
    t3 = time.perf_counter()        # after the commit: accounts and their audit row, one unit of work
    passwords = result.credentials_xlsx()
    t4 = time.perf_counter()
    print(json.dumps({
        "benchmark": "user_import", "rows": args.rows, "format": args.format,
        "engine": os.environ["DATABASE_URL"].split(":", 1)[0], "file_bytes": len(data),
        "build_file_s": round(t1 - t0, 2), "read_validate_s": round(t2 - t1, 2), "write_s": round(t3 - t2, 2),
        "import_total_s": round(t3 - t1, 2), "passwords_file_s": round(t4 - t3, 2),
        "passwords_file_bytes": len(passwords), "created": result.created,
        "initial_passwords_generated": len(result.credentials), "target_s": 30,
    }))


if __name__ == "__main__":
    main()
