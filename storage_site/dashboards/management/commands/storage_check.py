"""Check that storage holds every blob: the object exists with the recorded size, and
a random sample re-hashes to the recorded SHA-256. Exits non-zero on any problem."""

import sys

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from files.models import Blob
from storage_site.dashboards import operations


class Command(BaseCommand):
    help = ("Every blob's object exists with the right size; --sample N of them (default 10) are read whole "
            "and re-hashed. Exit status 1 when anything is wrong.")

    def add_arguments(self, parser):
        parser.add_argument("--sample", type=int, default=10, help="How many objects to re-hash (0 = none).")

    def handle(self, *args, sample=10, verbosity=1, **options):
        if sample < 0:
            raise CommandError("--sample must not be negative.")
        with tqdm(total=Blob.objects.count(), unit="blob", file=sys.stderr,
                  disable=None if verbosity else True) as bar:
            report = operations.storage_check(sample=sample, progress=bar.update)
        for key in report.missing:
            self.stderr.write(f"  missing: {key}")
        for key, expected, found in report.wrong_size:
            self.stderr.write(f"  wrong size: {key} (expected {expected}, found {found})")
        for key, problem in report.unreadable:
            self.stderr.write(f"  unreadable: {key} ({problem})")
        for key in report.wrong_hash:
            self.stderr.write(f"  wrong content (SHA-256 differs): {key}")
        summary = (f"Checked {report.checked} blobs: {len(report.missing)} missing, {len(report.wrong_size)} "
                   f"wrong size, {len(report.unreadable)} unreadable; re-hashed {report.hashed}, "
                   f"{len(report.wrong_hash)} wrong.")
        if not report.ok:
            raise CommandError(summary)
        self.stdout.write(self.style.SUCCESS(summary))
