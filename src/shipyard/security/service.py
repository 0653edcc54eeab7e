"""Users and API keys: create, authenticate (with a short in-memory cache), revoke.

A key reads ``sy_<key id>_<secret>``; only the SHA-256 of the secret is stored, and it is
compared in constant time. Authentication is cached for a few seconds so the serving
hot path does not touch the DB on every request.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time

from sqlalchemy import select
from sqlalchemy.orm import Session

from shipyard.core.clock import utcnow
from shipyard.core.db import Database
from shipyard.core.errors import Unauthenticated
from shipyard.security.iam import ADMINISTRATOR_ACCESS, Principal
from shipyard.security.models import ApiKey, User

ADMIN_USER = "admin"
CACHE_SECONDS = 10.0


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def ensure_user(session: Session, name: str, policies: list[dict] | None = None) -> User:
    user = session.get(User, name)
    if user is None:
        user = User(name=name, policies=policies or [], created_at=utcnow())
        session.add(user)
        session.flush()
    return user


def create_api_key(session: Session, user_name: str, description: str = "") -> str:
    """Create a key for ``user_name``; the returned token is shown once and never stored."""
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    session.add(
        ApiKey(
            key_id=key_id,
            user_name=user_name,
            secret_hash=_hash(secret),
            description=description,
            created_at=utcnow(),
        )
    )
    session.flush()
    return f"sy_{key_id}_{secret}"


def bootstrap_admin(db: Database) -> str | None:
    """On the first start: the admin user and its first key (returned); later: None."""
    with db.session_scope() as session:
        if session.scalar(select(ApiKey.key_id).limit(1)) is not None:
            return None
        ensure_user(session, ADMIN_USER, [ADMINISTRATOR_ACCESS])
        return create_api_key(session, ADMIN_USER, "created on first start")


class Authenticator:
    """Turns bearer tokens into principals, caching good answers for a few seconds."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._cache: dict[str, tuple[float, Principal]] = {}
        self._lock = threading.Lock()

    def authenticate(self, token: str | None) -> Principal:
        if not token:
            raise Unauthenticated("missing API key: send 'Authorization: Bearer <key>'")
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(token)
        if cached is not None and cached[0] > now:
            return cached[1]
        principal = self._lookup(token)
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[token] = (now + CACHE_SECONDS, principal)
        return principal

    def forget(self) -> None:
        with self._lock:
            self._cache.clear()

    def _lookup(self, token: str) -> Principal:
        parts = token.split("_", 2)
        if len(parts) != 3 or parts[0] != "sy":
            raise Unauthenticated("invalid API key")
        _, key_id, secret = parts
        with self.db.session_scope() as session:
            key = session.get(ApiKey, key_id)
            if key is None or key.revoked_at is not None:
                raise Unauthenticated("invalid API key")
            if not hmac.compare_digest(key.secret_hash, _hash(secret)):
                raise Unauthenticated("invalid API key")
            user = session.get(User, key.user_name)
            policies = tuple(user.policies) if user else ()
            return Principal(name=key.user_name, policies=policies, key_id=key_id)


def principal_of_key(session: Session, key_id: str) -> Principal:
    """The principal behind a key id (the console's session holds only the id, never the
    key); Unauthenticated when the key no longer exists or has been revoked."""
    key = session.get(ApiKey, key_id)
    if key is None or key.revoked_at is not None:
        raise Unauthenticated("the API key of this session no longer exists or was revoked")
    user = session.get(User, key.user_name)
    policies = tuple(user.policies) if user else ()
    return Principal(name=key.user_name, policies=policies, key_id=key_id)
