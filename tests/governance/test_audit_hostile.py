"""RELIABILITY check 18: the audit ledger against a hostile database user.

The database refuses changes to the ledger; someone who rewrites the whole
chain and recomputes every hash without the key (held outside the database)
fails verification; someone who has the key is caught by the last anchor of
the chain head written outside the database."""

import io
import json
import uuid

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction

from governance.choices import AuditKind
from governance.hashing import GENESIS_HASH, event_hash, event_mac
from governance.models import AuditEvent
from governance.services.audit import (
    _body_of,
    audit_anchor_write,
    audit_append,
    audit_keyring,
    audit_verify,
)


@pytest.fixture
def ledger(db):
    return [audit_append(kind=AuditKind.RECONCILED, payload={"n": n}) for n in range(5)]


def _raw(sql, params=()):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _rewrite(link, *, key_id=""):
    """Rewrite every event (event #3's payload changed), recompute the chain
    with ``link(prev_hash, body)`` and move the head: what someone with write
    access to every table can do."""
    prev = GENESIS_HASH
    for event in AuditEvent.objects.order_by("sequence"):
        if event.sequence == 3:
            event.payload = {"n": 1000}
        body = _body_of(event)
        digest = link(prev, body)
        _raw(
            "UPDATE governance_auditevent SET payload = %s, prev_hash = %s, "
            "hash = %s, key_id = %s WHERE id = %s",
            [json.dumps(event.payload), prev, digest, key_id, event.pk],
        )
        prev = digest
    _raw("UPDATE governance_auditchainhead SET last_hash = %s WHERE id = 1", [prev])


@pytest.mark.postgres
def test_raw_update_delete_and_truncate_are_rejected_by_the_database(ledger):
    # given a database role with every write privilege on the ledger (the
    # application's own role is no superuser in production)
    role = f"mg_hostile_{uuid.uuid4().hex[:8]}"
    _raw(f"CREATE ROLE {role} NOLOGIN")
    _raw(f"GRANT SELECT, UPDATE, DELETE, TRUNCATE ON governance_auditevent TO {role}")
    _raw(f"SET ROLE {role}")
    try:
        for statement in (
            "UPDATE governance_auditevent SET actor = 'mallory'",
            "DELETE FROM governance_auditevent",
            "TRUNCATE governance_auditevent",
        ):
            # when it changes the ledger with raw SQL, then the database refuses
            with (
                pytest.raises(DatabaseError, match="append-only"),
                transaction.atomic(),
            ):
                _raw(statement)
    finally:
        _raw("RESET ROLE")
    assert AuditEvent.objects.count() == 5
    assert audit_verify().ok


def test_events_are_signed_with_the_current_key(ledger):
    _keys, current = audit_keyring()
    assert {e.key_id for e in AuditEvent.objects.all()} == {current}


def test_a_whole_chain_rewritten_with_plain_hashes_fails(ledger):
    _rewrite(event_hash)  # the unkeyed SHA-256 chain, recomputed end to end
    result = audit_verify()
    assert not result.ok
    assert result.bad_sequence == 1
    assert "not signed with a key" in result.problem


def test_a_whole_chain_rewritten_with_a_guessed_key_fails(ledger):
    _rewrite(
        lambda prev, body: event_mac(b"guess", "default", prev, body), key_id="default"
    )
    result = audit_verify()
    assert (result.ok, result.bad_sequence) == (False, 1)
    assert "does not match its hash" in result.problem


def test_keys_rotate_and_old_events_still_verify(settings, db):
    settings.GOVERNANCE = {**settings.GOVERNANCE, "AUDIT_KEYS": ["k1:first-secret"]}
    audit_append(kind=AuditKind.RECONCILED, payload={"n": 1})
    settings.GOVERNANCE = {
        **settings.GOVERNANCE,
        "AUDIT_KEYS": ["k1:first-secret", "k2:second-secret"],
    }
    audit_append(kind=AuditKind.RECONCILED, payload={"n": 2})
    assert list(AuditEvent.objects.values_list("key_id", flat=True)) == ["k1", "k2"]
    assert audit_verify().ok
    # a key dropped from the settings: its events no longer verify, named
    settings.GOVERNANCE = {**settings.GOVERNANCE, "AUDIT_KEYS": ["k2:second-secret"]}
    result = audit_verify()
    assert not result.ok and "'k1'" in result.problem


def test_unkeyed_events_before_the_boundary_verify(settings, ledger):
    _rewrite(event_hash)
    settings.GOVERNANCE = {**settings.GOVERNANCE, "AUDIT_UNKEYED_UNTIL": 5}
    assert audit_verify().ok  # an upgraded ledger's old events


def test_a_head_that_disagrees_with_the_last_anchor_is_named(tmp_path, ledger):
    # given the chain head anchored outside the database
    anchors = tmp_path / "anchors.jsonl"
    audit_anchor_write(path=anchors)
    call_command("audit_verify", "--anchor", str(anchors), stdout=io.StringIO())
    # when someone holding the key rewrites the chain (it verifies on its own)
    keys, current = audit_keyring()
    _rewrite(
        lambda prev, body: event_mac(keys[current], current, prev, body),
        key_id=current,
    )
    assert audit_verify().ok
    # then the anchor names the disagreement
    with pytest.raises(CommandError) as caught:
        call_command("audit_verify", "--anchor", str(anchors))
    message = str(caught.value)
    assert "event #5" in message
    assert "disagrees with the anchor" in message


def test_events_removed_after_the_anchor_are_named(tmp_path, ledger):
    anchors = tmp_path / "anchors.jsonl"
    audit_anchor_write(path=anchors)
    # the last two events removed and the head moved back (as a superuser)
    fourth = AuditEvent.objects.get(sequence=3)
    _raw("DELETE FROM governance_auditevent WHERE sequence > 3")
    _raw(
        "UPDATE governance_auditchainhead SET last_sequence = 3, last_hash = %s "
        "WHERE id = 1",
        [fourth.hash],
    )
    assert audit_verify().ok
    with pytest.raises(CommandError, match="no event #5: events were removed"):
        call_command("audit_verify", "--anchor", str(anchors))
