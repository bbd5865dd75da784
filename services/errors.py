"""Errors carry a message key and parameters; the UI translates them with t()."""
from typing import Any


class ServiceError(Exception):
    code = "error.generic"

    def __init__(self, code: str | None = None, /, **params: Any):   # positional-only: "code" may be a param
        self.code = code or self.code
        self.params = params
        super().__init__(f"{self.code} {params}" if params else self.code)


class PermissionDenied(ServiceError):
    code = "error.permission_denied"


class NotFound(ServiceError):
    code = "error.not_found"


class ValidationFailed(ServiceError):
    code = "error.validation"


class AuthFailed(ServiceError):
    code = "error.auth_failed"
