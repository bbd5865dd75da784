"""SQLModel tables. Importing this package registers every table on SQLModel.metadata."""
from models.content import Course, Lesson, LessonFile, Question, QuestionVersion
from models.learning import Attempt, AttemptItem, CourseCompletion, LedgerEntry, LessonProgress
from models.org import Membership, OrgUnit
from models.system import AuditLog, Setting, UnitTarget
from models.user import ROLES, AuthSession, RoleGrant, SignInThrottle, User

__all__ = [
    "Attempt", "AttemptItem", "AuditLog", "AuthSession", "Course", "CourseCompletion", "LedgerEntry",
    "Lesson", "LessonFile", "LessonProgress", "Membership", "OrgUnit", "Question", "QuestionVersion", "ROLES",
    "RoleGrant", "Setting", "SignInThrottle", "UnitTarget", "User",
]
