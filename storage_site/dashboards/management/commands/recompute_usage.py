"""Recount every user's storage usage from their file versions."""

import sys

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from accounts.models import User
from storage_site.dashboards import operations


class Command(BaseCommand):
    help = "Set storage_used to the bytes of each user's file versions (live, older versions, trash); lists fixes."

    def add_arguments(self, parser):
        parser.add_argument("--user", action="append", default=[], metavar="USERNAME|EMAIL|UUID",
                            help="Only these users (repeatable).")
        parser.add_argument("--dry-run", action="store_true", help="Only report counters that are wrong.")

    def handle(self, *args, user=(), dry_run=False, verbosity=1, **options):
        user_ids = [self._find(ref) for ref in user] if user else None
        total = len(user_ids) if user_ids is not None else User.objects.count()
        with tqdm(total=total, unit="user", file=sys.stderr, disable=None if verbosity else True) as bar:
            fixes = operations.usage_recompute(user_ids=user_ids, dry_run=dry_run, progress=bar.update)
        for fix in fixes:
            self.stdout.write(f"  {fix.username}: recorded {fix.recorded}, actual {fix.actual} ({fix.delta:+d})")
        verb = "would be corrected" if dry_run else "corrected"
        self.stdout.write(self.style.SUCCESS(f"Checked {total} users; {len(fixes)} {verb}."))

    def _find(self, ref: str) -> int:
        query = User.objects.filter(username=ref) | User.objects.filter(email=ref.lower())
        try:
            import uuid

            query = query | User.objects.filter(uuid=uuid.UUID(ref))
        except ValueError:
            pass
        found = list(query.values_list("pk", flat=True)[:2])
        if len(found) != 1:
            raise CommandError(f"No single user matches {ref!r}.")
        return found[0]
