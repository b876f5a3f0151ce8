from django.core.management.base import BaseCommand, CommandError

from billing import services
from storage_site.core.exceptions import ApplicationError


class Command(BaseCommand):
    help = ("Mark an offline order paid and activate its plan (servers without Razorpay keys). Prints the payment "
            "id and the signature the client may send to /api/verify-payment. Running it again changes nothing.")

    def add_arguments(self, parser):
        parser.add_argument("order_id", help="The order_id that /api/create-order answered, e.g. order_1a2b3c...")

    def handle(self, *args, order_id, **options):
        try:
            payment, payment_id, signature, activated = services.payment_mark_paid_offline(order_id=order_id)
        except ApplicationError as exc:
            raise CommandError(exc.message) from None
        state = "paid; plan activated" if activated else f"already {payment.status}; nothing changed"
        self.stdout.write(f"{order_id}: {state} ({payment.plan.code} for {payment.user})\n"
                          f"razorpay_payment_id={payment_id}\nrazorpay_signature={signature}")
