#!/usr/bin/env python3
"""Self-test of destination.py (and of its two deliberately broken variants)
against a tiny local stand-in for Iterable's /api/users/bulkUpdate.

    python3 examples/connectors/iterable_py/test_destination.py

Standard library only; the server binds 127.0.0.1 on a free port and is shut
down at the end; every connector run is killed after RUN_TIMEOUT_S.
"""
import http.server
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
GOOD = os.path.join(HERE, "destination.py")
EARLY_STATE = os.path.join(HERE, "broken_early_state.py")
IGNORES_RETRY_AFTER = os.path.join(HERE, "broken_ignores_retry_after.py")
API_KEY = "test-key"
RUN_TIMEOUT_S = 10
STDOUT_TYPES = {"STATE", "LOG", "TRACE", "SPEC", "CONNECTION_STATUS"}


class FakeIterable:
    """Answers POST /api/users/bulkUpdate. `respond(index, users)` may return
    (status, headers, body) for the index-th request; None means 200 success.
    Records every request, and the emails of every user it answered 2xx for
    (recorded before the answer is written, so a client that saw the 2xx can
    never be ahead of `accepted`)."""

    def __init__(self):
        fake = self
        self.lock = threading.Lock()
        self.reset()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                arrived = time.monotonic()
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                users = json.loads(body)["users"] if self.path == "/api/users/bulkUpdate" else []
                with fake.lock:
                    index = len(fake.requests)
                    entry = {"arrived": arrived, "path": self.path, "users": users,
                             "api_key": self.headers.get("Api-Key"),
                             "content_type": self.headers.get("Content-Type")}
                    fake.requests.append(entry)
                if fake.delay_s:
                    time.sleep(fake.delay_s)
                answer = fake.respond(index, users) if fake.respond else None
                if answer is None:
                    answer = (200, {}, {"successCount": len(users), "failCount": 0,
                                        "invalidEmails": [], "invalidUserIds": []})
                status, headers, payload = answer
                with fake.lock:
                    entry["status"] = status
                    if 200 <= status < 300:
                        fake.accepted.update(u["email"] for u in users)
                    entry["answered"] = time.monotonic()
                data = json.dumps(payload).encode()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def reset(self, respond=None, delay_s=0.0):
        with getattr(self, "lock", threading.Lock()):
            self.requests = []
            self.accepted = set()
            self.respond = respond
            self.delay_s = delay_s

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def rec(i, stream="users"):
    return {"type": "RECORD", "record": {"stream": stream, "data": {"email": f"u{i}@example.com", "i": i},
                                         "emitted_at": 1700000000000}}


def state(n):
    return {"type": "STATE", "state": {"type": "STREAM", "stream": {
        "stream_descriptor": {"name": "users"}, "stream_state": {"cursor": n}}}}


def error_body(code, msg):
    return {"msg": msg, "code": code, "params": None}


class Run:
    """One finished connector run: exit code, stdout messages (each with the
    set of emails the server had accepted when the test read it), stderr."""

    def __init__(self, returncode, lines, stderr):
        self.returncode, self.lines, self.stderr = returncode, lines, stderr
        self.messages = [m for m, _ in lines]

    def of_type(self, kind):
        return [m for m in self.messages if m["type"] == kind]


class DestinationTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.fake = FakeIterable()
        cls.tmp = tempfile.TemporaryDirectory()
        cls.catalog = os.path.join(cls.tmp.name, "catalog.json")
        with open(cls.catalog, "w") as f:
            json.dump({"streams": [{"stream": {"name": "users", "json_schema": {}},
                                    "sync_mode": "incremental", "destination_sync_mode": "append"}]}, f)

    @classmethod
    def tearDownClass(cls):
        cls.fake.close()
        cls.tmp.cleanup()

    def run_connector(self, messages, script=GOOD, respond=None, delay_s=0.0, **config):
        self.fake.reset(respond, delay_s)
        path = os.path.join(self.tmp.name, "config.json")
        with open(path, "w") as f:
            json.dump({"base_url": self.fake.base_url, "api_key": API_KEY, "batch_size": 10,
                       "max_attempts": 6, **config}, f)
        proc = subprocess.Popen([sys.executable, script, "write", "--config", path, "--catalog", self.catalog],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        watchdog = threading.Timer(RUN_TIMEOUT_S, proc.kill)
        watchdog.start()
        stdin = "".join(m if isinstance(m, str) else json.dumps(m) + "\n" for m in messages)

        def feed():
            try:
                proc.stdin.write(stdin.encode())
                proc.stdin.close()
            except BrokenPipeError:
                pass

        feeder = threading.Thread(target=feed)
        feeder.start()
        lines = []
        for raw in proc.stdout:  # read live: each message is judged when it appears
            with self.fake.lock:
                accepted = set(self.fake.accepted)
            message = json.loads(raw)  # stdout must be JSON, one message a line
            self.assertIn(message.get("type"), STDOUT_TYPES, raw)
            lines.append((message, accepted))
        feeder.join()
        stderr = proc.stderr.read().decode()
        returncode = proc.wait()
        watchdog.cancel()
        proc.stdout.close()
        proc.stderr.close()
        self.assertNotEqual(returncode, -9, "the connector was killed by the test's timeout")
        return Run(returncode, lines, stderr)

    def assert_trace(self, run, failure_type, *words):
        self.assertEqual(run.returncode, 1, run.stderr)
        last = run.messages[-1]
        self.assertEqual(last["type"], "TRACE")
        self.assertEqual(last["trace"]["type"], "ERROR")
        error = last["trace"]["error"]
        self.assertEqual(error["failure_type"], failure_type)
        for word in words:
            self.assertIn(word, error["message"])
        self.assertEqual(len(run.of_type("TRACE")), 1)

    # ---- the good connector --------------------------------------------------

    def test_records_delivered_and_states_echoed(self):
        messages = [rec(i) for i in range(12)] + [state(1)] + [rec(i) for i in range(12, 25)] + [state(2)] \
            + [rec(25), rec(26), {"type": "LOG", "log": {"level": "INFO", "message": "ignored"}}]
        run = self.run_connector(messages)
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertEqual(self.fake.accepted, {f"u{i}@example.com" for i in range(27)})
        # batches of 10; a state flushes what is buffered; the end flushes the rest
        self.assertEqual([len(r["users"]) for r in self.fake.requests], [10, 2, 10, 3, 2])
        first = self.fake.requests[0]
        self.assertEqual((first["path"], first["api_key"], first["content_type"]),
                         ("/api/users/bulkUpdate", API_KEY, "application/json"))
        self.assertEqual(first["users"][0], {"email": "u0@example.com",
                                             "dataFields": {"email": "u0@example.com", "i": 0}})
        self.assertEqual(run.of_type("STATE"), [state(1), state(2)])  # the same state objects

    def test_state_echoed_only_after_its_records_were_accepted(self):
        messages = [rec(i) for i in range(5)] + [state(1)] + [rec(i) for i in range(5, 8)] + [state(2)]
        run = self.run_connector(messages, delay_s=0.2)
        self.assertEqual(run.returncode, 0, run.stderr)
        echoed = [(m, accepted) for m, accepted in run.lines if m["type"] == "STATE"]
        self.assertEqual([m for m, _ in echoed], [state(1), state(2)])
        self.assertLessEqual({f"u{i}@example.com" for i in range(5)}, echoed[0][1])
        self.assertLessEqual({f"u{i}@example.com" for i in range(8)}, echoed[1][1])

    def test_429_waits_retry_after(self):
        def respond(index, users):
            if index == 0:
                return 429, {"Retry-After": "1"}, error_body("RateLimitExceeded", "Rate limit exceeded")
        run = self.run_connector([rec(i) for i in range(3)] + [state(1)], respond=respond)
        self.assertEqual(run.returncode, 0, run.stderr)
        first, second = self.fake.requests
        self.assertEqual(first["users"], second["users"])
        self.assertGreaterEqual(second["arrived"] - first["answered"], 0.95)
        self.assertEqual(run.of_type("STATE"), [state(1)])

    def test_500_is_retried(self):
        def respond(index, users):
            if index == 0:
                return 500, {}, error_body("InternalError", "oops")
        run = self.run_connector([rec(i) for i in range(3)] + [state(1)], respond=respond)
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertEqual([r["status"] for r in self.fake.requests], [500, 200])
        self.assertEqual(self.fake.requests[0]["users"], self.fake.requests[1]["users"])
        self.assertEqual(run.of_type("STATE"), [state(1)])

    def test_5xx_until_max_attempts_fails_transient(self):
        run = self.run_connector([rec(0), state(1)], max_attempts=3,
                                 respond=lambda i, u: (503, {}, error_body("Unavailable", "down")))
        self.assert_trace(run, "transient_error", "503")
        self.assertEqual(len(self.fake.requests), 3)
        self.assertEqual(run.of_type("STATE"), [])

    def test_413_splits_the_batch(self):
        def respond(index, users):
            if len(users) > 3:
                return 413, {}, error_body("PayloadTooLarge", "Request body too large")
        run = self.run_connector([rec(i) for i in range(10)] + [state(1)], respond=respond)
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertEqual([len(r["users"]) for r in self.fake.requests], [10, 5, 2, 3, 5, 2, 3])
        self.assertEqual(self.fake.accepted, {f"u{i}@example.com" for i in range(10)})
        self.assertEqual(run.of_type("STATE"), [state(1)])

    def test_413_for_a_single_user_fails(self):
        run = self.run_connector([rec(0)], respond=lambda i, u: (413, {}, error_body("PayloadTooLarge", "big")))
        self.assert_trace(run, "system_error", "413")

    def test_400_fails_without_retry(self):
        run = self.run_connector([rec(i) for i in range(3)] + [state(1)],
                                 respond=lambda i, u: (400, {}, error_body("BadJsonBody", "Invalid JSON body")))
        self.assert_trace(run, "system_error", "400", "BadJsonBody", "Invalid JSON body")
        self.assertEqual(len(self.fake.requests), 1)
        self.assertEqual(run.of_type("STATE"), [])

    def test_401_is_a_config_error(self):
        run = self.run_connector([rec(0)], respond=lambda i, u: (401, {}, error_body("BadApiKey", "Invalid API key")))
        self.assert_trace(run, "config_error", "401", "BadApiKey")
        self.assertEqual(len(self.fake.requests), 1)

    def test_malformed_line_fails(self):
        run = self.run_connector([rec(0), "this is not json\n", state(1)])
        self.assert_trace(run, "system_error", "line 2")
        self.assertEqual(run.of_type("STATE"), [])

    def test_record_without_email_is_skipped(self):
        no_email = {"type": "RECORD", "record": {"stream": "users", "data": {"name": "x"}, "emitted_at": 1}}
        run = self.run_connector([rec(0), no_email, state(1)])
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertTrue(any(m["log"]["level"] == "WARN" for m in run.of_type("LOG")))
        self.assertEqual([r["users"] for r in self.fake.requests],
                         [[{"email": "u0@example.com", "dataFields": {"email": "u0@example.com", "i": 0}}]])

    def test_spec_and_check(self):
        out = subprocess.run([sys.executable, GOOD, "spec"], capture_output=True, timeout=RUN_TIMEOUT_S)
        spec = json.loads(out.stdout)
        self.assertEqual(spec["type"], "SPEC")
        self.assertEqual(spec["spec"]["connectionSpecification"]["required"], ["base_url", "api_key"])
        for config, status in (({"base_url": "http://127.0.0.1:1", "api_key": "k"}, "SUCCEEDED"),
                               ({"base_url": "http://127.0.0.1:1"}, "FAILED")):
            path = os.path.join(self.tmp.name, "check.json")
            with open(path, "w") as f:
                json.dump(config, f)
            out = subprocess.run([sys.executable, GOOD, "check", "--config", path],
                                 capture_output=True, timeout=RUN_TIMEOUT_S)
            self.assertEqual(out.returncode, 0)
            message = json.loads(out.stdout)
            self.assertEqual(message["type"], "CONNECTION_STATUS")
            self.assertEqual(message["connectionStatus"]["status"], status)

    # ---- the broken variants must misbehave ----------------------------------

    def test_broken_early_state_echoes_before_the_server_got_the_batch(self):
        messages = [rec(i) for i in range(5)] + [state(1)]
        run = self.run_connector(messages, script=EARLY_STATE, delay_s=0.3)
        echoed = [(m, accepted) for m, accepted in run.lines if m["type"] == "STATE"]
        self.assertEqual([m for m, _ in echoed], [state(1)])
        self.assertNotIn("u0@example.com", echoed[0][1])  # echoed while its records were unaccepted

    def test_broken_retry_after_retries_429_at_once(self):
        def respond(index, users):
            if index == 0:
                return 429, {"Retry-After": "1"}, error_body("RateLimitExceeded", "Rate limit exceeded")
        self.run_connector([rec(0)], script=IGNORES_RETRY_AFTER, respond=respond)
        first, second = self.fake.requests[:2]
        self.assertLess(second["arrived"] - first["answered"], 0.5)


if __name__ == "__main__":
    unittest.main(verbosity=2)
