from datetime import UTC, datetime, timedelta

import pytest

from chargewatch.services import api_keys, auth


def test_generated_keys_carry_env_and_a_valid_checksum():
    key = api_keys.generate_key("test")
    assert key.startswith("cw_test_")
    assert api_keys.is_well_formed(key)
    assert api_keys.generate_key("test") != key


@pytest.mark.parametrize("position", [8, 20, -1])
def test_a_single_changed_character_breaks_the_checksum(position):
    key = api_keys.generate_key("live")
    replacement = "A" if key[position] != "A" else "B"
    tampered = key[:position] + replacement + key[position + 1 :] if position != -1 else key[:-1] + replacement
    assert not api_keys.is_well_formed(tampered)


@pytest.mark.parametrize("garbage", ["", "cw_test_", "sk_live_abc", "cw_test_" + "a" * 37, "cw_TEST_" + "a" * 38])
def test_malformed_keys_are_rejected(garbage):
    assert not api_keys.is_well_formed(garbage)


def test_only_the_hash_is_stored(stack):
    key, item = api_keys.issue_key("org-1", env="test", name="ci")
    assert item.keyHash == api_keys.hash_key(key)
    assert key not in str(item.attribute_values.values())
    assert item.prefix == key[:12]


def _headers(key, **extra):
    return {"Authorization": f"Bearer {key}", **extra}


def test_authorize_verdicts(stack):
    key, item = api_keys.issue_key("org-1", env="test", name="ci")
    ok = auth.authorize(_headers(key))
    assert ok.authorized and ok.organization_id == "org-1" and ok.key_id == item.keyId
    assert ok.to_context()["organizationId"] == "org-1"

    assert auth.authorize({}).error_code == "missing_credentials"
    assert auth.authorize({"authorization": f"Basic {key}"}).error_code == "invalid_credentials"
    assert auth.authorize(_headers("cw_test_nonsense")).error_code == "invalid_api_key"
    unknown = api_keys.generate_key("test")
    denied = auth.authorize(_headers(unknown))
    assert not denied.authorized and denied.status == 401 and denied.error_code == "invalid_api_key"

    mismatch = auth.authorize(_headers(key, **{"X-Organization-Id": "org-2"}))
    assert mismatch.status == 403 and mismatch.error_code == "organization_mismatch"
    same = auth.authorize(_headers(key, **{"x-organization-id": "org-1"}))
    assert same.authorized


def test_revoked_and_expired_keys_are_denied(stack):
    key, item = api_keys.issue_key("org-1", env="test", name="ci")
    item.update(actions=[type(item).revokedAt.set("2026-01-01T00:00:00Z")])
    auth.clear_cache()
    assert auth.authorize(_headers(key)).error_code == "api_key_revoked"

    soon = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
    key2, _ = api_keys.issue_key("org-1", env="test", name="ci", expires_at=soon)
    assert auth.authorize(_headers(key2)).authorized
    later = datetime.now(UTC) + timedelta(minutes=10)
    assert auth.authorize(_headers(key2), now=later).error_code == "api_key_expired"


def test_chosen_key_must_be_well_formed(stack):
    with pytest.raises(ValueError):
        api_keys.issue_key("org-1", env="test", name="demo", key="cw_test_short")
    chosen = api_keys.generate_key("test")
    key, _ = api_keys.issue_key("org-1", env="test", name="demo", key=chosen)
    assert key == chosen and auth.authorize(_headers(chosen)).authorized
