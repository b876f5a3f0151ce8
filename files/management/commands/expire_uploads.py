"""End upload sessions whose time ran out, as the hourly task does."""

import sys

from django.core.management.base import BaseCommand
from django.db.models import Sum
from django.utils import timezone
from tqdm import tqdm

from files.models import UploadSession, UploadStatus
from files import uploads

BATCH = 100


class Command(BaseCommand):
    help = "Expire chunked uploads past their expiry: parts deleted, multipart uploads aborted, quota released."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Only list what would expire.")

    def handle(self, *args, dry_run=False, verbosity=1, **options):
        stale = UploadSession.objects.filter(status=UploadStatus.UPLOADING, expires_at__lte=timezone.now())
        count = stale.count()
        reserved = stale.aggregate(s=Sum("reserved"))["s"] or 0
        if dry_run:
            if verbosity > 1:
                for session in stale.select_related("owner").order_by("expires_at")[:1000]:
                    self.stdout.write(f"  {session.uuid} {session.owner} {session.name!r} "
                                      f"expired {session.expires_at:%Y-%m-%d %H:%M}")
            self.stdout.write(f"Would expire {count} upload sessions, releasing {reserved} reserved bytes.")
            return
        expired = 0
        with tqdm(total=count, unit="upload", file=sys.stderr, disable=None if verbosity else True) as bar:
            while True:
                done = uploads.sessions_expire(limit=BATCH)  # the periodic task's own service
                expired += done
                bar.update(done)
                if done < BATCH:
                    break
        self.stdout.write(self.style.SUCCESS(f"Expired {expired} upload sessions, released {reserved} bytes."))
