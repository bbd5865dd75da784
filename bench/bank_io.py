"""Import and export timings of the whole built-in bank in every format (issue 7).

    python bench/bank_io.py            # prints one JSON object per format, then a summary line

Each format: write the bank's current versions to bytes, read them back (parse + validate), and preview
an import against a database holding the bank (duplicate detection), then import them into a fresh
course-less category (the writes, in one unit of work that is rolled back)."""
from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DATABASE_URL", f"sqlite:///{tempfile.mkdtemp(prefix='isa-bench-')}/app.db")

from models.db import get_engine, session_scope
from models.migrate import upgrade_db
from services import bank, formats
from services.content import load_bank, read_bank
from services.permissions import system_actor


def main() -> None:
    upgrade_db()
    with session_scope() as s:
        load_bank(s)
    records = [q.record() for c in read_bank(include_drafts=False).courses for q in c.questions]
    actor = system_actor()
    results = []
    for name, mod in formats.FORMATS.items():
        source = [r for r in records if name != "aiken" or r["type"] == "single_choice"]
        t0 = time.perf_counter()
        data = mod.write(source)
        t1 = time.perf_counter()
        report = mod.read(data)
        t2 = time.perf_counter()
        engine = get_engine()
        with engine.connect() as conn:
            trans = conn.begin()
            from sqlmodel import Session
            s = Session(bind=conn)
            preview = bank.preview_import(s, actor, data=data, fmt=name)
            t3 = time.perf_counter()
            # import as new questions (ids dropped) so every row is written, then roll back
            for p in preview.report.questions:
                p.question = p.question.model_copy(update={"id": None, "category": "bench/" + p.question.category})
            preview.updates.clear()
            preview.duplicates.clear()
            result = bank.import_questions(s, actor, preview=preview)
            t4 = time.perf_counter()
            s.close()
            trans.rollback()
        row = {"format": name, "questions": len(source), "bytes": len(data), "export_ms": round((t1 - t0) * 1000, 1),
               "parse_ms": round((t2 - t1) * 1000, 1), "preview_ms": round((t3 - t2) * 1000, 1),
               "import_ms": round((t4 - t3) * 1000, 1), "imported": len(result.created), "errors": len(report.errors)}
        results.append(row)
        print(json.dumps(row, ensure_ascii=False))
    print(json.dumps({"bank_questions": len(records), "formats": len(results),
                      "slowest_total_ms": max(r["export_ms"] + r["parse_ms"] + r["preview_ms"] + r["import_ms"] for r in results)}))


if __name__ == "__main__":
    main()
