#!/usr/bin/env python3
"""A connector that is not an Airbyte destination: destsim's generic mode.

Records arrive as JSON lines on stdin (each a user object with an "email");
DESTSIM_BASE_URL and DESTSIM_API_KEY come from the environment. Users go to
Iterable's users/bulkUpdate in batches of 10, one request at a time.
Retry-After on 429 is waited out; 5xx, 408 and transport errors are retried
with backoff (6 attempts in all); any other 4xx ends the run with exit 1.
Exit 0 means every record was accepted. Standard library only.
"""
import http.client
import json
import os
import sys
import time
import urllib.error
import urllib.request

BASE = os.environ["DESTSIM_BASE_URL"].rstrip("/")
KEY = os.environ.get("DESTSIM_API_KEY", "")
BATCH = 10
ATTEMPTS = 6
# Local only: never go through a proxy the environment may name.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def post(users):
    body = json.dumps({"users": users}).encode()
    delay = 0.5
    attempt = 0
    while True:
        attempt += 1
        req = urllib.request.Request(BASE + "/api/users/bulkUpdate", data=body, method="POST",
                                     headers={"Api-Key": KEY, "Content-Type": "application/json"})
        try:
            with OPENER.open(req, timeout=10) as r:
                r.read()
                return
        except urllib.error.HTTPError as e:
            try:
                e.read()
            except http.client.HTTPException:
                # The status line came, then the connection was cut: no answer.
                e.code = 0
            if e.code == 0:
                pass
            elif e.code == 413 and len(users) > 1:
                half = len(users) // 2
                post(users[:half])
                post(users[half:])
                return
            elif e.code == 429:
                ra = e.headers.get("Retry-After", "")
                time.sleep(float(ra) if ra.replace(".", "", 1).isdigit() else delay)
                attempt -= 1  # a rate limit is not a failed attempt
                delay = min(delay * 2, 8)
                continue
            elif e.code != 408 and e.code < 500:
                sys.stderr.write("refused for good: HTTP %d\n" % e.code)
                sys.exit(1)
        except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
            sys.stderr.write("transport: %s\n" % e)
        if attempt >= ATTEMPTS:
            sys.stderr.write("giving up after %d attempts\n" % attempt)
            sys.exit(1)
        time.sleep(delay)
        delay = min(delay * 2, 8)


def main():
    batch = []
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        data = json.loads(line)
        batch.append({"email": data["email"], "dataFields": data})
        if len(batch) == BATCH:
            post(batch)
            batch = []
    if batch:
        post(batch)


if __name__ == "__main__":
    main()
