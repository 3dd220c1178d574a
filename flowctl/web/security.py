"""Request guards every page gets: only storable text, login required, CSRF on state changes, security headers.

A NUL character (0x00) or a lone surrogate (U+D800 to U+DFFF alone, which a
JSON ``\\ud800`` escape or the bytes ED A0 80 in a JSON body can carry) anywhere
in a request (path, query, form, JSON body at any depth, basic-auth
credentials) is refused with 400 by the first guard, before any login check or
database access: PostgreSQL can neither store nor compare a NUL, and no
database driver can encode a lone surrogate as UTF-8, so once either reached a
query it was a 500.

A small per-session CSRF token (our own, not Flask-WTF: one check for forms
and fetch calls alike, no form classes to adopt) goes in every form as
``csrf_token`` and in fetch calls as the ``X-CSRFToken`` header; every POST,
PUT, PATCH and DELETE without the right token is refused with 400. API calls
authenticated by a bearer token or basic auth carry no cookie, so they need none; a
basic-auth POST must be JSON instead (browsers resend cached basic credentials).
Must not import flowctl.cli or flowctl.scheduler.
"""
from __future__ import annotations

import base64
import binascii
import hmac
import secrets
from collections.abc import Iterator
from typing import Any

from flask import Response, abort, g, redirect, request, session, url_for
from werkzeug.datastructures import WWWAuthenticate

CSRF_SESSION_KEY = "_csrf"
CSRF_FORM_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRFToken"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
PUBLIC_ENDPOINTS = frozenset({"health.health", "api.health", "auth.login", "static"})

CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'", "img-src 'self' data:", "style-src 'self' 'unsafe-inline'",
    "script-src 'self'", "connect-src 'self'", "font-src 'self' data:",
    "object-src 'none'", "base-uri 'self'", "frame-ancestors 'none'", "form-action 'self'",
])


NUL = "\x00"
NUL_DETAIL = "The request contains a NUL character (0x00), which no name, value or password may hold."
SURROGATE_DETAIL = ("The request contains a lone surrogate (a character from U+D800 to U+DFFF not in a pair, "
                    "such as the JSON escape \\ud800), which is not text UTF-8 can encode.")


def json_strings(document: Any) -> Iterator[str]:
    """Every string of a parsed JSON document, object keys included, at any depth (no recursion:
    a body nested thousands deep is walked like a flat one)."""
    pending = [document]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)


def basic_credentials(encoded: str) -> tuple[str, str] | None:
    """(name, password) of an ``Authorization: Basic`` value; None unless it is base64 of UTF-8
    ``name:password``."""
    try:
        name, sep, password = base64.b64decode(encoded, validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (name, password) if sep else None


def _pairs(multidict: Any) -> Iterator[str]:
    """Every key and value of a query string or form."""
    for key, value in multidict.items(multi=True):
        yield key
        yield value


def _request_strings() -> Iterator[str]:
    """What of this request a view, the login checks or the database could see."""
    yield request.path
    yield from _pairs(request.args)
    header = request.headers.get("Authorization", "")
    yield header
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() == "basic":
        yield from basic_credentials(encoded.strip()) or ()
    if request.content_length or request.headers.get("Transfer-Encoding"):
        request.get_data()  # cached: the form parser below and the views still read the body
        yield from _pairs(request.form)
        if request.is_json:
            yield from json_strings(request.get_json(silent=True))


def unstorable(text: str) -> str | None:
    """Why no database can take ``text`` (a NUL, a lone surrogate), or None when it can."""
    if NUL in text:
        return NUL_DETAIL
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return SURROGATE_DETAIL
    return None


def refuse_unstorable_text() -> None:
    """before_request, first of all: 400 for a NUL character or a lone surrogate anywhere in the
    request (JSON problem body under /api/, the error page elsewhere), before the login checks and
    the database see it."""
    for text in _request_strings():
        problem = unstorable(text)
        if problem is not None:
            abort(400, description=problem)


def csrf_token() -> str:
    """This session's CSRF token (created on first use)."""
    token = session.get(CSRF_SESSION_KEY)
    if not token:
        token = secrets.token_urlsafe(32)
        session[CSRF_SESSION_KEY] = token
    return str(token)


def csrf_ok(expected: str | None, given: str | None) -> bool:
    """Constant-time comparison; a missing token never matches."""
    return bool(expected) and bool(given) and hmac.compare_digest(str(expected), str(given))


def check_csrf() -> None:
    """before_request: 400 for a state-changing request without this session's token."""
    if request.method not in UNSAFE_METHODS:
        return
    if getattr(g, "token_auth", False):
        # A browser resends cached basic credentials on a cross-site form post, as it sends cookies:
        # with basic auth a POST must be JSON, which no form of another site can send without CORS.
        if getattr(g, "auth_scheme", "") == "basic" and request.method == "POST" and not request.is_json:
            abort(415, description="send the body as JSON (Content-Type: application/json)")
        return
    given = request.form.get(CSRF_FORM_FIELD) or request.headers.get(CSRF_HEADER)
    if not csrf_ok(session.get(CSRF_SESSION_KEY), given):
        abort(400, description="The CSRF token is missing or wrong: reload the page and try again.")


def enforce_login() -> Any:
    """before_request: everything but /health, /login and static files needs a user."""
    if request.endpoint in PUBLIC_ENDPOINTS or request.endpoint is None:
        return None
    if getattr(g, "user", None) is not None:
        return None
    if request.path.startswith("/api/"):
        abort(401, description="log in, or send a user's name and password ('Authorization: Basic', "
                               "curl -u) or an API token ('Authorization: Bearer <token>')",
              www_authenticate=WWWAuthenticate("basic", {"realm": "flowctl", "charset": "UTF-8"}))
    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))


def add_security_headers(response: Response) -> Response:
    """after_request: headers that stop framing, sniffing and loading scripts from elsewhere."""
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if getattr(g, "user", None) is not None:
        response.headers.setdefault("Cache-Control", "no-store")
    return response
