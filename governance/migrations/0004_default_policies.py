"""Default promotion policies (version 1 of each target) and the audit chain head."""

from django.db import migrations

MCC_GATE = {"metric": "mcc", "direction": "higher", "margin": 0.02}

POLICIES = [
    {
        "target": "staging",
        "approver_group": "staging_approvers",
        "approvals_required": 1,
        "required_checks": ["tests_passed", "metrics", "signature"],
        "metric_gates": [{**MCC_GATE, "threshold": 0.7}],
        "expiry_hours": 168,
        "note": "Default: one staging approver, never the requester.",
    },
    {
        "target": "production",
        "approver_group": "production_approvers",
        "approvals_required": 2,
        "required_checks": [
            "tests_passed",
            "metrics",
            "signature",
            "staging_time",
            "no_drift_alert",
        ],
        "metric_gates": [{**MCC_GATE, "threshold": 0.8}],
        "expiry_hours": 168,
        "note": "Default: two production approvers, never the requester.",
    },
    {
        "target": "rollback",
        "approver_group": "production_approvers",
        "approvals_required": 1,
        "required_checks": ["tests_passed", "signature"],
        "metric_gates": [],
        "expiry_hours": 24,
        "note": "Default: one production approver brings the previous version back.",
    },
]


def create_defaults(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Policy = apps.get_model("governance", "PromotionPolicy")
    Head = apps.get_model("governance", "AuditChainHead")
    for spec in POLICIES:
        spec = dict(spec)
        group, _ = Group.objects.get_or_create(name=spec.pop("approver_group"))
        if not Policy.objects.filter(target=spec["target"]).exists():
            Policy.objects.create(
                version=1, is_active=True, approver_group=group, **spec
            )
    Head.objects.get_or_create(id=1)


def remove_defaults(apps, schema_editor):
    apps.get_model("governance", "PromotionPolicy").objects.filter(
        version=1, created_by__isnull=True
    ).delete()


class Migration(migrations.Migration):
    dependencies = [("governance", "0003_workflow")]

    operations = [migrations.RunPython(create_defaults, remove_defaults)]
