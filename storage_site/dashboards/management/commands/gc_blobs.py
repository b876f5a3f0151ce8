"""Garbage-collect storage: unreferenced blob rows with their objects, then orphaned
objects under blobs/ that no row names."""

import sys
from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Sum
from tqdm import tqdm

from files.models import Blob
from files.services import blobs
from storage_site.dashboards import operations

BATCH = 100


class Command(BaseCommand):
    help = ("Delete blobs no file version references (row and object), then objects under blobs/ with no "
            "Blob row, older than a grace period (uploads write objects before their row exists). "
            "Other prefixes (previews/, qr/, ...) are left to their apps.")

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Only list what would be deleted.")
        parser.add_argument("--grace-hours", type=float, default=None,
                            help=f"Leave unknown objects younger than this (default ORPHAN_GRACE_HOURS, "
                                 f"{settings.ORPHAN_GRACE_HOURS}).")
        parser.add_argument("--skip-orphans", action="store_true", help="Only collect unreferenced blob rows.")

    def handle(self, *args, dry_run=False, grace_hours=None, skip_orphans=False, verbosity=1, **options):
        if grace_hours is not None and grace_hours < 0:
            raise CommandError("--grace-hours must not be negative.")
        quiet = None if verbosity else True
        unreferenced = Blob.objects.filter(ref_count=0)
        count = unreferenced.count()
        size = unreferenced.aggregate(s=Sum("size"))["s"] or 0
        if dry_run:
            if verbosity > 1:
                for blob in unreferenced.order_by("pk")[:1000]:
                    self.stdout.write(f"  blob {blob.sha256[:16]}… {blob.storage_key} ({blob.size} bytes)")
            self.stdout.write(f"Would collect {count} unreferenced blobs ({size} bytes).")
        else:
            collected = 0
            with tqdm(total=count, unit="blob", file=sys.stderr, disable=quiet) as bar:
                while True:
                    done = blobs.blobs_collect(limit=BATCH)  # the periodic task's own service
                    collected += done
                    bar.update(done)
                    if done < BATCH:
                        break
            self.stdout.write(self.style.SUCCESS(f"Collected {collected} unreferenced blobs ({size} bytes)."))
        if skip_orphans:
            return
        grace = timedelta(hours=grace_hours) if grace_hours is not None else None
        with tqdm(unit="object", desc="listing blobs/", file=sys.stderr, disable=quiet) as bar:
            orphans = operations.orphans_collect(grace=grace, dry_run=dry_run, progress=bar.update)
        for orphan in orphans if verbosity > 1 else []:
            self.stdout.write(f"  orphan {orphan.key} ({orphan.size} bytes, modified {orphan.modified:%Y-%m-%d %H:%M})")
        total = sum(orphan.size or 0 for orphan in orphans)
        verb = "Would delete" if dry_run else "Deleted"
        self.stdout.write(f"{verb} {len(orphans)} orphaned objects ({total} bytes).")
        strays = operations.multipart_strays_collect(grace=grace, dry_run=dry_run)
        for stray in strays if verbosity > 1 else []:
            self.stdout.write(f"  multipart upload {stray.key} (started {stray.initiated:%Y-%m-%d %H:%M})")
        self.stdout.write(f"{'Would abort' if dry_run else 'Aborted'} {len(strays)} stray multipart uploads.")
