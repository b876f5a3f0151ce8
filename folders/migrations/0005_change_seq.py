"""The journal gets a per-owner position (`seq`) for sync cursors, and the content
checksum of each change. Existing rows are numbered per owner in id order."""

from django.db import migrations, models
from django.db.models import OuterRef, Subquery, Value
from django.db.models.functions import Coalesce


def number_rows(apps, schema_editor):
    Change = apps.get_model("folders", "Change")
    table = Change._meta.db_table
    with schema_editor.connection.cursor() as cursor:
        # One statement on PostgreSQL and SQLite (>= 3.33): UPDATE ... FROM with a window.
        cursor.execute(
            f"UPDATE {table} SET seq = numbered.n FROM "
            f"(SELECT id, ROW_NUMBER() OVER (PARTITION BY owner_id ORDER BY id) AS n FROM {table}) AS numbered "
            f"WHERE {table}.id = numbered.id")
    Node = apps.get_model("folders", "Node")
    # The checksum of rows whose version is still the node's current one; older ones stay unknown.
    Change.objects.filter(kind="file").update(sha256=Coalesce(Subquery(
        Node.objects.filter(uuid=OuterRef("node_uuid"), version=OuterRef("version")).values("sha256")[:1]),
        Value("")))


class Migration(migrations.Migration):
    dependencies = [("folders", "0004_mark_home_roots")]

    operations = [
        migrations.AddField(model_name="change", name="seq", field=models.BigIntegerField(null=True)),
        migrations.AddField(model_name="change", name="sha256", field=models.CharField(blank=True, max_length=64,
                                                                                        default="")),
        migrations.RunPython(number_rows, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="change", name="seq",
            field=models.BigIntegerField(help_text="Position in the owner's journal: 1, 2, 3, ... without gaps.")),
        migrations.AlterField(model_name="change", name="sha256", field=models.CharField(blank=True, max_length=64)),
        migrations.RemoveIndex(model_name="change", name="folders_change_owner_cursor"),
        migrations.AddConstraint(
            model_name="change",
            constraint=models.UniqueConstraint(fields=("owner", "seq"), name="folders_change_owner_seq")),
    ]
