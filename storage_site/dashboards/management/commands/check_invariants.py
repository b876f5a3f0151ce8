"""Sweep the storage invariants (storage_site/testing/invariants.py): bytes stored and
readable, usage and reservations exact, no orphaned objects, reference counts right.
Exits non-zero when any is broken. Run it when no upload is in flight."""

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q

from accounts.models import User
from storage_site.testing import invariants


class Command(BaseCommand):
    help = ("Check the storage invariants: every blob's object exists with its size (and re-hashes), every "
            "file entry matches its current version, each user's usage equals live + versions + trash and "
            "their reservation what their open uploads hold, within the quota; no object under blobs/ without "
            "a row; blob reference counts equal the versions naming them. Exit status 1 when any is broken.")

    def add_arguments(self, parser):
        parser.add_argument("--user", action="append", default=[], metavar="USERNAME_OR_EMAIL",
                            help="Limit the per-user checks to these users (repeatable; default everyone).")
        parser.add_argument("--files-ok", metavar="PATH",
                            help="A JSON list of {\"user\": username or email, \"id\": file UUID, \"sha256\": ...}: "
                                 "files a client got a 2xx for; each must download with that SHA-256.")
        parser.add_argument("--rehash", type=int, default=50,
                            help="How many blobs to read whole and re-hash (default 50; -1 = all).")
        parser.add_argument("--reconcile", action="store_true",
                            help="First release quota holds whose lease ran out, collect unreferenced blobs and "
                                 "delete orphaned objects of any age.")
        parser.add_argument("--json", dest="as_json", action="store_true",
                            help="End with one JSON line: {ok, failures}.")

    def handle(self, *args, user=(), files_ok=None, rehash=50, reconcile=False, as_json=False, **options):
        users = [self._user(name) for name in user] if user else None
        expected = []
        if files_ok:
            for item in json.loads(Path(files_ok).read_text()):
                expected.append((self._user(item["user"]), item["id"], item["sha256"]))
        failures = invariants.storage_invariants_check(files_ok=expected, users=users, reconcile=reconcile,
                                                       rehash=None if rehash < 0 else rehash)
        for line in failures:
            self.stderr.write(f"  {line}")
        if as_json:
            self.stdout.write(json.dumps({"ok": not failures, "failures": failures}))
        if failures:
            raise CommandError(f"{len(failures)} storage invariants broken.")
        if not as_json:
            self.stdout.write(self.style.SUCCESS(f"Storage invariants hold ({len(expected)} downloads checked)."))

    def _user(self, name: str) -> User:
        found = User.objects.filter(Q(username=name) | Q(email=name)).first()
        if found is None:
            raise CommandError(f"No user {name!r}.")
        return found

