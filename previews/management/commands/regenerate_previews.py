"""Make previews again: of one user's files, of one kind of media, or of everything."""

import sys

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db.models import F, Q
from tqdm import tqdm

from files.models import Blob, FileVersion
from previews import services
from previews.models import MediaKind, Preview, PreviewStatus

KINDS = [MediaKind.IMAGE, MediaKind.VIDEO, MediaKind.AUDIO, MediaKind.DOCUMENT]
BATCH = 100


class Command(BaseCommand):
    help = ("Queue the previews of files again: --user (username, e-mail or phone), --kind "
            "(image, video, audio, document), --status (only previews in that state, e.g. failed), "
            "or --all. Filters combine. --dry-run only counts.")

    def add_arguments(self, parser):
        parser.add_argument("--user", help="Only this user's files (username, e-mail or phone).")
        parser.add_argument("--kind", choices=KINDS, help="Only this kind of media.")
        parser.add_argument("--status", choices=PreviewStatus.values,
                            help="Only contents whose previews are in this state.")
        parser.add_argument("--all", action="store_true", help="Every stored content (needed without a filter).")
        parser.add_argument("--dry-run", action="store_true", help="Count what would be queued; change nothing.")

    def handle(self, *args, user=None, kind=None, status=None, all=False, dry_run=False, **options):
        if not (user or kind or status or all):
            raise CommandError("Say what to regenerate: --user, --kind, --status, or --all.")
        blob_ids = self._select(user=user, kind=kind, status=status)
        total = len(blob_ids)
        if dry_run:
            self.stdout.write(f"Would queue the previews of {total} content(s) (dry run: nothing changed).")
            return
        queued = 0
        # tqdm redraws with \r: give it the raw stream, not Django's line-ending wrapper.
        with tqdm(total=total, unit="file", desc="previews", disable=not total,
                  file=getattr(self.stderr, "_out", sys.stderr)) as progress:
            for start in range(0, total, BATCH):
                chunk = blob_ids[start:start + BATCH]
                queued += services.previews_regenerate(blob_ids=chunk)
                progress.update(len(chunk))
        self.stdout.write(self.style.SUCCESS(f"Queued the previews of {queued} of {total} content(s)."))

    def _select(self, *, user, kind, status) -> list[int]:
        versions = FileVersion.objects.filter(node__trashed_at__isnull=True, number=F("node__version"))
        if user:
            found = get_user_model().objects.filter(Q(username=user) | Q(email__iexact=user) | Q(phone=user)).first()
            if found is None:
                raise CommandError(f"No user '{user}'.")
            versions = versions.filter(node__owner=found)
        blobs = Blob.objects.filter(ref_count__gt=0)
        if user:
            blobs = blobs.filter(pk__in=versions.values("blob_id"))
        if kind:
            # What was made before, or (never made) what the files say they are.
            declared = versions.filter(Q(mime_type="application/pdf") if kind == MediaKind.DOCUMENT
                                       else Q(mime_type__startswith=f"{kind}/"))
            blobs = blobs.filter(Q(previews__media_kind=kind) | Q(pk__in=declared.values("blob_id")))
        if status:
            blobs = blobs.filter(pk__in=Preview.objects.filter(status=status).values("blob_id"))
        return sorted(set(blobs.values_list("pk", flat=True)))
