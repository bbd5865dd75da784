"""Exact per-person, per-city-calendar-year totals of what the HR dashboard sums per person (issue 10).

One row per (learner, year in UTC+8) with anything in it. Rows are recomputed from the raw tables
(services.analytics.rollups.refresh_person), never incremented, so they cannot drift: a settle, an
essay grade or a regrade re-totals an attempt in place, and the person's rows are simply rebuilt."""
from sqlalchemy import Index
from sqlmodel import Field, SQLModel


class PersonYearTotal(SQLModel, table=True):
    """For one person and one city calendar year [Jan 1 00:00, next Jan 1 00:00) UTC+8:
    - exam_attempts: attempts of kind "exam" with status "submitted" and submitted_at in the year
      (every such attempt counts, as in the dashboard; open and pending ones do not);
    - exam_passed: those with passed true;
    - exam_score_sum: the sum of their score * 100 / max_score (0 where max_score is 0);
    - done: course completions of courses active when the row was computed, completed_at in the year
      (the dashboard's "done by the end of year Y" is the sum over the years up to Y)."""
    __tablename__ = "person_year_total"
    __table_args__ = (Index("ix_person_year_total_year", "year", "user_id", "exam_attempts", "exam_passed",
                            "exam_score_sum", "done"),)
    user_id: int = Field(foreign_key="app_user.id", primary_key=True)
    year: int = Field(primary_key=True)
    exam_attempts: int = 0
    exam_passed: int = 0
    exam_score_sum: float = 0
    done: int = 0
