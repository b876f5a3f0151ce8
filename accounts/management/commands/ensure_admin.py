import os

from django.core.management.base import BaseCommand

from accounts import services


class Command(BaseCommand):
    help = ("Make sure an admin account exists (username `admin`). Reads ADMIN_EMAIL, ADMIN_PASSWORD and "
            "ADMIN_PHONE; without ADMIN_PASSWORD a password is generated and printed once. "
            "Running it again changes nothing.")

    def handle(self, *args, **options):
        admin, created, generated = services.admin_ensure(
            email=os.environ.get("ADMIN_EMAIL") or None,
            password=os.environ.get("ADMIN_PASSWORD") or None,
            phone=os.environ.get("ADMIN_PHONE") or None,
        )
        if not created:
            self.stdout.write("Admin account 'admin' already exists; nothing changed.")
        elif generated:
            self.stdout.write(self.style.WARNING(
                f"Created admin account 'admin' with password: {generated}\n"
                "It is shown this once; change it in /admin/."))
        else:
            self.stdout.write(self.style.SUCCESS("Created admin account 'admin' with the password from ADMIN_PASSWORD."))
