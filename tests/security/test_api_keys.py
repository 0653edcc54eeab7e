"""security/service.py: revoking a key, and how long the authenticator's cache outlives it."""

from __future__ import annotations

import pytest

from shipyard.core.errors import NotFound, Unauthenticated
from shipyard.security.models import ApiKey
from shipyard.security.service import Authenticator, create_api_key, revoke_api_key


def key_id_of(token: str) -> str:
    return token.split("_")[1]


@pytest.fixture
def authenticator(api) -> Authenticator:
    return api.client.app.state.context.authenticator


@pytest.fixture
def token(api) -> str:
    with api.client.app.state.context.db.session_scope() as session:
        return create_api_key(session, "admin", "to revoke")


def revoke(api, token: str) -> None:
    with api.client.app.state.context.db.session_scope() as session:
        revoke_api_key(session, key_id_of(token))


def test_revoking_sets_revoked_at_once(api, token) -> None:
    db, key_id = api.client.app.state.context.db, key_id_of(token)
    with db.session_scope() as session:
        assert revoke_api_key(session, key_id).revoked_at is not None
    with db.session_scope() as session:
        first = session.get(ApiKey, key_id).revoked_at
        revoke_api_key(session, key_id)  # again: no change
    with db.session_scope() as session:
        assert session.get(ApiKey, key_id).revoked_at == first


def test_revoking_an_unknown_key_is_not_found(api) -> None:
    with (
        api.client.app.state.context.db.session_scope() as session,
        pytest.raises(NotFound, match="no-such-key"),
    ):
        revoke_api_key(session, "no-such-key")


def test_a_revoked_key_is_refused_once_forgotten(api, authenticator, token) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    assert api.client.get("/api/v1/models", headers=headers).status_code == 200

    revoke(api, token)
    # cached for up to CACHE_SECONDS in the process that accepted it ...
    assert api.client.get("/api/v1/models", headers=headers).status_code == 200
    authenticator.forget(key_id_of(token))
    # ... and refused at once after forget()
    response = api.client.get("/api/v1/models", headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "Unauthenticated"


def test_forgetting_one_key_keeps_the_others_cached(api, authenticator, token) -> None:
    authenticator.authenticate(token)
    authenticator.authenticate(api.token)

    authenticator.forget(key_id_of(token))

    assert authenticator.cached(token) is None
    assert authenticator.cached(api.token) is not None


def test_a_key_revoked_before_its_first_use_is_refused(api, authenticator, token) -> None:
    revoke(api, token)
    with pytest.raises(Unauthenticated):
        authenticator.authenticate(token)
