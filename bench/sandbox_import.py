"""Sandbox ESP scale figures: a 100,000-row import, a million-contact book, paging near its end.

Run from the repository root: ``python bench/sandbox_import.py [--contacts 1000000]``. Everything goes over
HTTP to an in-process sandbox, the way a client sees it.
"""

import argparse
import base64
import sys
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from esp_sandbox.testing import SandboxServer  # noqa: E402

BATCH = 100_000


def csv_batch(start, count):
    lines = ["Email,FIRSTNAME,LASTNAME,POSTCODE"]
    lines += [f"bench{i}@example.com,First{i},Last{i},AB{i % 100} 1CD" for i in range(start, start + count)]
    return ("\n".join(lines) + "\n").encode()


def timed_import(session, url, book_id, data):
    """Seconds from the POST to the first status read answering Finished."""
    body = {"fileName": "bench.csv", "data": base64.b64encode(data).decode()}
    start = time.perf_counter()
    answer = session.post(f"{url}/v2/address-books/{book_id}/contacts/import", json=body)
    answer.raise_for_status()
    import_id = answer.json()["id"]
    while session.get(f"{url}/v2/contacts/import/{import_id}").json()["status"] != "Finished":
        time.sleep(0.01)
    return time.perf_counter() - start


def timed_page(session, url, book_id, skip, repeat=5):
    """Best of ``repeat`` reads of a 1000-contact page at ``skip``, in seconds."""
    best = None
    for _ in range(repeat):
        start = time.perf_counter()
        page = session.get(f"{url}/v2/address-books/{book_id}/contacts", params={"select": 1000, "skip": skip})
        page.raise_for_status()
        assert len(page.json()) == 1000
        elapsed = time.perf_counter() - start
        best = elapsed if best is None else min(best, elapsed)
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=1_000_000, help="size of the big book (default: %(default)s)")
    args = parser.parse_args()
    with SandboxServer() as sandbox:
        session = requests.Session()
        session.auth = (sandbox.api_user, sandbox.api_password)
        book_id = session.post(f"{sandbox.url}/v2/address-books", json={"name": "Bench"}).json()["id"]
        first = timed_import(session, sandbox.url, book_id, csv_batch(0, BATCH))
        print(f"import of {BATCH:,} new rows (POST to Finished): {first:.2f} s")
        again = timed_import(session, sandbox.url, book_id, csv_batch(0, BATCH))
        print(f"re-import of the same {BATCH:,} rows (updates): {again:.2f} s")
        start = time.perf_counter()
        for offset in range(BATCH, args.contacts, BATCH):
            timed_import(session, sandbox.url, book_id, csv_batch(offset, min(BATCH, args.contacts - offset)))
        print(f"filled the book to {args.contacts:,} contacts in {time.perf_counter() - start:.1f} s more")
        far = max(args.contacts - 100_000, 0)
        print(f"page of 1000 at skip 0:       {timed_page(session, sandbox.url, book_id, 0) * 1000:.1f} ms")
        print(f"page of 1000 at skip {far:,}: {timed_page(session, sandbox.url, book_id, far) * 1000:.1f} ms")
        ids = [c["id"] for c in session.get(f"{sandbox.url}/v2/address-books/{book_id}/contacts",
                                             params={"select": 1000}).json()]
        session.post(f"{sandbox.url}/v2/address-books/{book_id}/contacts/delete", json=ids).raise_for_status()
        print(f"page of 1000 at skip {far:,} after removing the first 1000: "
              f"{timed_page(session, sandbox.url, book_id, far) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
