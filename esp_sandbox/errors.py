"""dotdigital's error envelope as werkzeug exceptions.

v2 failures carry ``{"message": "<human text> ERROR_CODE"}``; raising one of these from a handler is all a
handler does to refuse a request.
"""

import json

from werkzeug.exceptions import HTTPException

V3_PREFIXES = ("/contacts/v3", "/configuration/v3")


class ApiError(HTTPException):
    """A v2 error answer: JSON body with the ESP's message, any status code."""

    def __init__(self, status, message, headers=None):
        super().__init__(description=message)
        self.code = status
        self.message = message
        self.extra_headers = headers or {}

    def get_body(self, environ=None, scope=None):
        if environ is not None and environ.get("PATH_INFO", "").startswith(V3_PREFIXES):
            # The v3 services' envelope (research: dotdigital.md §1.4); the code is the v2 token when there is one.
            code = self.message.rsplit(" ", 1)[-1] if " ERROR_" in self.message else f"http{self.code}"
            return json.dumps({"errorCode": code, "description": self.message})
        return json.dumps({"message": self.message})

    def get_headers(self, environ=None, scope=None):
        return [("Content-Type", "application/json; charset=utf-8"), *self.extra_headers.items()]


def bad_request(code, text="Error:"):
    """400 with an ERROR_* token, e.g. ``bad_request("ERROR_ADDRESSBOOK_DUPLICATE")``."""
    return ApiError(400, f"{text} {code}")


def not_found(code):
    """404 the way dotdigital words unknown ids: ``"Error: ERROR_ADDRESSBOOK_NOT_FOUND"``."""
    return ApiError(404, f"Error: {code}")


def unauthorized():
    return ApiError(
        401, "Authorization has been denied for this request.", {"WWW-Authenticate": 'Basic realm="apiconnector"'}
    )


def invalid_parameter(name):
    return ApiError(400, f"The parameter '{name}' is invalid. ERROR_PARAMETER_INVALID")


class V3Error(ApiError):
    """A v3 error answer: ``{"errorCode": "contacts:…", "description": …}`` (the spec's ``errorResponse``)."""

    def __init__(self, status, code, description, headers=None):
        super().__init__(status, description, headers)
        self.error_code = code

    def get_body(self, environ=None, scope=None):
        return json.dumps({"errorCode": self.error_code, "description": self.message})
