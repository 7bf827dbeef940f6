#!/usr/bin/env python3
"""destination-iterable (example): an Airbyte-protocol destination that upserts
each record as an Iterable user through POST /api/users/bulkUpdate.

    destination.py spec
    destination.py check --config CONFIG.json
    destination.py write --config CONFIG.json --catalog CATALOG.json < messages

Standard library only. stdout carries Airbyte messages only, one JSON object a
line, flushed after each; anything for humans goes to stderr.

Exit codes: 0 on success (and for spec/check, whatever the status); 1 after a
fatal error, always preceded by one TRACE error message on stdout; 2 for a
command line argparse cannot read (usage on stderr, nothing on stdout).
"""
import argparse
import email.utils
import http.client
import json
import os
import random
import sys
import time
import urllib.error
import urllib.request

DEFAULTS = {"batch_size": 10, "max_attempts": 6, "timeout_s": 10, "max_rate_limited_attempts": 30}
BACKOFF_START_S = 0.5   # 5xx/408/transport: 0.5, 1, 2, 4, 8, 8, ... (jittered ±20 %)
BACKOFF_CAP_S = 8.0
RATE_LIMIT_START_S = 1.0  # 429 without a usable Retry-After: 1, 2, 4, 8, 8, ...
RETRY_AFTER_MAX_S = 900   # a Retry-After longer than this fails the sync instead of hanging

SPEC = {
    "documentationUrl": "https://api.iterable.com/api/docs#users_bulkUpdateUser",
    "supportsIncremental": True,
    "supported_destination_sync_modes": ["append"],
    "connectionSpecification": {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "Iterable Destination Spec (example)",
        "type": "object",
        "required": ["base_url", "api_key"],
        "additionalProperties": True,
        "properties": {
            "base_url": {"type": "string", "description": "API root, e.g. https://api.iterable.com",
                         "pattern": "^https?://"},
            "api_key": {"type": "string", "airbyte_secret": True, "minLength": 1},
            "batch_size": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 10},
            "max_attempts": {"type": "integer", "minimum": 1, "default": 6,
                             "description": "attempts per request on 5xx/408/transport errors"},
            "max_rate_limited_attempts": {"type": "integer", "minimum": 1, "default": 30,
                                          "description": "consecutive 429 answers before giving up"},
            "timeout_s": {"type": "number", "exclusiveMinimum": 0, "default": 10},
        },
    },
}


class Fatal(Exception):
    """Ends the sync: one TRACE error on stdout, then exit 1."""

    def __init__(self, message, failure_type="system_error", internal_message=None):
        super().__init__(message)
        self.message = message
        self.failure_type = failure_type
        self.internal_message = internal_message or message


def now_ms():
    return time.time() * 1000.0


def emit(message):
    """One Airbyte message on stdout, flushed at once (the runner reads it live)."""
    sys.stdout.write(json.dumps(message, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def log(level, message):
    emit({"type": "LOG", "log": {"level": level, "message": message}})


def trace_error(fatal):
    emit({"type": "TRACE", "trace": {"type": "ERROR", "emitted_at": now_ms(), "error": {
        "message": fatal.message, "internal_message": fatal.internal_message,
        "failure_type": fatal.failure_type}}})


def config_problems(config):
    """What is wrong with a config (an empty list if nothing)."""
    if not isinstance(config, dict):
        return ["the config is not a JSON object"]
    problems = []
    base_url = config.get("base_url")
    if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
        problems.append("base_url: expected an http:// or https:// URL")
    if not isinstance(config.get("api_key"), str) or not config.get("api_key"):
        problems.append("api_key: expected a non-empty string")
    for key in ("batch_size", "max_attempts", "max_rate_limited_attempts"):
        value = config.get(key, DEFAULTS[key])
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            problems.append(f"{key}: expected an integer >= 1")
    timeout = config.get("timeout_s", DEFAULTS["timeout_s"])
    if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or timeout <= 0:
        problems.append("timeout_s: expected a number > 0")
    return problems


def read_json_file(path, what):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        raise Fatal(f"cannot read the {what} {path}: {e}", "config_error")


def parse_retry_after(value, now=None):
    """Seconds to wait from a Retry-After header: delta-seconds ("1", also "1.5")
    or an HTTP-date. None if absent or unreadable (the caller then backs off)."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
        return seconds if seconds >= 0 else None
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # A redirected POST would silently become a GET: answer 3xx as an error instead.
    def redirect_request(self, *args, **kwargs):
        return None


class Destination:
    def __init__(self, config):
        self.base_url = config["base_url"].rstrip("/")
        self.api_key = config["api_key"]
        self.batch_size = config.get("batch_size", DEFAULTS["batch_size"])
        self.max_attempts = config.get("max_attempts", DEFAULTS["max_attempts"])
        self.max_rate_limited = config.get("max_rate_limited_attempts", DEFAULTS["max_rate_limited_attempts"])
        self.timeout_s = config.get("timeout_s", DEFAULTS["timeout_s"])
        self.rng = random.Random(os.getpid())
        self.buffer = []  # users read but not yet accepted by the API
        self.sent = 0
        self.skipped = 0
        # No proxies from the environment (the API under test is local), no redirects.
        self.opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())

    # ---- reading stdin -------------------------------------------------------

    def run(self, lines):
        for number, raw in enumerate(lines, 1):
            try:
                line = raw.decode("utf-8").strip()
                if not line:
                    continue
                message = json.loads(line)
            except ValueError as e:  # UnicodeDecodeError is a ValueError too
                raise Fatal(f"stdin line {number} is not a JSON message", internal_message=f"line {number}: {e}")
            if not isinstance(message, dict):
                raise Fatal(f"stdin line {number} is not a JSON object")
            kind = message.get("type")
            if kind == "RECORD":
                self.on_record(number, message.get("record"))
            elif kind == "STATE":
                state = message.get("state")
                if not isinstance(state, dict):
                    raise Fatal(f"stdin line {number}: a STATE message without a state object")
                self.on_state(state)
            # Any other type (LOG, TRACE, CONTROL, ...) is not ours to act on.
        # End of input: whatever is buffered is sent; no state covers it.
        self.flush()
        log("INFO", f"write done: {self.sent} users accepted, {self.skipped} records skipped")

    def on_record(self, number, record):
        if not isinstance(record, dict) or not isinstance(record.get("data"), dict):
            raise Fatal(f"stdin line {number}: a RECORD message without a record.data object")
        data = record["data"]
        if not isinstance(data.get("email"), str) or not data["email"]:
            self.skipped += 1
            log("WARN", f"stdin line {number}: record of stream {record.get('stream')!r} has no email; skipped")
            return
        self.buffer.append({"email": data["email"], "dataFields": data})
        if len(self.buffer) >= self.batch_size:
            self.flush()

    def on_state(self, state):
        # A state says "everything before me is delivered": it may be echoed
        # only once every record read before it was accepted (2xx) by the API.
        # So flush first, and echo only if the flush succeeded (a failed flush
        # raises Fatal, and the state is never echoed).
        self.flush()
        self.echo_state(state)

    def echo_state(self, state):
        emit({"type": "STATE", "state": state})

    # ---- sending -------------------------------------------------------------

    def flush(self):
        if self.buffer:
            users, self.buffer = self.buffer, []
            self.send(users)

    def send(self, users):
        """Sends users until the API accepts them; 413 splits them in halves."""
        status, _, body = self.post_with_retries(users)
        if status == 413:
            if len(users) == 1:
                raise Fatal(f"Iterable answered 413 for a single user ({describe(body)})")
            log("INFO", f"413 for {len(users)} users: sending them in two halves")
            half = len(users) // 2
            self.send(users[:half])
            self.send(users[half:])
            return
        answer = parse_json(body)
        fail_count = answer.get("failCount", 0) if isinstance(answer, dict) else 0
        if isinstance(fail_count, int) and fail_count > 0:
            log("WARN", f"Iterable accepted the batch of {len(users)} users but failed {fail_count}: {body[:500]}")
        self.sent += len(users)

    def post_with_retries(self, users):
        """POSTs one batch. Returns (status, headers, body) for 2xx and 413;
        retries 429, 408, 5xx and transport errors; raises Fatal otherwise."""
        payload = json.dumps({"users": users}, separators=(",", ":")).encode("utf-8")
        failures = 0      # 5xx / 408 / transport errors: at most max_attempts attempts in all
        rate_limited = 0  # consecutive 429 answers
        while True:
            try:
                status, headers, body = self.post(payload)
                problem = None
            except (OSError, http.client.HTTPException) as e:  # refused, reset, timeout, ...
                status, headers, body, problem = None, {}, "", f"{type(e).__name__}: {e}"
            if status is not None and 200 <= status < 300 or status == 413:
                return status, headers, body
            if status == 429:
                rate_limited += 1
                if rate_limited >= self.max_rate_limited:
                    raise Fatal(f"Iterable answered 429 {rate_limited} times in a row", "transient_error",
                                describe(body))
                delay = self.rate_limit_delay(headers.get("Retry-After"), rate_limited)
                log("INFO", f"429 from Iterable (Retry-After: {headers.get('Retry-After')}): retrying in {delay:.2f} s")
                time.sleep(delay)
                continue
            if status is None or status == 408 or status >= 500:
                failures += 1
                what = problem or f"HTTP {status} ({describe(body)})"
                if failures >= self.max_attempts:
                    raise Fatal(f"Iterable request failed {failures} times; last: {what}", "transient_error")
                delay = self.backoff(BACKOFF_START_S, failures)
                log("INFO", f"{what}: retrying in {delay:.2f} s (attempt {failures + 1} of {self.max_attempts})")
                time.sleep(delay)
                continue
            # Any other answer (400, 401, 403, 404, 409, 422, 3xx, ...) is final.
            failure_type = "config_error" if status in (401, 403) else "system_error"
            raise Fatal(f"Iterable answered {status} ({describe(body)})", failure_type, body[:2000])

    def post(self, payload):
        request = urllib.request.Request(
            self.base_url + "/api/users/bulkUpdate", data=payload, method="POST",
            headers={"Api-Key": self.api_key, "Content-Type": "application/json"})
        try:
            with self.opener.open(request, timeout=self.timeout_s) as response:
                return response.status, response.headers, response.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as e:  # a non-2xx answer: still an answer
            try:
                body = e.read().decode("utf-8", "replace")
            except (OSError, http.client.HTTPException):
                body = ""
            return e.code, e.headers or {}, body

    def rate_limit_delay(self, retry_after, rate_limited):
        """How long to wait after the rate_limited-th consecutive 429: what
        Retry-After says, else exponential backoff from 1 s."""
        seconds = parse_retry_after(retry_after)
        if seconds is None:
            return self.backoff(RATE_LIMIT_START_S, rate_limited)
        if seconds > RETRY_AFTER_MAX_S:
            raise Fatal(f"Iterable asked to wait {seconds:.0f} s (Retry-After: {retry_after})", "transient_error")
        return seconds

    def backoff(self, start, n):
        """start * 2^(n-1), jittered ±20 %, never more than BACKOFF_CAP_S."""
        return min(BACKOFF_CAP_S, start * 2 ** (n - 1) * self.rng.uniform(0.8, 1.2))


def parse_json(text):
    try:
        return json.loads(text)
    except ValueError:
        return None


def describe(body):
    """The msg and code of an Iterable error body, else the start of the body."""
    answer = parse_json(body)
    if isinstance(answer, dict) and ("msg" in answer or "code" in answer):
        return f"code {answer.get('code')}: {answer.get('msg')}"
    return (body or "empty body")[:200]


def main(argv=None, destination_class=Destination):
    parser = argparse.ArgumentParser(description="Iterable users destination (Airbyte protocol)")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("spec")
    check = commands.add_parser("check")
    check.add_argument("--config", required=True)
    write = commands.add_parser("write")
    write.add_argument("--config", required=True)
    write.add_argument("--catalog", required=True)
    args = parser.parse_args(argv)
    try:
        if args.command == "spec":
            emit({"type": "SPEC", "spec": SPEC})
        elif args.command == "check":
            # Config keys only: check does not call the API.
            try:
                problems = config_problems(read_json_file(args.config, "config"))
            except Fatal as e:
                problems = [e.message]
            status = {"status": "FAILED", "message": "; ".join(problems)} if problems else \
                {"status": "SUCCEEDED", "message": "config is valid"}
            emit({"type": "CONNECTION_STATUS", "connectionStatus": status})
        else:
            config = read_json_file(args.config, "config")
            problems = config_problems(config)
            if problems:
                raise Fatal("invalid config: " + "; ".join(problems), "config_error")
            read_json_file(args.catalog, "catalog")  # must be readable; every stream goes to users
            destination_class(config).run(sys.stdin.buffer)
        return 0
    except Fatal as e:
        print(f"fatal: {e.message}", file=sys.stderr)
        trace_error(e)
        return 1
    except BrokenPipeError:  # the reader went away: nobody left to tell
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except Exception as e:  # a bug of ours: still one TRACE, still exit 1
        fatal = Fatal(f"unexpected error: {type(e).__name__}: {e}")
        print(f"fatal: {fatal.message}", file=sys.stderr)
        trace_error(fatal)
        return 1


if __name__ == "__main__":
    sys.exit(main())
