"""The Apify error envelope as an exception the HTTP layer renders."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error with an HTTP status and an Apify error type (kebab-case)."""

    def __init__(
        self,
        status: int,
        type_: str,
        message: str,
        data: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.type = type_
        self.message = message
        self.data = data
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"type": self.type, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return {"error": error}


INSUFFICIENT_PERMISSIONS = (
    "Insufficient permissions for the key-value store. Make sure you're passing a correct "
    "API token and that it has the required permissions."
)


def store_not_found() -> ApiError:
    return ApiError(404, "record-not-found", "Key-value store was not found.")


def page_not_found() -> ApiError:
    return ApiError(404, "page-not-found", "The requested page was not found.")


def store_name_taken(name: object) -> ApiError:
    return ApiError(400, "name-not-unique", f'You already have a key-value store named "{name}".')


def username_taken(username: str) -> ApiError:
    return ApiError(400, "name-not-unique", f'Username "{username}" is taken.')


def record_not_found() -> ApiError:
    return ApiError(404, "record-not-found", "Record was not found.")


def forbidden() -> ApiError:
    return ApiError(403, "insufficient-permissions", INSUFFICIENT_PERMISSIONS)


def token_not_provided() -> ApiError:
    return ApiError(401, "token-not-provided", "Authentication token was not provided.")


def invalid_token() -> ApiError:
    return ApiError(401, "invalid-token", "Authentication token is not valid.")


def invalid_parameter(name: str, reason: str) -> ApiError:
    return ApiError(400, "invalid-parameter", f"Parameter '{name}' {reason}")


def storage_full(request_id: str) -> ApiError:
    return ApiError(
        507,
        "insufficient-storage",
        "The server has no space left to store this; nothing was written. Try again later "
        f"(request id {request_id}).",
    )


def precondition_failed(message: str) -> ApiError:
    return ApiError(412, "precondition-failed", message)
