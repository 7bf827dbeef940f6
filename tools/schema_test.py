#!/usr/bin/python3
"""schema_test.py SRC [DESTSIM] — the JSON Schemas in schemas/ against the
shipped files, with an independent validator (Debian's python3-jsonschema):

- every shipped scenario (format 1 or 2), fault plan and declarative spec
  validates, and so does the format 2 rewrite of every format 1 scenario and a
  few format 2 documents written here (events, a named and seeded fake,
  sent_with, latency, content-matching fault rules);
- mutants (an unknown key at every format object, a wrong type at every value
  that is not free data, a bad duration, a second action on a fault rule, and
  targeted format 2 mistakes) are refused by the schema AND by the loader
  (`destsim validate` exits 2 for each);
- a scenario that declares "must_reject" is one the loader must refuse: it is
  left out of the above, and `destsim validate` must pass it (exit 0: refused at
  load as it declares).

DESTSIM is the destsim binary (else $DESTSIM_BIN, else SRC/build/default/tools/destsim).
"""
import copy
import glob
import json
import os
import subprocess
import sys
import tempfile
import time

import jsonschema

started = time.monotonic()
src = sys.argv[1]
destsim = (sys.argv[2] if len(sys.argv) > 2 else os.environ.get("DESTSIM_BIN")) or \
    os.path.join(src, "build", "default", "tools", "destsim")
if not os.access(destsim, os.X_OK):
    sys.exit(f"schema_test: no destsim binary at {destsim} (pass it as the second argument or $DESTSIM_BIN)")

SCENARIO = "https://destsim.dev/schemas/scenario.schema.json"
PLAN = "https://destsim.dev/schemas/fault_plan.schema.json"
SPEC = "https://destsim.dev/schemas/spec.schema.json"
schemas = {}
for path in glob.glob(os.path.join(src, "schemas", "*.schema.json")):
    with open(path) as f:
        s = json.load(f)
    jsonschema.Draft202012Validator.check_schema(s)
    schemas[s["$id"]] = s
for need in (SCENARIO, PLAN, SPEC):
    assert need in schemas, f"schemas/: no schema with $id {need}"


def validator(schema):
    try:  # jsonschema >= 4.18 resolves $ref through a registry (RefResolver is deprecated there)
        from referencing import Registry, Resource
        registry = Registry().with_resources((i, Resource.from_contents(s)) for i, s in schemas.items())
        return jsonschema.Draft202012Validator(schema, registry=registry)
    except ImportError:  # Debian's 4.10
        resolver = jsonschema.RefResolver.from_schema(schema, store=schemas)
        return jsonschema.Draft202012Validator(schema, resolver=resolver)


validators = {kind: validator(schemas[i]) for kind, i in (("scenario", SCENARIO), ("plan", PLAN), ("spec", SPEC))}
failures = []


def first_error(kind, doc):
    errors = sorted(validators[kind].iter_errors(doc), key=lambda e: list(e.path))
    return f"/{'/'.join(map(str, errors[0].path))}: {errors[0].message}" if errors else None


def load(path):
    with open(path) as f:
        return json.load(f)


def rel(path):
    return os.path.relpath(path, src)


# ------------------------------------------------------------------ format 2 documents written here
# They must load (the loader is the truth) and validate; their mutants are refused.
V2_ITERABLE = {
    "scenario": 2,
    "name": "schema-test-v2-iterable",
    "about": "every format 2 event kind, a seeded fake, content-matching fault rules, sent_with and latency",
    "seed": 3,
    "destination": {"name": "iterable", "config": {"api_key": {"secret": "k"}, "flush_interval": "1ms"}},
    "fake": {"name": "iterable", "options": {}, "seed": [{"create_list": 7}]},
    "input": {"records": [{"id": 1, "stream": "track", "payload": {"email": "a@example.com", "eventName": "x"}},
                          {"id": 2, "stream": "track", "payload": {"email": "b@example.com", "eventName": "x"},
                           "at": "1s"}]},
    "faults": {"about": "content matches", "rules": [
        {"match": {"method": "POST", "path": "/api/events/*", "query": "*",
                   "headers": {"Content-Type": "application/json*"}, "body_contains": "a@example.com"},
         "times": 1, "respond": {"status": 500}},
        {"match": {"body_contains": ["b@example.com", "eventName"]}, "times": 1, "reset": "after"}]},
    "transport": {"request_timeout": "30s", "clock_skew": "-90s"},
    "events": [
        {"at": "5s", "clock_skew": "+2h"},
        {"at": "10s", "fake": {"create_list": 8}},
        {"at": "20s", "config": {"max_retries": 5}},
        {"at": "1m", "stop": True},
        {"at": "2m", "start": True},
        {"at": "3m", "crash": {"restart_after": "30s", "optional": True}},
        {"at": "4m", "crash": True},
    ],
    "expect": {
        "jobs": {"succeeded": 2},
        "job": {"1": {"state": "succeeded", "sent_with": [1], "latency": {"min": "0s", "max": "1h"}, "attempts": {"max": 5}},
                "2": {"state": "succeeded", "latency": {"max": "2h"}}},
        "requests": {"min": 1, "by_status": {"500": {"max": 1}, "2xx": {"min": 1}},
                     "by_endpoint": {"POST /api/events/*": {"min": 1}}},
        "within": "3h",
    },
}
V2_BULK = {
    "scenario": 2,
    "name": "schema-test-v2-bulk",
    "destination": {"name": "declarative", "config": {"api_key": {"secret": "k"}}},
    "input": {"generate": {"records": 10}},
    "events": [
        {"step": "after_upload", "nth": 2, "crash": {"restart_after": "1m"}},
        {"step": "mid_poll", "crash": True},
        {"at": "30m", "crash": {}},
    ],
    "expect": {"jobs": {"total": 10}},
}
V2_MUST_REJECT = {
    "scenario": 2,
    "name": "schema-test-must-reject",
    "must_reject": {"path": "/destination/name", "contains": "registered destination"},
    "destination": {"name": "no-such-destination"},
    "input": {"generate": {"records": 1}},
}


def targeted_mutants():
    """(what, document): format 2 mistakes the loader refuses, which the schema must refuse too."""
    out = []

    def mutant(what, base, change):
        m = copy.deepcopy(base)
        change(m)
        out.append((what, m))

    def ev(i):
        return lambda m: m["events"][i]
    it, bulk = V2_ITERABLE, V2_BULK
    mutant("format 2 with crashes", it, lambda m: m.__setitem__("crashes", []))
    mutant("format 1 with events", it, lambda m: (m.__setitem__("scenario", 1), m["fake"].pop("name"), m["fake"].pop("seed")))
    mutant("format 1 fake with a name", it, lambda m: (m.__setitem__("scenario", 1), m.pop("events")))
    mutant("format 3", it, lambda m: m.__setitem__("scenario", 3))
    mutant("an unknown fake", it, lambda m: m["fake"].__setitem__("name", "no-such-fake"))
    mutant("a seeding operation that is not an object", it, lambda m: m["fake"]["seed"].append(1))
    mutant("an event of two kinds", it, lambda m: m["events"][3].__setitem__("start", True))
    mutant("an event of no kind", it, lambda m: m["events"].append({"at": "1s"}))
    mutant("a stop at a step", it, lambda m: m["events"][3].__setitem__("step", "mid_poll"))
    mutant("a stop with nth", it, lambda m: m["events"][3].__setitem__("nth", 1))
    mutant("a stop without at", it, lambda m: m["events"][3].pop("at"))
    mutant("stop: false", it, lambda m: m["events"][3].__setitem__("stop", False))
    mutant("start: 1", it, lambda m: m["events"][4].__setitem__("start", 1))
    mutant("crash: false", it, lambda m: m["events"][6].__setitem__("crash", False))
    mutant("a crash with neither at nor step", it, lambda m: m["events"][6].pop("at"))
    mutant("a crash with at and step", bulk, lambda m: m["events"][0].__setitem__("at", "1m"))
    mutant("an unknown crash step", bulk, lambda m: m["events"][0].__setitem__("step", "mid_flight"))
    mutant("nth 0", bulk, lambda m: m["events"][0].__setitem__("nth", 0))
    mutant("restart_after in the event", bulk, lambda m: m["events"][1].__setitem__("restart_after", "1m"))
    mutant("an unsigned clock skew", it, lambda m: m["events"][0].__setitem__("clock_skew", "2h"))
    mutant("a clock skew without unit", it, lambda m: m["events"][0].__setitem__("clock_skew", "+2"))
    mutant("a config event that is not an object", it, lambda m: m["events"][2].__setitem__("config", []))
    mutant("a fake event that is not an object", it, lambda m: m["events"][1].__setitem__("fake", "create_list"))
    mutant("sent_with empty", it, lambda m: m["expect"]["job"]["1"].__setitem__("sent_with", []))
    mutant("sent_with repeating", it, lambda m: m["expect"]["job"]["1"].__setitem__("sent_with", [1, 1]))
    mutant("sent_with 0", it, lambda m: m["expect"]["job"]["1"].__setitem__("sent_with", [0, 1]))
    mutant("latency empty", it, lambda m: m["expect"]["job"]["1"].__setitem__("latency", {}))
    mutant("latency bad duration", it, lambda m: m["expect"]["job"]["1"]["latency"].__setitem__("min", "10 seconds"))
    mutant("latency unknown bound", it, lambda m: m["expect"]["job"]["1"]["latency"].__setitem__("exactly", "1s"))
    mutant("by_status 600", it, lambda m: m["expect"]["requests"]["by_status"].__setitem__("600", 1))
    mutant("by_status 4XX", it, lambda m: m["expect"]["requests"]["by_status"].__setitem__("4XX", 1))
    mutant("by_endpoint without path", it, lambda m: m["expect"]["requests"]["by_endpoint"].__setitem__("POST", 1))
    mutant("by_endpoint path without /", it, lambda m: m["expect"]["requests"]["by_endpoint"].__setitem__("POST api", 1))
    rule = lambda m: m["faults"]["rules"][0]["match"]  # noqa: E731
    mutant("body_contains empty", it, lambda m: rule(m).__setitem__("body_contains", ""))
    mutant("body_contains []", it, lambda m: rule(m).__setitem__("body_contains", []))
    mutant("body_contains 33 literals", it, lambda m: rule(m).__setitem__("body_contains", ["x"] * 33))
    mutant("body_contains over 4096", it, lambda m: rule(m).__setitem__("body_contains", "x" * 4097))
    mutant("body_contains [\"\"]", it, lambda m: rule(m).__setitem__("body_contains", [""]))
    mutant("33 headers to match", it, lambda m: rule(m).__setitem__("headers", {f"X-H{i}": "*" for i in range(33)}))
    mutant("a header glob that is not a string", it, lambda m: rule(m)["headers"].__setitem__("X-A", 1))
    mutant("an empty header name", it, lambda m: rule(m)["headers"].__setitem__("", "*"))
    mutant("query not a string", it, lambda m: rule(m).__setitem__("query", 1))
    mutant("lasting 0s", it, lambda m: m["faults"]["rules"].append({"from_request": 1, "lasting": "0s", "garble": True}))
    mutant("must_reject path without /", V2_MUST_REJECT, lambda m: m["must_reject"].__setitem__("path", "destination"))
    mutant("must_reject without path", V2_MUST_REJECT, lambda m: m["must_reject"].pop("path"))
    mutant("must_reject unknown key", V2_MUST_REJECT, lambda m: m["must_reject"].__setitem__("at", "/"))
    mutant("must_reject contains not a string", V2_MUST_REJECT, lambda m: m["must_reject"].__setitem__("contains", 1))
    return out


def migrated(doc):
    """The format 2 rewrite of a format 1 scenario (as `destsim migrate` writes it)."""
    if doc.get("scenario") != 1:
        return None
    out = {}
    for k, v in doc.items():
        if k == "scenario":
            out[k] = 2
        elif k == "crashes":
            events = []
            for c in v:
                e = {f: x for f, x in c.items() if f not in ("restart_after", "optional")}
                e["crash"] = {f: x for f, x in c.items() if f in ("restart_after", "optional")}
                events.append(e)
            out["events"] = events
        else:
            out[k] = v
    return out


# ------------------------------------------------------------------ the shipped files
scenario_files = sorted(glob.glob(os.path.join(src, "scenarios", "*", "*.json")))
assert scenario_files, "no shipped scenarios found"
plan_files = sorted(glob.glob(os.path.join(src, "examples", "fault_plans", "*.json")))
assert plan_files, "no shipped fault plans found"
spec_files = sorted(glob.glob(os.path.join(src, "destinations", "declarative", "specs", "*.json")))
assert spec_files, "no shipped declarative specs found"

scenarios = {}      # name → document: the shipped ones (and their format 2 rewrites), then ours
must_reject = []    # shipped files that declare the loader refuses them
versions = {1: 0, 2: 0}
for path in scenario_files:
    doc = load(path)
    if isinstance(doc, dict) and "must_reject" in doc:
        must_reject.append(path)
        continue
    scenarios[rel(path)] = doc
    versions[doc.get("scenario")] = versions.get(doc.get("scenario"), 0) + 1
    v2 = migrated(doc)
    if v2 is not None:
        scenarios[rel(path) + " (as format 2)"] = v2
scenarios["schema_test.py V2_ITERABLE"] = V2_ITERABLE
scenarios["schema_test.py V2_BULK"] = V2_BULK
for name, doc in scenarios.items():
    err = first_error("scenario", doc)
    if err:
        failures.append(f"{name}: a valid scenario is refused by the schema: {err}")
plans = {rel(p): load(p) for p in plan_files}
for name, doc in plans.items():
    err = first_error("plan", doc)
    if err:
        failures.append(f"{name}: a shipped fault plan is refused by the schema: {err}")
specs = {rel(p): load(p) for p in spec_files}
for name, doc in specs.items():
    err = first_error("spec", doc)
    if err:
        failures.append(f"{name}: a shipped spec is refused by the schema: {err}")

# ------------------------------------------------------------------ mutants

# What the value at a path is, by its key: "any" (free data: skipped, value and
# inside), "container" (free data inside an object or array the format types:
# its own type is mutated, nothing inside), "keyed" (an object whose keys are
# data — ids, statuses, names — and whose values are format: no unknown key
# added to it, its values mutated), or "format".
def scenario_kind(path):
    k, parent = path[-1], path[:-1]
    if k in ("payload", "json", "origin") or (k == "state" and "messages" in parent):
        return "any"  # a record, a fake's answer, provenance, a sync state message
    if k in ("config", "options"):
        return "container"  # the destination's config keys, a fake's options (the loader checks them, not the schema)
    if k == "seed" and parent == ("fake",):
        return "container"  # control operations: the fake's data
    if k == "fake" and (parent == ("expect",) or (len(parent) == 2 and parent[0] == "events")):
        return "container"  # pointers into the fake's state → values; one control operation
    if k in ("job", "by_status", "by_endpoint", "checkpoints", "headers"):
        return "keyed"
    if k == "streams" and parent == ("expect", "sync"):
        return "keyed"
    return "format"


def spec_kind(path):
    k, parent = path[-1], path[:-1]
    if k in ("body", "template") or (k == "item" and parent == ("effect",)):
        return "any"  # templates: free JSON whose strings the loader reads
    if k == "fake_options" or (isinstance(k, str) and k.startswith("Router") and parent == ("bulk",)):
        return "container"
    if k == "headers" or (k == "config" and parent == ()):
        return "keyed"
    return "format"


def plan_kind(path):
    k = path[-1]
    if k == "json":
        return "any"
    if k == "headers":
        return "keyed"
    return "format"


# Mutants the loader accepts though the schema is right to refuse them (the
# loader should refuse them too; until it does, only the schema is checked):
# a fault plan's own "about" is never read, so any type passes.
LOADER_GAPS = ("a wrong type at /faults/about", "a wrong type at /about (fault plan)")


def walk(node, kind_of, path=()):
    """(path, value, kind) for every value under the root (not the root itself)."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for k, v in items:
        p = path + (k,)
        kind = kind_of(p) if isinstance(k, str) else "format"  # an array's items are format
        if kind == "any":
            continue
        yield p, v, kind
        if kind != "container":
            yield from walk(v, kind_of, p)


def at(doc, path):
    for p in path:
        doc = doc[p]
    return doc


def wrong_type(v):
    """A value of another type that no key takes in place of v's."""
    if isinstance(v, str) or v is None:
        return {"x": 1}
    if isinstance(v, (bool, int, float)):
        return "x"
    if isinstance(v, dict):
        return [1]
    return {"x": 1}


def mutants_of(doc, kind_of, fault_rules):
    """(what, mutant) for one document."""
    # An unknown key in every format object (the root included).
    m = copy.deepcopy(doc)
    m["no_such_key_xyz"] = 1
    yield "an unknown key at /", m
    for p, v, kind in walk(doc, kind_of):
        where = "/" + "/".join(map(str, p))
        if isinstance(v, dict) and kind == "format":
            m = copy.deepcopy(doc)
            at(m, p)["no_such_key_xyz"] = 1
            yield f"an unknown key at {where}", m
        # A wrong type for every value that is not free data.
        m = copy.deepcopy(doc)
        at(m, p[:-1])[p[-1]] = wrong_type(v)
        yield f"a wrong type at {where}", m
    if not fault_rules:
        return
    faults = doc.get("faults")
    rules = faults if isinstance(faults, list) else (faults or {}).get("rules", [])
    for i, rule in enumerate(rules):
        m = copy.deepcopy(doc)
        r = m["faults"][i] if isinstance(m["faults"], list) else m["faults"]["rules"][i]
        r["garble"] = True if "garble" not in r else None
        if "garble" in rule:
            r["reset"] = "after"
        yield f"fault rule {i} with two actions", m
    if "input" in doc and "pace" in doc["input"]:
        m = copy.deepcopy(doc)
        m["input"]["pace"] = "10 seconds"
        yield "a bad duration at /input/pace", m


cases = []  # (kind, label, document): each must be refused by the schema and the loader
for name, doc in scenarios.items():
    for what, m in mutants_of(doc, scenario_kind, True):
        cases.append(("scenario", f"{name}: {what}", m))
for what, m in targeted_mutants():
    cases.append(("scenario", f"schema_test.py: {what}", m))
for name, doc in plans.items():
    for what, m in mutants_of(doc, plan_kind, False):
        cases.append(("plan", f"{name}: {what}" + (" (fault plan)" if what.endswith(" at /about") else ""), m))
for name, doc in specs.items():
    for what, m in mutants_of(doc, spec_kind, False):
        cases.append(("spec", f"{name}: {what}", m))
    m = copy.deepcopy(doc)
    m["limits"] = {"bytes_max": 63}
    cases.append(("spec", f"{name}: bytes_max under 64", m))
    m = copy.deepcopy(doc)
    m["bulk"] = {"upload_interval": "0ms"}
    cases.append(("spec", f"{name}: upload_interval zero", m))
    m = copy.deepcopy(doc)
    m["creation"]["method"] = "GET"
    cases.append(("spec", f"{name}: a creation without a body method", m))
    m = copy.deepcopy(doc)
    m["results"] = {"mode": "record", "records_extractor": ["results"]}
    cases.append(("spec", f"{name}: record results without success", m))
    m = copy.deepcopy(doc)
    m["results"] = {"mode": "job", "records_extractor": ["results"]}
    cases.append(("spec", f"{name}: job results with record keys", m))
    m = copy.deepcopy(doc)
    m["config"] = dict(m.get("config", {}), poll_interval={"type": "string"})
    cases.append(("spec", f"{name}: a config key that is a bulk key", m))
    m = copy.deepcopy(doc)
    m["config"] = dict(m.get("config", {}), region={"type": "integer", "default": "eu"})
    cases.append(("spec", f"{name}: a config default of another type", m))
    if "polling" in doc:
        m = copy.deepcopy(doc)
        m["polling"]["status_mapping"]["running"] = ["pending", "pending"]
        cases.append(("spec", f"{name}: a status mapped twice in one list", m))
        m = copy.deepcopy(doc)
        m["creation"]["id_extractor"] = ["id", -1]
        cases.append(("spec", f"{name}: a negative index in an extractor", m))
    else:  # a synchronous spec
        m = copy.deepcopy(doc)
        m["creation"]["id_extractor"] = ["id"]
        cases.append(("spec", f"{name}: a job id in a synchronous spec", m))
        m = copy.deepcopy(doc)
        m["results"]["accepted_extractor"] = ["data", -1]
        cases.append(("spec", f"{name}: a negative index in an extractor", m))
        m = copy.deepcopy(doc)
        m["creation"]["body"] = {"rows": "{{records}}"}
        cases.append(("spec", f"{name}: a JSON body beside CSV columns", m))
        m = copy.deepcopy(doc)
        del m["effect"]
        cases.append(("spec", f"{name}: another fake without an effect", m))
    m = copy.deepcopy(doc)
    m["host"] = "https://api.example.com"
    cases.append(("spec", f"{name}: a host with a scheme", m))

schema_refused = 0
for kind, label, m in cases:
    if validators[kind].is_valid(m):
        failures.append(f"{label}: accepted by the schema (the loader refuses it)")
    else:
        schema_refused += 1


# ------------------------------------------------------------------ the loader
def validate_files(docs, workdir, prefix):
    """Runs `destsim validate` once over the documents: ({index: accepted?}, exit code, stderr)."""
    paths = []
    for i, doc in enumerate(docs):
        p = os.path.join(workdir, f"{prefix}{i:06d}.json")
        with open(p, "w") as f:
            f.write(json.dumps(doc))
        paths.append(p)
    if not paths:
        return {}, 0, ""
    r = subprocess.run([destsim, "validate", *paths], capture_output=True, text=True, timeout=120)
    ok = {line.split(": ok (", 1)[0] for line in r.stdout.splitlines() if ": ok (" in line}
    return {i: p in ok for i, p in enumerate(paths)}, r.returncode, r.stderr


loader_refused = gaps = 0
# Thousands of small files: in memory where there is a tmpfs (/tmp may be a busy disk).
shm = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
with tempfile.TemporaryDirectory(prefix="schema_test.", dir=shm) as work:
    # The documents that must load do.
    good = [("schema_test.py V2_ITERABLE", V2_ITERABLE), ("schema_test.py V2_BULK", V2_BULK),
            ("schema_test.py V2_MUST_REJECT", V2_MUST_REJECT)] + \
           [(n + " (as format 2)", d) for n, d in scenarios.items() if n.endswith(" (as format 2)")]
    accepted, code, err = validate_files([d for _, d in good], work, "good")
    for i, (name, _) in enumerate(good):
        if not accepted[i]:
            failures.append(f"{name}: refused by the loader (destsim validate): {err.strip()[:400]}")
    # Shipped scenarios that declare "must_reject": the loader refuses them as declared.
    for path in must_reject:
        r = subprocess.run([destsim, "validate", path], capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            failures.append(f"{rel(path)}: declares must_reject, but `destsim validate` exits {r.returncode}: "
                            f"{r.stderr.strip()[:400]}")
    # Every mutant: refused by the loader, bad input (exit 2).
    accepted, code, err = validate_files([m for _, _, m in cases], work, "mutant")
    if code not in (0, 2):
        failures.append(f"destsim validate over the mutants exited {code} (expected 2: bad input): {err.strip()[-400:]}")
    for i, (_, label, _) in enumerate(cases):
        if label.endswith(LOADER_GAPS):
            gaps += accepted[i]
            loader_refused += not accepted[i]
        elif accepted[i]:
            failures.append(f"{label}: accepted by the loader (destsim validate), so not a mutant")
        else:
            loader_refused += 1

elapsed = time.monotonic() - started
if failures:
    print("\n".join(failures[:60]))
    print(f"schema_test: {len(failures)} failures ({elapsed:.1f}s)")
    sys.exit(1)
print(f"schema_test: {len(scenario_files) - len(must_reject)} scenarios (format 1: {versions.get(1, 0)}, "
      f"format 2: {versions.get(2, 0)}), {versions.get(1, 0)} format 2 rewrites, {len(plan_files)} fault plans and "
      f"{len(spec_files)} specs valid; {len(must_reject)} must_reject scenarios refused by the loader as declared; "
      f"{schema_refused} of {len(cases)} mutants refused by the schema, {loader_refused} by the loader"
      + (f" ({gaps} known loader gaps: LOADER_GAPS)" if gaps else "") + f" ({elapsed:.1f}s)")
