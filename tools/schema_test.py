#!/usr/bin/python3
"""schema_test.py SRC — the JSON Schemas in schemas/ against the shipped files,
with an independent validator (Debian's python3-jsonschema), not destsim's
loader: every shipped scenario and fault plan validates, and mutants the
loader refuses (an unknown key at every object, a wrong type at every value,
a bad duration, a second action on a fault rule) are refused by the schema too.
"""
import copy
import glob
import json
import os
import sys

import jsonschema

src = sys.argv[1]
schemas = {}
for path in glob.glob(os.path.join(src, "schemas", "*.schema.json")):
    with open(path) as f:
        s = json.load(f)
    jsonschema.Draft202012Validator.check_schema(s)
    schemas[s["$id"]] = s
scenario_schema = schemas["https://destsim.dev/schemas/scenario.schema.json"]
plan_schema = schemas["https://destsim.dev/schemas/fault_plan.schema.json"]


def validator(schema):
    resolver = jsonschema.RefResolver.from_schema(schema, store=schemas)
    return jsonschema.Draft202012Validator(schema, resolver=resolver)


scenario_v = validator(scenario_schema)
plan_v = validator(plan_schema)
failures = []

files = sorted(glob.glob(os.path.join(src, "scenarios", "*", "*.json")))
assert files, "no shipped scenarios found"
docs = {}
for path in files:
    with open(path) as f:
        doc = json.load(f)
    docs[path] = doc
    errors = sorted(scenario_v.iter_errors(doc), key=lambda e: list(e.path))
    if errors:
        failures.append(f"{path}: a shipped scenario is refused by the schema: "
                        f"/{'/'.join(map(str, errors[0].path))}: {errors[0].message}")
plans = sorted(glob.glob(os.path.join(src, "examples", "fault_plans", "*.json")))
assert plans, "no shipped fault plans found"
for path in plans:
    with open(path) as f:
        doc = json.load(f)
    for e in plan_v.iter_errors(doc):
        failures.append(f"{path}: a shipped fault plan is refused: {e.message}")
        break


def objects(node, path=()):
    """Every object in a document with its path, skipping free-form values."""
    free = {"config", "options", "payload", "state", "json", "origin"}
    if isinstance(node, dict):
        yield path, node
        for k, v in node.items():
            if k in free or (k == "fake" and path == ("expect",)):
                continue  # the values there are data, not format
            if k in ("job", "by_status", "streams", "checkpoints", "headers") and isinstance(v, dict):
                continue  # keys there are data (ids, statuses, names), not format
            yield from objects(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from objects(v, path + (i,))


def at(doc, path):
    for p in path:
        doc = doc[p]
    return doc


mutants = refused = 0
for path, doc in docs.items():
    # An unknown key in every format object.
    for p, obj in list(objects(doc)):
        m = copy.deepcopy(doc)
        at(m, p)["no_such_key_xyz"] = 1
        mutants += 1
        if scenario_v.is_valid(m):
            failures.append(f"{path}: an unknown key at /{'/'.join(map(str, p))} is accepted by the schema")
        else:
            refused += 1
    # A wrong type for every top-level section and every fault rule's action.
    for key in doc:
        if key == "origin":
            continue
        m = copy.deepcopy(doc)
        m[key] = [] if not isinstance(doc[key], list) else {"x": 1}
        mutants += 1
        if scenario_v.is_valid(m):
            failures.append(f"{path}: a wrong type at /{key} is accepted by the schema")
        else:
            refused += 1
    faults = doc.get("faults")
    rules = faults if isinstance(faults, list) else (faults or {}).get("rules", [])
    for i, rule in enumerate(rules):
        m = copy.deepcopy(doc)
        r = m["faults"][i] if isinstance(m["faults"], list) else m["faults"]["rules"][i]
        r["garble"] = True if "garble" not in r else None
        if "garble" in rule:
            r["reset"] = "after"
        mutants += 1
        if scenario_v.is_valid(m):
            failures.append(f"{path}: fault rule {i} with two actions is accepted by the schema")
        else:
            refused += 1
    if "input" in doc and "pace" in doc["input"]:
        m = copy.deepcopy(doc)
        m["input"]["pace"] = "10 seconds"
        mutants += 1
        if scenario_v.is_valid(m):
            failures.append(f"{path}: a bad duration at /input/pace is accepted by the schema")
        else:
            refused += 1

if failures:
    print("\n".join(failures[:40]))
    print(f"schema_test: {len(failures)} failures")
    sys.exit(1)
print(f"schema_test: {len(files)} scenarios and {len(plans)} fault plans valid; "
      f"{refused} of {mutants} mutants refused by the schema")
