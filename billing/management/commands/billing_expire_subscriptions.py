from django.core.management.base import BaseCommand

from billing import services


class Command(BaseCommand):
    help = "Expire subscriptions whose period (and grace days) ended; their users move to Free. Beat runs it hourly."

    def handle(self, *args, **options):
        self.stdout.write(f"{services.subscriptions_expire()} subscription(s) changed.")
