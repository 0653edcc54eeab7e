"""Users and API keys: create, authenticate (with a short in-memory cache), revoke.

A key reads ``sy_<key id>_<secret>``; only the SHA-256 of the secret is stored, and it is
compared in constant time. Authentication is cached for ``CACHE_SECONDS`` so the serving
hot path does not touch the DB on every request. A revoked key therefore keeps working for
up to ``CACHE_SECONDS`` in a process that accepted it just before, unless that process
calls :meth:`Authenticator.forget` (the console's session checks its key on every request).
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
from shipyard.core.errors import NotFound, Unauthenticated
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


def revoke_api_key(session: Session, key_id: str) -> ApiKey:
    """Revoke a key (again: no change); NotFound for an unknown id.

    Authenticators that accepted the key in the last ``CACHE_SECONDS`` keep accepting it
    until their cache expires; ``Authenticator.forget(key_id)`` ends that at once.
    """
    key = session.get(ApiKey, key_id)
    if key is None:
        raise NotFound(f"API key '{key_id}' not found")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        session.flush()
    return key


def bootstrap_admin(db: Database) -> str | None:
    """On the first start: the admin user and its first key (returned); later: None."""
    with db.session_scope() as session:
        if session.scalar(select(ApiKey.key_id).limit(1)) is not None:
            return None
        ensure_user(session, ADMIN_USER, [ADMINISTRATOR_ACCESS])
        return create_api_key(session, ADMIN_USER, "created on first start")


def issue_admin_key(db: Database, description: str) -> str:
    """A new key for the admin user (created if missing): the way back in for whoever can
    open the database, e.g. after the first key was lost."""
    with db.session_scope() as session:
        ensure_user(session, ADMIN_USER, [ADMINISTRATOR_ACCESS])
        return create_api_key(session, ADMIN_USER, description)


class Authenticator:
    """Turns bearer tokens into principals, caching good answers for ``CACHE_SECONDS``.

    Refusals are not cached, and a cached answer outlives a revocation until it expires or
    :meth:`forget` drops it.
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        self._cache: dict[str, tuple[float, Principal]] = {}
        self._lock = threading.Lock()

    def authenticate(self, token: str | None) -> Principal:
        """The principal of ``token``; Unauthenticated when it is missing, unknown or revoked."""
        if not token:
            raise Unauthenticated("missing API key: send 'Authorization: Bearer <key>'")
        principal = self.cached(token)
        if principal is not None:
            return principal
        principal = self._lookup(token)
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[token] = (time.monotonic() + CACHE_SECONDS, principal)
        return principal

    def cached(self, token: str | None) -> Principal | None:
        """The principal of ``token`` if a recent answer holds it, without touching the DB."""
        if not token:
            return None
        with self._lock:
            cached = self._cache.get(token)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        return None

    def forget(self, key_id: str | None = None) -> None:
        """Drop the cached answers for ``key_id`` (all of them without one), so that its
        revocation holds in this process at once."""
        with self._lock:
            if key_id is None:
                self._cache.clear()
            else:
                self._cache = {
                    token: entry
                    for token, entry in self._cache.items()
                    if entry[1].key_id != key_id
                }

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


def principal_of(session: Session, user_name: str) -> Principal:
    """The principal of a user, for work done later on their behalf (a pipeline's steps)."""
    user = session.get(User, user_name)
    if user is None:
        raise NotFound(f"user '{user_name}' not found")
    return Principal(name=user.name, policies=tuple(user.policies))
