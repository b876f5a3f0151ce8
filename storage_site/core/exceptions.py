"""One family of application errors and one DRF handler that renders them.

Services raise `ApplicationError` subclasses; views never build error bodies. The
handler renders each error in the shape of the dialect that served the request
(docs/apis.md): the primary envelope by default, FileAgo's `status`/`msg`, or
StreamVault's `message`. A view picks its dialect with `error_dialect`.
"""

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import OperationalError
from django.http import Http404
from rest_framework import exceptions as drf
from rest_framework.response import Response
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError

logger = logging.getLogger(__name__)


class ApplicationError(Exception):
    status_code = 400
    code = "BAD_REQUEST"
    message = "The request could not be processed."

    def __init__(self, message: str | None = None, *, code: str | None = None,
                 status_code: int | None = None, details: dict | None = None,
                 headers: dict | None = None):
        self.message = message or self.message
        self.code = code or self.code
        self.status_code = status_code or self.status_code
        self.details = details
        self.headers = headers or {}
        super().__init__(self.message)


class NotFound(ApplicationError):
    status_code = 404
    code = "NOT_FOUND"
    message = "Not found."


class UserInactive(ApplicationError):
    status_code = 404
    code = "USER_INACTIVE"
    message = "User not found or inactive."


class InvalidCredentials(ApplicationError):
    status_code = 401
    code = "INVALID_CREDENTIALS"
    message = "Invalid credentials."


class InvalidOtp(ApplicationError):
    status_code = 400
    code = "INVALID_OTP"
    message = "The code is wrong or has expired."


class TokenInvalid(ApplicationError):
    status_code = 401
    code = "INVALID_TOKEN"
    message = "Token expired or invalid."


class TooManyAttempts(ApplicationError):
    status_code = 429
    code = "TOO_MANY_ATTEMPTS"
    message = "Too many attempts. Try again later."

    def __init__(self, message: str | None = None, *, retry_after: int | None = None, **kwargs):
        headers = {"Retry-After": str(max(1, int(retry_after)))} if retry_after else None
        super().__init__(message, headers=headers, **kwargs)


class ServiceUnavailable(ApplicationError):
    status_code = 503
    code = "SERVICE_UNAVAILABLE"
    message = "A service this request needs is unavailable. Try again later."


def _first_message(detail) -> str:
    if isinstance(detail, dict):
        for key, value in detail.items():
            text = _first_message(value)
            return text if key in ("non_field_errors", "detail") else f"{key}: {text}"
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    return str(detail)


def _as_application_error(exc) -> ApplicationError | None:
    """Translate framework exceptions into the one family the renderers know."""
    if isinstance(exc, ApplicationError):
        return exc
    if isinstance(exc, (Http404, drf.NotFound)):
        return NotFound()
    if isinstance(exc, drf.NotAuthenticated):
        return ApplicationError("Authentication required.", code="NO_TOKEN", status_code=401)
    if isinstance(exc, (InvalidToken, TokenError, drf.AuthenticationFailed)):
        return TokenInvalid()
    if isinstance(exc, drf.PermissionDenied):
        code = exc.get_codes() if isinstance(exc.get_codes(), str) else "PERMISSION_DENIED"
        code = "PERMISSION_DENIED" if code == "permission_denied" else code
        return ApplicationError(str(exc.detail), code=code, status_code=403)
    if isinstance(exc, DjangoPermissionDenied):
        return ApplicationError("Access denied.", code="PERMISSION_DENIED", status_code=403)
    if isinstance(exc, RequestDataTooBig):
        return ApplicationError("The request body is too large.", code="REQUEST_TOO_LARGE", status_code=413)
    if isinstance(exc, SuspiciousOperation):  # too many fields, bad multipart, ... : the client's fault
        return ApplicationError("The request is malformed.", code="MALFORMED_REQUEST")
    if isinstance(exc, drf.Throttled):
        wait = int(exc.wait or 1) + (1 if exc.wait and exc.wait % 1 else 0)
        return TooManyAttempts("Too many requests. Try again later.", code="RATE_LIMITED", retry_after=wait)
    if isinstance(exc, drf.ValidationError):
        return ApplicationError(_first_message(exc.detail), code="VALIDATION_ERROR",
                                details=exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail})
    if isinstance(exc, DjangoValidationError):
        return ApplicationError(" ".join(exc.messages), code="VALIDATION_ERROR")
    if isinstance(exc, drf.ParseError):
        return ApplicationError(str(exc.detail), code="MALFORMED_REQUEST")
    if isinstance(exc, drf.UnsupportedMediaType):
        return ApplicationError(str(exc.detail), code="UNSUPPORTED_MEDIA_TYPE", status_code=415)
    if isinstance(exc, drf.MethodNotAllowed):
        return ApplicationError(str(exc.detail), code="METHOD_NOT_ALLOWED", status_code=405)
    if isinstance(exc, drf.NotAcceptable):
        return ApplicationError(str(exc.detail), code="NOT_ACCEPTABLE", status_code=406)
    if isinstance(exc, OperationalError):  # database down or locked: transient, retry later
        logger.warning("database unavailable: %s", exc)
        return ServiceUnavailable("The database is busy or unavailable. Try again later.")
    if isinstance(exc, drf.APIException):
        return ApplicationError(str(exc.detail), code=str(exc.default_code).upper(), status_code=exc.status_code)
    return None


def render_error(error: ApplicationError, dialect: str = "primary") -> dict:
    if dialect == "fileago":
        return {"status": "error", "msg": error.message}
    if dialect == "streamvault":
        body = {"message": error.message, "code": error.code}
        if error.details:
            body["errors"] = error.details
        return body
    body = {"code": error.code, "message": error.message}
    if error.details:
        body["details"] = error.details
    return {"success": False, "error": body}


def exception_handler(exc, context):
    view = context.get("view")
    dialect = getattr(view, "error_dialect", "primary")
    error = _as_application_error(exc)
    if error is None:
        logger.exception("Unhandled error in %s", view.__class__.__name__ if view else "request")
        error = ApplicationError("Internal server error.", code="INTERNAL_ERROR", status_code=500)
    response = Response(render_error(error, dialect), status=error.status_code)
    for name, value in error.headers.items():
        response[name] = value
    if error.status_code == 401:
        response["WWW-Authenticate"] = 'Bearer realm="api"'
    return response


class InvalidName(ApplicationError):
    status_code = 400
    code = "INVALID_NAME"
    message = "This name is not allowed."


class NameConflict(ApplicationError):
    status_code = 409
    code = "NAME_CONFLICT"
    message = "An item with this name already exists here."


class InvalidMove(ApplicationError):
    status_code = 400
    code = "INVALID_MOVE"
    message = "A folder cannot be moved or copied into itself."


class QuotaExceeded(ApplicationError):
    status_code = 413
    code = "STORAGE_QUOTA_EXCEEDED"
    message = "Storage quota exceeded."


class FileTooLarge(ApplicationError):
    status_code = 413
    code = "FILE_TOO_LARGE"
    message = "File too large."


class StorageUnavailable(ApplicationError):
    status_code = 503
    code = "STORAGE_UNAVAILABLE"
    message = "The storage service is unavailable. Try again later."


class ShareGone(ApplicationError):
    status_code = 410
    code = "SHARE_EXPIRED"
    message = "This link has expired or reached its download limit."
