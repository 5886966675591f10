"""The dashboard's session cookie: signed, expiring, its CSRF token compared in constant time,
and set HttpOnly, SameSite=Strict on /admin (Secure for an https gateway)."""

from __future__ import annotations

import time

from starlette.responses import Response

from gateway.api.dashboard.session import COOKIE, LOGIN_SECONDS, Session, SessionCodec

KEY = b"k" * 32


def test_a_session_survives_its_cookie_and_a_changed_or_foreign_cookie_is_none() -> None:
    codec = SessionCodec(KEY, secure=False)
    session = Session.new("ops", "scrypt$hash").noting("done")
    cookie = codec.encode(session)
    assert codec.decode(cookie) == session
    body, signature = cookie.split(".")
    forged = body[:-2] + ("AA" if body[-2:] != "AA" else "BB")
    reversed_signature = f"{body}.{signature[::-1]}"
    for bad in (None, "", "x", f"{forged}.{signature}", reversed_signature, cookie + ".x", "a" * 5000):
        assert codec.decode(bad) is None, bad
    assert SessionCodec(b"other key", secure=False).decode(cookie) is None


def test_a_session_ends_at_its_expiry() -> None:
    codec = SessionCodec(KEY, secure=False)
    now = time.time()
    cookie = codec.encode(Session.new("ops", "h", now=now))
    assert codec.decode(cookie, now=now + LOGIN_SECONDS - 1) is not None
    assert codec.decode(cookie, now=now + LOGIN_SECONDS + 1) is None
    before_login = codec.encode(Session.new(now=now))
    assert codec.decode(before_login, now=now + 3601) is None


def test_only_the_sessions_own_csrf_token_matches() -> None:
    session, other = Session.new("ops", "h"), Session.new("ops", "h")
    assert session.csrf_matches(session.csrf)
    for token in (None, "", other.csrf, session.csrf[:-1], session.csrf + "x"):
        assert not session.csrf_matches(token)


def test_the_cookie_is_httponly_strict_on_admin_and_secure_for_https() -> None:
    for secure in (False, True):
        response = Response()
        SessionCodec(KEY, secure=secure).store(response, Session.new("ops", "h"))
        cookie = response.headers["set-cookie"]
        assert cookie.startswith(f"{COOKIE}=")
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/admin" in cookie
        assert ("Secure" in cookie) is secure
        assert "Max-Age=28" in cookie  # 28800 s (or a second less)
