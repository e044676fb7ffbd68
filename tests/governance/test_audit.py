"""RELIABILITY check 15: the audit ledger is append-only and tamper-evident."""

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.urls import reverse

from governance.choices import AuditKind
from governance.management.commands.audit_verify import Command as VerifyCommand
from governance.models import AuditEvent
from governance.models.audit import AuditLedgerIsAppendOnly
from governance.services.audit import audit_append, audit_verify


@pytest.fixture
def ledger(db):
    """Five events in the chain."""
    return [
        audit_append(kind=AuditKind.RECONCILED, payload={"n": n, "ratio": n / 3})
        for n in range(5)
    ]


def _raw(sql, params):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def test_a_clean_chain_verifies(ledger):
    result = audit_verify()
    assert result.ok and result.checked == 5
    out = io.StringIO()
    call_command("audit_verify", stdout=out)
    assert "5 events, no problem" in out.getvalue()


def test_a_row_edited_in_the_database_is_found_and_named(ledger):
    victim = ledger[2]
    _raw(
        "UPDATE governance_auditevent SET actor = %s WHERE id = %s",
        ["mallory", victim.pk],
    )
    with pytest.raises(CommandError) as caught:
        call_command("audit_verify")
    message = str(caught.value)
    assert f"event #{victim.sequence} (row id {victim.pk})" in message
    assert "was changed" in message
    # and the command exits non-zero from the command line
    with pytest.raises(SystemExit) as exited:
        VerifyCommand().run_from_argv(["manage.py", "audit_verify"])
    assert exited.value.code == 1


def test_an_edited_payload_is_found(ledger):
    _raw(
        "UPDATE governance_auditevent SET payload = %s WHERE id = %s",
        [json.dumps({"n": 99, "ratio": 33.0}), ledger[1].pk],
    )
    result = audit_verify()
    assert (result.ok, result.bad_sequence) == (False, ledger[1].sequence)


def test_a_deleted_row_is_found(ledger):
    _raw("DELETE FROM governance_auditevent WHERE id = %s", [ledger[1].pk])
    result = audit_verify()
    assert not result.ok
    assert result.bad_sequence == ledger[2].sequence
    assert "missing" in result.problem


def test_deleting_the_last_rows_is_found_by_the_chain_head(ledger):
    _raw("DELETE FROM governance_auditevent WHERE id = %s", [ledger[-1].pk])
    result = audit_verify()
    assert not result.ok
    assert "chain head" in result.problem


def test_a_recomputed_row_still_breaks_the_next_link(ledger):
    """Rewriting a row and its own hash (even with the key) is caught by the
    next row's link."""
    from governance.hashing import event_mac
    from governance.services.audit import _body_of, audit_keyring

    victim = AuditEvent.objects.get(pk=ledger[2].pk)
    victim.payload = {"n": 1000}
    keys, key_id = audit_keyring()
    new_hash = event_mac(keys[key_id], key_id, victim.prev_hash, _body_of(victim))
    _raw(
        "UPDATE governance_auditevent SET payload = %s, hash = %s WHERE id = %s",
        [json.dumps({"n": 1000}), new_hash, victim.pk],
    )
    result = audit_verify()
    assert (result.ok, result.bad_sequence) == (False, ledger[3].sequence)
    assert "link" in result.problem


def test_the_app_cannot_change_or_delete_events(ledger):
    event = AuditEvent.objects.get(pk=ledger[0].pk)
    event.actor = "someone else"
    with pytest.raises(AuditLedgerIsAppendOnly):
        event.save()
    with pytest.raises(AuditLedgerIsAppendOnly):
        event.delete()
    with pytest.raises(AuditLedgerIsAppendOnly):
        AuditEvent.objects.filter(pk=event.pk).update(actor="x")
    with pytest.raises(AuditLedgerIsAppendOnly):
        AuditEvent.objects.all().delete()
    assert audit_verify().ok


def test_the_admin_offers_no_add_change_or_delete(client, people, ledger):
    client.force_login(people.admin)  # even a superuser
    event = ledger[0]
    change_url = reverse("admin:governance_auditevent_change", args=[event.pk])
    page = client.get(change_url)
    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="_save"' not in html and "deletelink" not in html
    assert client.post(change_url, {"actor": "x"}).status_code == 403
    delete_url = reverse("admin:governance_auditevent_delete", args=[event.pk])
    assert client.post(delete_url, {"post": "yes"}).status_code == 403
    assert client.get(reverse("admin:governance_auditevent_add")).status_code == 403
    changelist = client.post(
        reverse("admin:governance_auditevent_changelist"),
        {"action": "delete_selected", "_selected_action": [event.pk]},
    )
    assert changelist.status_code in (200, 302)
    assert AuditEvent.objects.count() == 5
    assert audit_verify().ok


def test_the_api_is_read_only(client, people, ledger):
    client.force_login(people.admin)
    url = reverse("governance:api-audit")
    listing = client.get(url)
    assert listing.status_code == 200
    assert listing.json()["count"] == 5
    for method in ("post", "put", "patch", "delete"):
        response = getattr(client, method)(url, {}, content_type="application/json")
        assert response.status_code == 405, method
    assert AuditEvent.objects.count() == 5


def test_export_writes_jsonl_that_verifies_on_its_own(ledger, tmp_path):
    path = tmp_path / "audit.jsonl"
    call_command("audit_export", output=str(path))
    lines = path.read_text().splitlines()
    assert len(lines) == 5
    first = json.loads(lines[0])
    assert set(first) >= {"sequence", "created_at", "kind", "actor", "payload", "hash"}
    out = io.StringIO()
    call_command("audit_verify", file=str(path), stdout=out)
    assert "no problem" in out.getvalue()
    # a line edited in the file is caught too
    tampered = lines[:]
    row = json.loads(tampered[3])
    row["actor"] = "mallory"
    tampered[3] = json.dumps(row)
    path.write_text("\n".join(tampered) + "\n")
    with pytest.raises(CommandError, match="#4"):
        call_command("audit_verify", file=str(path))
