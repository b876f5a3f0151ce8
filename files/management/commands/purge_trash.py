"""Purge trash entries older than TRASH_RETENTION_DAYS, as the hourly task does."""

import sys
from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db.models import Sum
from django.utils import timezone
from tqdm import tqdm

from files.models import FileVersion
from files.services import nodes
from folders.models import Node

STEPS = 50


class Command(BaseCommand):
    help = "Delete for good what has been in the trash longer than TRASH_RETENTION_DAYS (frees quota and bytes)."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Only say what would be purged.")

    def handle(self, *args, dry_run=False, verbosity=1, **options):
        now = timezone.now()
        retention = timedelta(days=settings.TRASH_RETENTION_DAYS)
        cutoff = now - retention
        expired = Node.objects.filter(trash_origin=True, trashed_at__lt=cutoff)
        count = expired.count()
        size = FileVersion.objects.filter(node__trashed_at__lt=cutoff).aggregate(s=Sum("size"))["s"] or 0
        if dry_run:
            for node in expired.select_related("owner").order_by("trashed_at")[:1000] if verbosity > 1 else []:
                self.stdout.write(f"  {node.owner} {node.kind} {node.name!r} trashed {node.trashed_at:%Y-%m-%d}")
            self.stdout.write(f"Would purge {count} trash entries ({size} bytes), trashed before "
                              f"{cutoff:%Y-%m-%d %H:%M} UTC.")
            return
        if not count:
            self.stdout.write("Nothing to purge.")
            return
        # The periodic task's own service, run over time slices from the oldest entry
        # on, so the bar moves as entries go (each call purges what was trashed before
        # its slice's end).
        oldest = expired.order_by("trashed_at").values_list("trashed_at", flat=True).first()
        span = cutoff - oldest
        freed = 0
        with tqdm(total=count, unit="entry", file=sys.stderr, disable=None if verbosity else True) as bar:
            for step in range(1, STEPS + 1):
                slice_end = oldest + span * step / STEPS if step < STEPS else cutoff
                while True:
                    left = Node.objects.filter(trash_origin=True, trashed_at__lt=slice_end).count()
                    if not left:
                        break
                    freed += nodes.trash_purge_expired(now=slice_end + retention)
                    done = left - Node.objects.filter(trash_origin=True, trashed_at__lt=slice_end).count()
                    bar.update(done)
                    if not done:  # nothing could be purged: do not spin
                        break
        self.stdout.write(self.style.SUCCESS(f"Purged {count} trash entries, freed {freed} bytes."))
