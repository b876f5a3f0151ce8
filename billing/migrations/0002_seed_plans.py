from django.conf import settings
from django.db import migrations

GiB = 1024**3


def seed(apps, schema_editor):
    Plan = apps.get_model("billing", "Plan")
    plans = [
        # Free matches what accounts gives a new user (DEFAULT_STORAGE_QUOTA, 3 devices).
        dict(code="free", name="Free", description="To get started.", storage_quota=settings.DEFAULT_STORAGE_QUOTA,
             device_limit=3, price=0, sort_order=0),
        dict(code="pro", name="Pro", description="100 GiB for you and your phones.", storage_quota=100 * GiB,
             device_limit=10, price=29_900, sort_order=10),
        dict(code="enterprise", name="Enterprise", description="1 TiB, any number of devices.",
             storage_quota=1024 * GiB, device_limit=None, price=149_900, sort_order=20),
    ]
    for fields in plans:
        code = fields.pop("code")
        Plan.objects.get_or_create(code=code, defaults={**fields, "currency": "INR", "interval": "monthly"})


class Migration(migrations.Migration):
    dependencies = [("billing", "0001_initial")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
