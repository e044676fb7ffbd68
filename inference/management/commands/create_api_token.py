from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from rest_framework.authtoken.models import Token

from core.roles import Role


class Command(BaseCommand):
    help = (
        "Print the API token of a user (created if absent). --create makes the "
        "user, --role api_clients adds the role, --rotate replaces the token."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--create", action="store_true", help="create the user")
        parser.add_argument(
            "--role",
            action="append",
            default=[],
            choices=[r.value for r in Role],
            help="add the user to this role's group (repeatable)",
        )
        parser.add_argument("--rotate", action="store_true", help="issue a new token")

    def handle(self, *args, username, create, role, rotate, **options):
        User = get_user_model()
        user = User.objects.filter(username=username).first()
        if user is None:
            if not create:
                raise CommandError(f"no user {username!r} (use --create)")
            user = User.objects.create_user(username=username)
            user.set_unusable_password()
            user.save(update_fields=["password"])
        if role:
            user.groups.add(*Group.objects.filter(name__in=role))
        if rotate:
            Token.objects.filter(user=user).delete()
        token, _ = Token.objects.get_or_create(user=user)
        self.stdout.write(token.key)
