"""Django-side steps of the benchmark, run as a subprocess with the server's environment.

    .venv/bin/python bench/django_tasks.py <command> '<json arguments>'

Every command prints one JSON object on its last stdout line. The benchmark driver
(bench/run/) never imports Django itself, so the server under test and the data
set-up share exactly one configuration: the environment the driver builds.

Commands
  users            create the bench users (quota 1 TiB), sign each in, print tokens
  seed-listing     one folder with N file rows sharing one blob (bulk_create + 1 UPDATE a folder), maybe in subfolders
  seed-search      N file rows for the search user, through PostgreSQL COPY
  query-counts     SQL queries of GET /api/files/list at several page sizes (test client)
  explain          EXPLAIN (ANALYZE, BUFFERS) of the SQL one search request runs
  load-users       N users with a password, for the load run's sign-ins
  web-session      a browser session of the web drive for a bench user (its cookie)
  web-query-counts SQL queries of a drive folder page (first and last page, each order)
"""

import hashlib
import io
import json
import os
import random
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "storage_site.settings")

import django  # noqa: E402

django.setup()

from django.db import connection, transaction  # noqa: E402
from django.db.models import CharField, F, JSONField, Value  # noqa: E402
from django.db.models.functions import Cast, Concat  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from accounts.models import User  # noqa: E402
from accounts.services import _sign_in  # noqa: E402
from files.models import Blob, FileVersion  # noqa: E402
from folders import services as tree  # noqa: E402
from folders.models import Category, Node, NodeKind  # noqa: E402

TIB = 1024**4

from bench.words import WORDS  # noqa: E402  (shared with bench/run: search terms are fragments of these)


def _out(obj) -> None:
    print(json.dumps(obj, default=str), flush=True)


def cmd_users(args):
    """Users with a large quota, each signed in as the web client (accounts.services._sign_in)."""
    result = {}
    for username in args["usernames"]:
        user = User.objects.create_user(username, email=f"{username}@bench.invalid", storage_quota=TIB)
        home = tree.home_get(user=user)
        sign_in = _sign_in(user, client="web", ip_address="127.0.0.1", user_agent="bench")
        result[username] = {"id": user.pk, "uuid": str(user.uuid), "home": str(home.uuid),
                            "token": sign_in.access}
    _out(result)


def cmd_seed_listing(args):
    """A folder (`name`, default bench-listing) holding `files` file rows, every one a
    version-1 file of one shared blob; with `folders`, spread over that many subfolders."""
    user = User.objects.get(username=args["username"])
    n, content = args["files"], args["content"].encode()
    sha = hashlib.sha256(content).hexdigest()
    rng = random.Random(args.get("seed", 1))
    started = time.perf_counter()
    with transaction.atomic():
        home = tree.home_get(user=user)
        folder = tree.folder_create(user=user, parent=home, name=args.get("name", "bench-listing"))
        parents = [tree.folder_create(user=user, parent=folder, name=f"d{i:03d}")
                   for i in range(args.get("folders", 0))] or [folder]
        # Phases may seed the same content (one stored object): the blob is shared, counted once per row.
        blob, made = Blob.objects.get_or_create(
            sha256=sha, defaults={"size": len(content), "storage_key": args["storage_key"], "ref_count": n})
        if not made:
            Blob.objects.filter(pk=blob.pk).update(ref_count=F("ref_count") + n)
        now = timezone.now()
        nodes = [Node(owner=user, parent=parents[i % len(parents)], kind=NodeKind.FILE, depth=parents[0].depth + 1,
                      name=f"{rng.choice(WORDS)}_{rng.choice(WORDS)}_{i:06d}.jpg", size=len(content),
                      mime_type="image/jpeg", category=Category.IMAGE, version=1, sha256=sha)
                 for i in range(n)]
        Node.objects.bulk_create(nodes, batch_size=2000)
        # bulk_create cannot know the ids in advance: write every materialised path in one UPDATE a folder.
        for parent in parents:
            Node.objects.filter(parent=parent).update(
                path=Concat(Value(parent.path), Cast("id", CharField()), Value("/")))
        ids = list(Node.objects.filter(parent__in=parents).values_list("id", flat=True))
        FileVersion.objects.bulk_create(
            [FileVersion(node_id=pk, number=1, blob=blob, size=len(content), mime_type="image/jpeg",
                         created_by=user) for pk in ids], batch_size=2000)
        User.objects.filter(pk=user.pk).update(storage_used=F("storage_used") + n * len(content))
    with connection.cursor() as cur:  # what autovacuum would have done by now on a live server
        cur.execute("VACUUM (ANALYZE) folders_node")
        cur.execute("VACUUM (ANALYZE) files_fileversion")
        cur.execute("CHECKPOINT")
    for parent in parents:
        bad = Node.objects.filter(parent=parent).exclude(path__startswith=parent.path).count()
        sample = Node.objects.filter(parent=parent).first()
        assert bad == 0 and sample.path == f"{parent.path}{sample.pk}/", "materialised paths are wrong"
    _out({"folder": str(folder.uuid), "files": len(ids), "seconds": round(time.perf_counter() - started, 2),
          "now": now.isoformat()})


def _copy_text(field, value) -> str:
    """One value in COPY's text format."""
    if value is None:
        return r"\N"
    if isinstance(field, JSONField):
        value = json.dumps(value)
    elif isinstance(value, bool):
        value = "t" if value else "f"
    elif hasattr(value, "isoformat"):
        value = value.isoformat()
    return str(value).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _name(rng) -> tuple[str, str]:
    return rng.choice(WORDS), rng.choice(WORDS)


def cmd_seed_search(args):
    """`rows` file nodes for one user, spread over `folders` folders, loaded with COPY.

    Only folders_node rows (search reads nothing else); ids are reserved from the
    table's sequence first so each row's materialised path is written directly."""
    user = User.objects.get(username=args["username"])
    rows, n_folders = args["rows"], args["folders"]
    rng = random.Random(args.get("seed", 2))
    home = tree.home_get(user=user)
    folders = [tree.folder_create(user=user, parent=home, name=f"album-{i:03d}") for i in range(n_folders)]

    fields = {f.column: f for f in Node._meta.concrete_fields}
    columns = list(fields)
    with connection.cursor() as cur:
        cur.execute("SELECT pg_get_serial_sequence('folders_node', 'id')")
        seq = cur.fetchone()[0]
        cur.execute("SELECT nextval(%s)", [seq])
        first = cur.fetchone()[0]
        cur.execute("SELECT setval(%s, %s)", [seq, first + rows])
    # Every column but the per-row ones comes from a template row built by the model
    # itself, so the load follows the model as it evolves.
    now = timezone.now()
    template = Node(owner=user, parent=folders[0], kind=NodeKind.FILE, depth=folders[0].depth + 1,
                    size=204800, mime_type="image/jpeg", category=Category.IMAGE, version=1,
                    sha256=hashlib.sha256(b"search-row").hexdigest(), created_at=now, updated_at=now)
    per_row = {"id", "uuid", "parent_id", "name", "path"}
    constant = {}
    for column, field in fields.items():
        if column in per_row:
            continue
        value = getattr(template, field.attname)
        if value is not None and field.unique:
            raise RuntimeError(f"folders_node.{column} is unique and not null: the loader must vary it")
        constant[column] = _copy_text(field, value)
    assert all(c in fields for c in per_row), "folders_node lost a column the loader writes"

    started = time.perf_counter()
    raw = connection.connection  # psycopg 3, autocommit
    with raw.cursor() as cur:
        with cur.copy(f"COPY folders_node ({', '.join(columns)}) FROM STDIN") as copy:
            buf = io.StringIO()
            for i in range(rows):
                pk = first + i
                folder = folders[i % n_folders]
                w1, w2 = _name(rng)
                row = dict(constant, id=str(pk), uuid=str(uuid.UUID(bytes=os.urandom(16), version=4)),
                           parent_id=str(folder.pk), name=f"{w1}_{w2}_{i}.jpg", path=f"{folder.path}{pk}/")
                buf.write("\t".join(row[c] for c in columns))
                buf.write("\n")
                if i % 20000 == 19999:
                    copy.write(buf.getvalue())
                    buf = io.StringIO()
            copy.write(buf.getvalue())
    copied = time.perf_counter() - started
    with connection.cursor() as cur:
        cur.execute("VACUUM (ANALYZE) folders_node")
        cur.execute("CHECKPOINT")  # write the load out now, not while the searches are timed
        cur.execute("SELECT count(*) FROM folders_node WHERE owner_id = %s AND kind = 'file'", [user.pk])
        count = cur.fetchone()[0]
    _out({"rows": count, "copy_seconds": round(copied, 1),
          "vacuum_analyze_seconds": round(time.perf_counter() - started - copied, 1)})


def cmd_query_counts(args):
    """How many SQL queries GET /api/files/list runs, per page size (and page)."""
    client = Client(HTTP_AUTHORIZATION=f"Bearer {args['token']}")
    result = []
    # One request first so lazy, once-per-process work is not counted.
    client.get("/api/files/list", {"folderId": args["folder"], "page": 1, "pageSize": 10})
    for size in args["page_sizes"]:
        for page in (1, 2):
            with CaptureQueriesContext(connection) as ctx:
                response = client.get("/api/files/list", {"folderId": args["folder"], "page": page,
                                                          "pageSize": size})
            body = response.json()
            result.append({"pageSize": size, "page": page, "status": response.status_code,
                           "items": len(body["data"]["items"]), "queries": len(ctx.captured_queries),
                           "sql": [q["sql"][:300] for q in ctx.captured_queries]})
    _out({"counts": result})


def cmd_explain(args):
    """Send each request through the test client, then EXPLAIN (ANALYZE, BUFFERS) every
    query it sent to folders_node: the exact SQL, literals bound, on the same data."""
    client = Client(HTTP_AUTHORIZATION=f"Bearer {args['token']}")
    plans = []
    for req in args["requests"]:
        client.get(req["url"], req["params"])  # warm, as the timed requests were
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(req["url"], req["params"])
        total = response.json()["data"]["pagination"]["total"]
        for query in ctx.captured_queries:
            sql = query["sql"]
            if not sql.startswith("SELECT") or '"folders_node"' not in sql.split(" WHERE ")[0]:
                continue
            with connection.cursor() as cur:
                cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
                plan = "\n".join(row[0] for row in cur.fetchall())
            plans.append({"url": req["url"], "params": req["params"], "total": total,
                          "query_ms": round(float(query["time"]) * 1000, 1), "sql": sql, "plan": plan})
    with connection.cursor() as cur:
        cur.execute("SELECT name, setting, unit FROM pg_settings WHERE name IN "
                    "('shared_buffers', 'work_mem', 'effective_cache_size', 'random_page_cost', "
                    "'max_parallel_workers_per_gather', 'jit', 'lc_collate')")
        pg = {name: f"{setting}{unit or ''}" for name, setting, unit in cur.fetchall()}
        cur.execute("SELECT datcollate FROM pg_database WHERE datname = current_database()")
        pg["datcollate"] = cur.fetchone()[0]
    _out({"plans": plans, "pg_settings": pg})


def cmd_load_users(args):
    """`count` users with a password (for the sign-in part of the load run)."""
    names = []
    for number in range(args["count"]):
        username = f"load{number}"
        User.objects.create_user(username, password=args["password"], email=f"{username}@bench.invalid",
                                 storage_quota=TIB)
        names.append(f"{username}@bench.invalid")
    _out({"emails": names})


def cmd_web_session(args):
    """A browser session of the web drive for a bench user: the cookie its sign-in sets."""
    from django.http import HttpResponse
    from django.test import RequestFactory

    from accounts import browser
    from accounts.models import Client as SessionClient

    user = User.objects.get(username=args["username"])
    sign_in = _sign_in(user, client=SessionClient.BROWSER, ip_address="127.0.0.1", user_agent="bench web")
    response = HttpResponse()
    browser.session_cookie_set(RequestFactory().get("/"), response, session=sign_in.session)
    _out({"name": browser.COOKIE, "value": response.cookies[browser.COOKIE].value})


def cmd_web_query_counts(args):
    """How many SQL queries a drive folder page runs (first and last page of each order)."""
    client = Client()
    client.cookies[args["cookie"]["name"]] = args["cookie"]["value"]
    url = f"/folders/{args['folder']}"
    client.get(url)  # once-per-process work is not counted
    counts = {}
    for sort in ("name", "size", "modified"):
        for page in (1, -(-args["files"] // 100)):  # the first and the last page of 100
            with CaptureQueriesContext(connection) as ctx:
                response = client.get(url, {"sort": sort, "page": page})
            assert response.status_code == 200, response.status_code
            counts[f"{sort}, page {'1' if page == 1 else 'last'}"] = len(ctx.captured_queries)
    _out({"counts": counts})


COMMANDS = {
    "users": cmd_users,
    "load-users": cmd_load_users,
    "seed-listing": cmd_seed_listing,
    "seed-search": cmd_seed_search,
    "query-counts": cmd_query_counts,
    "explain": cmd_explain,
    "web-session": cmd_web_session,
    "web-query-counts": cmd_web_query_counts,
}

if __name__ == "__main__":
    COMMANDS[sys.argv[1]](json.loads(sys.argv[2]) if len(sys.argv) > 2 else {})
