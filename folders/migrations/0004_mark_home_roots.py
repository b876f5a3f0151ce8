from django.db import migrations


def mark_homes(apps, schema_editor):
    Node = apps.get_model("folders", "Node")
    Node.objects.filter(parent__isnull=True, special="").update(special="home")


class Migration(migrations.Migration):
    dependencies = [("folders", "0003_remove_node_folders_node_one_home_per_owner_and_more")]

    operations = [migrations.RunPython(mark_homes, migrations.RunPython.noop)]
