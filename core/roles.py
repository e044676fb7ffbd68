"""The roles of Modelgate's users: Django groups that every app checks (the
groups are created by the migration governance/migrations/0002_roles.py)."""

from django.db import models


class Role(models.TextChoices):
    """Django groups that carry Modelgate's roles (created by a migration)."""

    REQUESTER = "requesters", "Requesters (data scientists)"
    STAGING_APPROVER = "staging_approvers", "Staging approvers"
    PRODUCTION_APPROVER = "production_approvers", "Production approvers"
    VIEWER = "viewers", "Viewers"
    OPS = "ops", "Ops / on-call"
    API_CLIENT = "api_clients", "API clients"
