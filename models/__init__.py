"""SQLModel tables. Importing this package registers every table on SQLModel.metadata."""
from models.certificate import Certificate
from models.content import Course, Lesson, LessonFile, Question, QuestionVersion
from models.exam import AttemptEvent, EssayGrade, Exam
from models.learning import Attempt, AttemptItem, CourseCompletion, LedgerEntry, LessonProgress
from models.notice import AnalyticsState, LedgerWeekTotal, LedgerYearTotal, Notice, NoticeRecipient
from models.offline import OfflineAttendance, OfflineClass
from models.org import Membership, OrgUnit
from models.practice import Mistake, PracticeCheck, ReviewCard, ReviewLog
from models.rollups import PersonYearTotal
from models.system import AuditLog, Setting, UnitTarget
from models.user import ROLES, AuthSession, RoleGrant, SignInThrottle, User

__all__ = [
    "ROLES", "AnalyticsState", "Attempt", "AttemptEvent", "AttemptItem", "AuditLog", "AuthSession", "Certificate", "Course",
    "CourseCompletion", "EssayGrade", "Exam", "LedgerEntry", "LedgerWeekTotal", "LedgerYearTotal", "Lesson", "LessonFile",
    "LessonProgress", "Membership", "Mistake", "Notice", "NoticeRecipient", "OfflineAttendance", "OfflineClass", "OrgUnit", "PersonYearTotal", "PracticeCheck", "Question",
    "QuestionVersion", "ReviewCard", "ReviewLog", "RoleGrant",
    "Setting", "SignInThrottle", "UnitTarget", "User",
]
