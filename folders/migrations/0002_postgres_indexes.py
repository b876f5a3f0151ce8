"""PostgreSQL-only indexes: trigram search on names, prefix scans on paths.

`icontains` compiles to `UPPER(name) LIKE UPPER('%q%')`, which a GIN trigram index
on UPPER(name) serves; subtree queries are `path LIKE '/1/5/%'`, which needs the
pattern opclass under a non-C collation. Other databases skip this migration's SQL.
"""

from django.db import migrations

FORWARD = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX IF NOT EXISTS folders_node_name_trgm ON folders_node USING gin (UPPER(name) gin_trgm_ops)",
    "CREATE INDEX IF NOT EXISTS folders_node_path_prefix ON folders_node (owner_id, path text_pattern_ops)",
]
BACKWARD = [
    "DROP INDEX IF EXISTS folders_node_path_prefix",
    "DROP INDEX IF EXISTS folders_node_name_trgm",
]


def _run(statements):
    def apply(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for sql in statements:
            schema_editor.execute(sql)

    return apply


class Migration(migrations.Migration):
    dependencies = [("folders", "0001_initial")]

    operations = [migrations.RunPython(_run(FORWARD), _run(BACKWARD))]
