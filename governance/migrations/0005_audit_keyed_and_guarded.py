"""The audit ledger's key id per event, and a PostgreSQL trigger that refuses
UPDATE, DELETE and TRUNCATE of the ledger.

The trigger lets a superuser through: a superuser can drop any trigger anyway,
and the test runner's flush truncates every table as one. Every other role,
the table's owner included, gets an error from the database itself.
"""

from django.db import migrations, models

GUARD = """
CREATE OR REPLACE FUNCTION governance_audit_append_only() RETURNS trigger AS $$
BEGIN
    IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
    END IF;
    RAISE EXCEPTION 'the audit ledger is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER governance_audit_no_change
    BEFORE UPDATE OR DELETE ON governance_auditevent
    FOR EACH ROW EXECUTE FUNCTION governance_audit_append_only();
CREATE TRIGGER governance_audit_no_truncate
    BEFORE TRUNCATE ON governance_auditevent
    FOR EACH STATEMENT EXECUTE FUNCTION governance_audit_append_only();
"""

UNGUARD = """
DROP TRIGGER IF EXISTS governance_audit_no_change ON governance_auditevent;
DROP TRIGGER IF EXISTS governance_audit_no_truncate ON governance_auditevent;
DROP FUNCTION IF EXISTS governance_audit_append_only();
"""


def guard(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(GUARD, params=None)


def unguard(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(UNGUARD, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("governance", "0004_default_policies"),
    ]

    operations = [
        migrations.AddField(
            model_name="auditevent",
            name="key_id",
            field=models.CharField(
                blank=True,
                default="",
                help_text="Id of the key (held outside the database) whose HMAC is this event's hash; empty for events written before the chain was keyed.",
                max_length=32,
            ),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="hash",
            field=models.CharField(
                help_text="HMAC (or, unkeyed, SHA-256) of prev_hash and the event's JSON.",
                max_length=64,
                unique=True,
            ),
        ),
        migrations.RunPython(guard, unguard),
    ]
