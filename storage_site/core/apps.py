from django.apps import AppConfig
from django.db.backends.signals import connection_created


def _upper(text):
    # Letter by letter, as PostgreSQL's upper() does ('ß' stays 'ß', where str.upper gives 'SS').
    if text is None:
        return None
    return "".join(ch if len(up := ch.upper()) != 1 else up for ch in str(text))


def _lower(text):
    if text is None:
        return None
    return "".join(ch if len(low := ch.lower()) != 1 else low for ch in str(text))


def sqlite_unicode_case(sender, connection, **kwargs):
    """SQLite's UPPER() and LOWER() change ASCII letters only, so a search for 'été' missed
    'ÉTÉ' there and found it on PostgreSQL: every SQLite connection gets Unicode ones."""
    if connection.vendor == "sqlite":
        connection.connection.create_function("UPPER", 1, _upper, deterministic=True)
        connection.connection.create_function("LOWER", 1, _lower, deterministic=True)


class CoreConfig(AppConfig):
    name = "storage_site.core"
    label = "core"
    verbose_name = "Stratus core"

    def ready(self):
        connection_created.connect(sqlite_unicode_case, dispatch_uid="stratus-sqlite-unicode-case")
