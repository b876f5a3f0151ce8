"""Indexes for the file list and search (issue 3's speed targets).

- `folders_node_children` replaces `folders_node_listing`: a folder's live entries in
  (kind, name, id) order with the owner, so a page of a 10,000-file folder and its count
  are index-only scans instead of a sort of every row.
- `folders_node_owner_name`: an owner's live entries in name order; a search for a common
  term walks it and stops at the page's last match.
- On PostgreSQL, statistics that tell the planner a folder's entries share one owner, and
  the trigram index moves from UPPER(name) to the name with ASCII spaces and
  punctuation turned into one letter (files.selectors.NameKey builds the same expression).
  pg_trgm splits words at those characters, so `tokyo_par` gave only the trigrams of
  `tokyo` and of a word starting `par`: tens of thousands of rows to recheck for a few
  hundred matches. As one word it keeps the trigrams across the `_` and finds little
  more than the matches. The exact test (the name contains the term, any case) still
  decides what matches.
"""

from django.db import migrations, models

# Frozen copies of files.selectors.NAME_KEY_SEPARATORS and NAME_KEY_PLACEHOLDER.
SEPARATORS = " !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
PLACEHOLDER = "Q"


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


NAME_KEY = f"translate(upper(name), {_literal(SEPARATORS)}, {_literal(PLACEHOLDER * len(SEPARATORS))})"
FORWARD = [
    "DROP INDEX IF EXISTS folders_node_name_trgm",
    f"CREATE INDEX IF NOT EXISTS folders_node_name_key_trgm ON folders_node USING gin ({NAME_KEY} gin_trgm_ops)",
    # A folder's entries are all its owner's: without this the planner multiplies the two
    # filters' selectivities, expects a hundred rows of a 10,000-file folder and sorts them
    # all rather than walk folders_node_children.
    "CREATE STATISTICS IF NOT EXISTS folders_node_parent_owner (dependencies) ON parent_id, owner_id FROM folders_node",
]
BACKWARD = [
    "DROP STATISTICS IF EXISTS folders_node_parent_owner",
    "DROP INDEX IF EXISTS folders_node_name_key_trgm",
    "CREATE INDEX IF NOT EXISTS folders_node_name_trgm ON folders_node USING gin (UPPER(name) gin_trgm_ops)",
]


def _run(statements):
    def apply(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for sql in statements:
            schema_editor.execute(sql.replace("%", "%%"))  # a literal %, not a parameter

    return apply


class Migration(migrations.Migration):
    dependencies = [("folders", "0005_change_seq")]

    operations = [
        migrations.RemoveIndex(model_name="node", name="folders_node_listing"),
        migrations.AddIndex(
            model_name="node",
            index=models.Index(condition=models.Q(trashed_at__isnull=True),
                               fields=["parent", "kind", "name", "id", "owner"], name="folders_node_children"),
        ),
        migrations.AddIndex(
            model_name="node",
            index=models.Index(condition=models.Q(trashed_at__isnull=True, parent__isnull=False),
                               fields=["owner", "name", "id", "kind", "category"], name="folders_node_owner_name"),
        ),
        migrations.RunPython(_run(FORWARD), _run(BACKWARD)),
    ]
