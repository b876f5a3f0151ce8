"""Phase `web`: the web drive as a browser meets it. What a first visit to `/` loads
(JavaScript and CSS, as WhiteNoise sends them to a browser that accepts gzip), what opening
a PDF adds to that, and the server time of the first page of a 10,000-file folder."""

import gzip
import re
import time
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import requests

from .common import BenchTimeout, CONTENT, TARGETS, summary_ms
from .stack import Stack, run_task

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
           "Accept-Encoding": "gzip, deflate", "User-Agent": "Mozilla/5.0 (bench web)"}
# `import … from "x"` and `import "x"` at the top of a module: fetched with the page. A
# dynamic `import(…)` is not: it is what a later action loads.
STATIC_IMPORT = re.compile(r"""^\s*import\s+(?:[\w*{}\s,]+\s+from\s+)?["']([^"']+)["']""", re.MULTILINE)
SORT_SAMPLES = 40  # timed requests of each other order, for comparison


class PageAssets(HTMLParser):
    """The scripts and stylesheets a page names, and the PDF viewer's own files."""

    def __init__(self):
        super().__init__()
        self.scripts, self.styles, self.on_pdf = [], [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script" and attrs.get("src"):
            self.scripts.append(attrs["src"])
        elif tag == "link" and "stylesheet" in (attrs.get("rel") or "").split() and attrs.get("href"):
            self.styles.append(attrs["href"])
        elif attrs.get("id") == "pdf":
            self.on_pdf += [attrs["data-lib"], attrs["data-worker"]]


def _get(session: requests.Session, url: str) -> tuple[requests.Response, bytes, bytes]:
    """The answer, its bytes as they crossed the wire, and those bytes decoded."""
    response = session.get(url, stream=True, timeout=(5, 30))
    wire = response.raw.read(decode_content=False)
    if response.status_code != 200:
        raise RuntimeError(f"GET {url} answered {response.status_code}")
    body = gzip.decompress(wire) if response.headers.get("Content-Encoding") == "gzip" else wire
    return response, wire, body


def _weigh(session: requests.Session, base: str, urls: list[str], seen: set) -> list[dict]:
    """Fetch each file not fetched yet, and the modules it imports statically."""
    rows, queue = [], list(urls)
    while queue:
        url = urljoin(base, queue.pop(0))
        if url in seen:
            continue
        seen.add(url)
        response, wire, body = _get(session, url)
        if url.endswith((".js", ".mjs")):
            queue += [urljoin(url, spec) for spec in STATIC_IMPORT.findall(body.decode(errors="replace"))
                      if spec.startswith((".", "/"))]
        rows.append({"path": urlsplit(url).path, "bytes": len(body), "wire_bytes": len(wire),
                     "encoding": response.headers.get("Content-Encoding", "identity"),
                     "gzip9_bytes": len(gzip.compress(body, 9))})
    return rows


def _total(rows: list[dict]) -> dict:
    return {key: sum(row[key] for row in rows) for key in ("bytes", "wire_bytes", "gzip9_bytes")}


def _signed_in_browser(stack: "Stack") -> tuple[requests.Session, dict]:
    """A session holding the cookie a browser's sign-in sets (the form itself needs HTTPS
    when DEBUG is off: its CSRF cookie is Secure)."""
    cookie = run_task(stack.env, "web-session", {"username": "bench"}, timeout=60)
    session = requests.Session()
    session.headers.update(BROWSER)
    session.cookies.set(cookie["name"], cookie["value"])
    check = session.get(f"{stack.server.url}/", allow_redirects=False, timeout=(5, 30))
    if check.status_code != 200:
        raise RuntimeError(f"the drive answered {check.status_code} to the browser's cookie")
    return session, cookie


def _pdf_page(stack: "Stack", session: requests.Session) -> str:
    """The page of a PDF in the drive (uploaded through the API)."""
    response = requests.post(f"{stack.server.url}/api/files/upload", timeout=(5, 30),
                             headers={"Authorization": f"Bearer {stack.users['bench']['token']}"},
                             files={"file": ("bench.pdf", b"%PDF-1.4\n%%EOF\n", "application/pdf")})
    response.raise_for_status()
    return f"{stack.server.url}/files/{response.json()['data']['id']}"


def _page_weight(stack: "Stack", session: requests.Session) -> dict:
    base = stack.server.url + "/"
    _, _, html = _get(session, base)
    first = PageAssets()
    first.feed(html.decode())
    seen = set()
    first_rows = _weigh(session, base, first.scripts + first.styles, seen)
    pdf_url = _pdf_page(stack, session)
    _, _, pdf_html = _get(session, pdf_url)
    pdf = PageAssets()
    pdf.feed(pdf_html.decode())
    pdf_rows = _weigh(session, pdf_url, pdf.scripts + pdf.styles + pdf.on_pdf, seen)  # what the cache lacks
    if not pdf.on_pdf:
        raise RuntimeError("the PDF's page names no PDF viewer")
    return {"first_visit": {"files": first_rows, **_total(first_rows), "html_bytes": len(html)},
            "pdf_view_adds": {"files": pdf_rows, **_total(pdf_rows)}}


def _timed_pages(session: requests.Session, url: str, count: int, deadline: float) -> list[float]:
    samples = []
    for _ in range(count):
        if time.monotonic() > deadline:
            raise BenchTimeout("web page loop ran out of time")
        started = time.perf_counter()
        response = session.get(url, timeout=(5, 30))
        _ = response.content
        samples.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200 or response.text.count('<tr data-name="') != 100:
            raise RuntimeError(f"GET {url} answered {response.status_code} without a page of 100 entries")
    return samples


def web(stack: "Stack", cfg: dict, deadline: float, listing: dict | None) -> dict:
    session, cookie = _signed_in_browser(stack)
    weight = _page_weight(stack, session)
    if listing:
        folder, files = listing["folder"], listing["files"]
    else:  # the listing phase was skipped: a folder made the same way
        seeded = run_task(stack.env, "seed-listing", {"username": "bench", "files": cfg["listing_files"],
                                                      "content": CONTENT.decode(),
                                                      "storage_key": "bench/listing-shared"}, timeout=300)
        folder, files = seeded["folder"], seeded["files"]
    url = f"{stack.server.url}/folders/{folder}"
    _timed_pages(session, url, 10, deadline)  # warm-up, not counted
    render = {"name": summary_ms(_timed_pages(session, url, cfg["listing_requests"], deadline))}
    for sort in ("size", "modified"):
        render[sort] = summary_ms(_timed_pages(session, f"{url}?sort={sort}", SORT_SAMPLES, deadline))
    queries = run_task(stack.env, "web-query-counts", {"cookie": cookie, "folder": folder, "files": files}, timeout=120)["counts"]
    return {"folder": folder, "files": files, "page_weight": weight, "render_ms": render,
            "query_counts": queries, "query_counts_equal": len(set(queries.values())) == 1,
            "page_weight_kb": round(weight["first_visit"]["wire_bytes"] / 1000, 1),
            "pdf_view_adds_kb": round(weight["pdf_view_adds"]["wire_bytes"] / 1000, 1),
            "targets": {k: TARGETS[k] for k in ("web_page_weight_kb", "web_render_p95_ms")}}
