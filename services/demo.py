"""A demo organisation: 乌海市 with its departments, three districts, towns, villages and their
information stations, a few hundred learners with plausible study history, and trainer/HR
accounts whose passwords are returned once (the caller shows them and never stores them)."""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import insert
from sqlmodel import Session, func, select

from models import (Attempt, AttemptItem, Course, CourseCompletion, LedgerEntry, Lesson, LessonProgress, Membership,
                    OrgUnit, Question, QuestionVersion, RoleGrant, User)
from models.db import local_year, utcnow
from services import audit, auth
from services.content import DrawRule
from services.errors import ValidationFailed
from services.grading import correct_response, score
from services.permissions import Actor, require_admin
from services.settings import credit_rule

CITY_DEPARTMENTS = [
    ("WH-ZZB", "市委组织部"), ("WH-RSJ", "市人力资源和社会保障局"), ("WH-ZSJ", "市政务服务与数据管理局"),
    ("WH-FGW", "市发展和改革委员会"), ("WH-GXJ", "市工业和信息化局"), ("WH-CZJ", "市财政局"),
    ("WH-NMJ", "市农牧局"), ("WH-STJ", "市生态环境局"), ("WH-SCJ", "市市场监督管理局"), ("WH-JYJ", "市教育局"),
]
DISTRICTS = {
    ("WH-HBW", "海勃湾区"): {
        "departments": [("BGS", "区政府办公室"), ("RSJ", "区人力资源和社会保障局")],
        "towns": [("QLS", "千里山镇", "town", ["千里山村", "团结村", "新星村"]),
                  ("XH", "新华街道", "town", ["新华社区", "建设社区"]),
                  ("HB", "海北街道", "town", ["海北社区", "康乐社区"]),
                  ("BH", "滨河街道", "town", ["滨河社区", "湖滨社区"])],
    },
    ("WH-WD", "乌达区"): {
        "departments": [("BGS", "区政府办公室"), ("RSJ", "区人力资源和社会保障局")],
        "towns": [("WLNE", "乌兰淖尔镇", "town", ["乌兰淖尔村", "苏木图村", "五虎山村"]),
                  ("SDK", "三道坎街道", "town", ["三道坎社区", "矿机社区"]),
                  ("LJG", "梁家沟街道", "town", ["梁家沟社区", "新达社区"])],
    },
    ("WH-HN", "海南区"): {
        "departments": [("BGS", "区政府办公室"), ("RSJ", "区人力资源和社会保障局")],
        "towns": [("LSM", "拉僧庙镇", "town", ["拉僧庙村", "赛汗乌素村"]),
                  ("BYTH", "巴音陶亥镇", "town", ["巴音陶亥村", "万亩滩村", "海南农场村"]),
                  ("GWS", "公乌素镇", "town", ["公乌素社区", "平沟社区"])],
    },
}
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史顾侯邵孟龙万段雷钱汤尹黎易常武乔贺赖龚文"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红鹏辉斌宇浩凯健俊帆帅旭宁琳晶欣悦楠婷雪慧颖倩鑫亮成建国新海峰巴特尔其其格乌云娜仁"
DEMO_LEARNER_PREFIX = "wh"


@dataclass
class DemoResult:
    units: int
    learners: int
    accounts: list[tuple[str, str, str]] = field(default_factory=list)   # (username, role label, password)
    learner_password: str = ""


def demo_loaded(session: Session) -> bool:
    return session.exec(select(OrgUnit.id).where(OrgUnit.code == "WH")).first() is not None


def _unit(session: Session, code: str, name: str, kind: str, parent: OrgUnit | None) -> OrgUnit:
    u = OrgUnit(code=code, name=name, kind=kind, parent_id=parent.id if parent else None,
                depth=parent.depth + 1 if parent else 0)
    session.add(u)
    session.flush()
    u.path = f"{parent.path if parent else '/'}{u.id}/"
    session.add(u)
    return u


def build_org(session: Session) -> list[OrgUnit]:
    city = _unit(session, "WH", "乌海市", "city", None)
    units = [city, _unit(session, "WH-XXB", "市信息化工作办公室", "department", city)]
    for code, name in CITY_DEPARTMENTS:
        units.append(_unit(session, code, name, "department", city))
    for (dcode, dname), spec in DISTRICTS.items():
        d = _unit(session, dcode, dname, "district", city)
        units.append(d)
        for code, name in spec["departments"]:
            units.append(_unit(session, f"{dcode}-{code}", name, "department", d))
        for tcode, tname, kind, villages in spec["towns"]:
            t = _unit(session, f"{dcode}-{tcode}", tname, kind, d)
            units.append(t)
            units.append(_unit(session, f"{dcode}-{tcode}-ZX", f"{tname}信息服务站", "station", t))
            for i, vname in enumerate(villages, start=1):
                v = _unit(session, f"{dcode}-{tcode}-{i:02d}", vname, "village", t)
                units.append(v)
                units.append(_unit(session, f"{dcode}-{tcode}-{i:02d}-ZX", f"{vname}信息服务站", "station", v))
    return units


def load_demo(session: Session, actor: Actor, *, learners: int = 300, seed: int = 2026) -> DemoResult:
    """Create the demo organisation and people in one transaction (refused if it exists already)."""
    require_admin(actor)
    if demo_loaded(session):
        raise ValidationFailed("error.demo_exists")
    if not 0 <= learners <= 20_000:
        raise ValidationFailed("error.demo_learners_range")
    rng = random.Random(seed)
    units = build_org(session)
    by_code = {u.code: u for u in units}
    now = utcnow()
    # learners: everyone in a unit that has people (departments, towns, villages, stations)
    homes = [u for u in units if u.kind in ("department", "town", "village", "station")]
    learner_password = auth.generate_password()
    learner_hash = auth.hash_password(learner_password)
    rows = []
    for i in range(1, learners + 1):
        unit = rng.choice(homes)
        name = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))
        rows.append({"username": f"{DEMO_LEARNER_PREFIX}{i:05d}", "name": name, "unit_id": unit.id,
                     "employee_no": f"E{i:05d}", "password_hash": learner_hash, "must_change_password": False,
                     "locale": "zh-CN", "active": True, "failed_logins": 0,
                     "created_at": now - timedelta(days=rng.randint(200, 900))})
    ids = [uid for (uid,) in session.execute(insert(User).returning(User.id), rows)] if rows else []
    session.execute(insert(Membership), [{"user_id": uid, "unit_id": r["unit_id"], "valid_from": r["created_at"]}
                                         for uid, r in zip(ids, rows)]) if rows else None
    session.execute(insert(RoleGrant), [{"user_id": uid, "role": "learner", "scope_unit_id": None} for uid in ids]) if ids else None

    result = DemoResult(units=len(units), learners=learners, learner_password=learner_password)
    staff = [("trainer01", "培训师 王老师", "trainer", "WH", "trainer"), ("hr_city", "市委组织部 人事 刘科长", "hr", "WH", "hr"),
             ("hr_hbw", "海勃湾区 人事 陈科长", "hr", "WH-HBW", "hr"), ("hr_wd", "乌达区 人事 赵科长", "hr", "WH-WD", "hr")]
    staff_history = []
    for username, name, role, scope, label in staff:
        password = auth.generate_password()
        home = by_code["WH-ZZB"] if scope == "WH" else by_code[f"{scope}-RSJ"]
        created = now - timedelta(days=rng.randint(400, 900))
        u = User(username=username, name=name, unit_id=home.id, password_hash=auth.hash_password(password),
                 must_change_password=False, created_at=created)
        session.add(u)
        session.flush()
        session.add(RoleGrant(user_id=u.id, role=role, scope_unit_id=by_code[scope].id))
        session.add(RoleGrant(user_id=u.id, role="learner"))
        session.add(Membership(user_id=u.id, unit_id=home.id, valid_from=created))
        result.accounts.append((username, label, password))
        staff_history.append((u.id, created))
    # trainers and HR hold the learner role too: they study like everyone else (without a history
    # they would top every "behind target" list)
    _study_history(session, rng, [(uid, r["created_at"]) for uid, r in zip(ids, rows)] + staff_history)
    audit.record(session, actor.id, "demo.load", learners=learners, seed=seed)
    session.flush()
    return result


def _study_history(session: Session, rng: random.Random, learners: list[tuple[int, object]]) -> None:
    """Lesson progress, quiz attempts, completions and ledger rows over this year and last year,
    credited with the same rule the live platform uses: a row per lesson done (its tier), the quiz
    bonus when the quiz is passed, and a completion record (no hours of its own)."""
    courses = session.exec(select(Course).where(Course.active).order_by(Course.position)).all()
    if not courses or not learners:
        return
    rule = credit_rule(session)
    lessons = {c.id: session.exec(select(Lesson).where(Lesson.course_id == c.id, Lesson.active)
                                  .order_by(Lesson.position)).all() for c in courses}
    pools: dict[tuple[str, str], list[QuestionVersion]] = {}
    for c in courses:
        for v in session.exec(select(QuestionVersion).join(Question, (Question.id == QuestionVersion.question_id)
                                                           & (Question.current_version == QuestionVersion.version))
                              .where(Question.course_id == c.id, QuestionVersion.usage != "exam")).all():
            pools.setdefault((c.id, v.type), []).append(v)
    now = utcnow()
    progress, completions, entries = [], [], []
    for uid, _created in learners:
        ability = rng.gauss(0.0, 1.0)
        engagement = rng.random()
        for c in courses:
            p_start = (0.85 if c.required else 0.35) * (0.4 + engagement)
            if rng.random() > p_start or not lessons[c.id]:
                continue
            n_done = len(lessons[c.id]) if rng.random() < 0.6 + 0.3 * engagement else rng.randint(0, len(lessons[c.id]) - 1)
            start = now - timedelta(days=rng.randint(5, 540), hours=rng.randint(0, 10))
            t = start
            finished = 0
            for i, ls in enumerate(lessons[c.id][: max(n_done, 1)]):
                t += timedelta(hours=rng.uniform(1, 72))
                spent = int(ls.minutes * 60 * rng.uniform(0.6, 1.6))
                seen = t + timedelta(seconds=spent)
                if seen > now:     # history ends today
                    break
                done_at = seen if i < n_done else None
                progress.append({"user_id": uid, "course_id": c.id, "lesson_id": ls.id, "first_opened_at": t,
                                 "last_seen_at": seen, "seconds_spent": spent, "completed_at": done_at})
                if done_at is None:
                    continue
                # each lesson done is credited as its own 课件 when it was done (the live rule, see learning.py)
                finished += 1
                hours = rule.lesson_hours(ls.minutes)
                entries.append({"user_id": uid, "year": local_year(done_at), "hours": hours, "source_type": "lesson",
                                "source_id": ls.id, "course_id": c.id, "created_at": done_at,
                                "reason": f"学完《{c.title}》第 {ls.position} 节《{ls.title}》：{ls.minutes} 分钟，计 {hours:g} 学时"})
            if finished < len(lessons[c.id]):
                continue
            passed = True
            if c.quiz:
                passed = False
                for _ in range(3):   # up to three tries
                    t += timedelta(hours=rng.uniform(0.5, 48))
                    if t > now:
                        break
                    passed = _demo_quiz(session, rng, uid, c, pools, t, ability)
                    if passed:
                        break
            if not passed or t > now:
                continue
            completions.append({"user_id": uid, "course_id": c.id, "completed_at": t})
            if c.quiz and rule.quiz_bonus:
                entries.append({"user_id": uid, "year": local_year(t), "hours": rule.quiz_bonus, "source_type": "quiz",
                                "source_id": c.id, "course_id": c.id, "created_at": t,
                                "reason": f"通过《{c.title}》课程测验，加 {rule.quiz_bonus:g} 学时"})
        # hours earned elsewhere (the provincial cadre e-learning site, classroom training), entered
        # as imported ledger rows so that compliance varies as it does in a real city
        for year in (local_year(now) - 1, local_year(now)):
            if rng.random() < 0.3 + 0.6 * engagement:
                start_of_year = now.replace(year=year, month=1, day=1, hour=9, minute=0, second=0, microsecond=0)
                span = (now - start_of_year).days if year == local_year(now) else 364
                when = start_of_year + timedelta(days=rng.randint(0, max(span - 1, 0)))
                hours = round(rng.uniform(4, 52) * (0.5 + engagement) * 2) / 2
                entries.append({"user_id": uid, "year": year, "hours": hours, "source_type": "import",
                                "source_id": f"demo-{year}", "course_id": None, "created_at": when,
                                "reason": f"{year} 年干部网络学院学时导入（演示数据）：{hours:g} 学时"})
    for table, data in ((LessonProgress, progress), (CourseCompletion, completions), (LedgerEntry, entries)):
        for i in range(0, len(data), 5000):
            session.execute(insert(table), data[i:i + 5000])


def _demo_quiz(session, rng, uid, course, pools, when, ability) -> bool:
    """A submitted quiz attempt whose answers follow a simple ability-vs-difficulty model."""
    items = []
    for r in (DrawRule.model_validate(x) for x in course.quiz["draw"]):
        pool = [v for v in pools.get((course.id, r.type), []) if not r.category or v.category.startswith(r.category)]
        items.extend(rng.sample(pool, min(r.count, len(pool))))
    if not items:
        return True
    attempt = Attempt(user_id=uid, kind="quiz", course_id=course.id, started_at=when,
                      submitted_at=when + timedelta(minutes=rng.randint(5, 25)), status="submitted",
                      max_score=sum(v.points for v in items), pass_percent=course.quiz.get("pass_percent", 60))
    session.add(attempt)
    session.flush()
    total, rows = 0.0, []
    for pos, v in enumerate(items, start=1):
        p_right = 1 / (1 + pow(2.718, -(1.2 * ability + 1.5 - 0.6 * v.difficulty)))
        key = correct_response(v.data)
        if rng.random() < p_right:
            response = key
        elif v.type == "single_choice":
            response = rng.choice([i for i in range(len(v.data["options"])) if i != key])
        elif v.type == "true_false":
            response = not key
        elif v.type == "multiple_choice":
            response = key[:1]
        else:
            response = ""
        s = score(v.data, response, v.points) or 0.0
        total += s
        rows.append({"attempt_id": attempt.id, "position": pos, "question_version_id": v.id, "points": v.points,
                     "response": response, "saved_at": when, "score": s})
    session.execute(insert(AttemptItem), rows)
    attempt.score = round(total, 2)
    attempt.passed = 100 * total / attempt.max_score >= attempt.pass_percent
    session.add(attempt)
    return attempt.passed


def demo_summary(session: Session) -> dict:
    return {"units": session.exec(select(func.count()).select_from(OrgUnit)).one(),
            "users": session.exec(select(func.count()).select_from(User)).one()}
