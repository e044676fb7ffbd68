import os
import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction
from rest_framework.authtoken.models import Token

from core.roles import Role

# username → (roles, is_superuser, what they do)
DEMO_USERS = {
    "admin": ([], True, "administrator (superuser)"),
    "alice": ([Role.REQUESTER], False, "data scientist: requests promotions"),
    "bob": ([Role.STAGING_APPROVER, Role.VIEWER], False, "staging approver"),
    "carol": ([Role.PRODUCTION_APPROVER, Role.VIEWER], False, "production approver"),
    "dave": ([Role.PRODUCTION_APPROVER, Role.VIEWER], False, "production approver"),
    "erin": ([Role.OPS, Role.VIEWER], False, "ops / on-call"),
    "victor": ([Role.VIEWER], False, "viewer (read-only)"),
    "demo-client": ([Role.API_CLIENT], False, "API client (token below)"),
}


class Command(BaseCommand):
    help = (
        "Create the demo users, one per role, with random passwords. Credentials "
        "are printed once and kept in <data dir>/demo-credentials.txt (mode 600)."
    )

    def handle(self, *args, **options):
        User = get_user_model()
        created: list[tuple[str, str, str, str | None]] = []
        with transaction.atomic():
            for username, (roles, superuser, role_text) in DEMO_USERS.items():
                if User.objects.filter(username=username).exists():
                    continue
                password = secrets.token_urlsafe(12)
                user = User.objects.create_user(
                    username=username,
                    email=f"{username}@example.com",
                    password=password,
                    is_staff=superuser or bool(roles and roles != [Role.API_CLIENT]),
                    is_superuser=superuser,
                )
                user.groups.set(Group.objects.filter(name__in=[r.value for r in roles]))
                token = None
                if Role.API_CLIENT in roles:
                    token = Token.objects.create(user=user).key
                created.append((username, password, role_text, token))
        if not created:
            self.stdout.write(
                "demo users exist already (credentials: "
                f"{self._file()}; reset one with `manage.py changepassword <user>`)"
            )
            return
        lines = ["Demo users (printed once; kept in this file, mode 600):", ""]
        for username, password, role_text, token in created:
            lines.append(f"  {username:<12} {password:<18} {role_text}")
            if token:
                lines.append(f"  {'':<12} API token: {token}")
        text = "\n".join(lines) + "\n"
        path = self._file()
        path.parent.mkdir(parents=True, exist_ok=True)
        # Every demo user new: a fresh database, and the file's older logins
        # are stale, so it is replaced. Some new: theirs are added below the
        # others, which still hold.
        fresh = len(created) == len(DEMO_USERS)
        flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if fresh else os.O_APPEND)
        with open(os.open(path, flags, 0o600), "w") as handle:
            handle.write(text)
        os.chmod(path, 0o600)  # a file made before with another mode
        self.stdout.write(self.style.SUCCESS(text))

    @staticmethod
    def _file() -> Path:
        return Path(settings.DATA_DIR) / "demo-credentials.txt"
