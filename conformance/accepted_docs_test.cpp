// Each fake documents its accepted state (what `expect.fake` JSON pointers and
// GET /_destsim/accepted read) in fakes/<name>/ACCEPTED.md, with a sample in a
// ```json block. This test runs a shipped scenario on each fake and checks the
// live accepted state has the sample's shape: the same keys in every object
// (an object whose one key is written "<…>" is a map keyed by data: each of its
// values has that value's shape), every array element shaped like the sample's
// first, the same JSON types (null in the sample: any value); a key written
// "name?" may be absent. A fake that gains
// or loses a key fails here until its document says so.
//
// Each document also lists the fake's control operations (Fake::control) in a
// "## Operations" section, one bullet per operation starting with its name and
// an example: "- `delete_list` (`{"delete_list": 42}`): what it does…". The
// names must be exactly the fake's control_ops() (an operation added without
// its doc, or documented but gone, fails here), and the examples, applied in
// the order listed to a fresh fake made with the options of the scenario that
// checks the sample, must each be accepted.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

#include "conformance/runner.h"
#include "conformance/scenario.h"
#include "destinations/destination.h"
#include "fakes/catalog.h"
#include "framework/config.h"
#include "framework/json_in.h"

namespace destsim {
namespace {

std::string read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The first ```json block of the document.
nlohmann::json sample_of(const std::string& doc_path) {
  const std::string text = read(doc_path);
  const auto start = text.find("```json\n");
  if (start == std::string::npos) return nlohmann::json();
  const auto end = text.find("```", start + 8);
  return nlohmann::json::parse(text.substr(start + 8, end - start - 8), nullptr, false);
}

const char* type_name(const nlohmann::json& j) { return j.type_name(); }

// The live state cut to a sample's size: one element per array, two entries of
// a large object (a map keyed by data), for the failure message.
nlohmann::json abridged(const nlohmann::json& j) {
  if (j.is_array()) return j.empty() ? j : nlohmann::json::array({abridged(j[0])});
  if (!j.is_object()) return j;
  nlohmann::json out = nlohmann::json::object();
  std::size_t n = 0;
  for (auto it = j.begin(); it != j.end() && (j.size() <= 12 || n < 2); ++it, ++n) out[it.key()] = abridged(it.value());
  return out;
}

// Differences between the live value and the sample's shape, as JSON pointers.
void compare(const nlohmann::json& live, const nlohmann::json& sample, const std::string& at,
             std::vector<std::string>& out) {
  if (sample.is_null()) return;  // any value
  if (sample.is_number() && live.is_number()) return;
  if (sample.type() != live.type()) {
    out.push_back(at + ": documented " + type_name(sample) + ", is " + type_name(live));
    return;
  }
  if (sample.is_object()) {
    if (sample.size() == 1 && sample.begin().key().rfind('<', 0) == 0) {
      for (auto it = live.begin(); it != live.end(); ++it)
        compare(it.value(), sample.begin().value(), at + "/" + it.key(), out);
      return;
    }
    // A documented key ending in '?' may be absent.
    for (auto it = sample.begin(); it != sample.end(); ++it)
      if (it.key().back() != '?' && !live.contains(it.key())) out.push_back(at + "/" + it.key() + ": documented, absent");
    for (auto it = live.begin(); it != live.end(); ++it) {
      const std::string optional = it.key() + "?";
      if (!sample.contains(it.key()) && !sample.contains(optional)) {
        out.push_back(at + "/" + it.key() + ": present, not documented");
        continue;
      }
      compare(it.value(), sample.contains(it.key()) ? sample[it.key()] : sample[optional], at + "/" + it.key(), out);
    }
  } else if (sample.is_array() && !sample.empty()) {
    for (std::size_t i = 0; i < live.size(); ++i) compare(live[i], sample[0], at + "/" + std::to_string(i), out);
  }
}

// ---------------------------------------------------------------- operations

// One bullet of a document's "## Operations" section.
struct DocOperation {
  std::string name;
  nlohmann::json example;  // the operation as written: {"<name>": …}
  int line = 0;            // 1-based, in the document
};

struct DocOperations {
  bool found = false;  // the document has a "## Operations" section
  std::vector<DocOperation> ops;
  std::vector<std::string> errors;  // bullets that do not parse, as "line N: why"
};

// The operations a document lists: the top-level bullets "- `name` (`{json}`)…"
// from its "## Operations" heading to the next "## " heading (lines inside a
// ``` fence are skipped). A bullet that names no operation in backticks, whose
// example is not a JSON object whose one key is that name, or that repeats a
// name is an error.
DocOperations operations_of(const std::string& text) {
  DocOperations out;
  std::istringstream in(text);
  std::string line;
  bool inside = false, fenced = false;
  std::set<std::string> seen;
  for (int n = 1; std::getline(in, line); ++n) {
    if (line.rfind("```", 0) == 0) {
      fenced = !fenced;
      continue;
    }
    if (fenced) continue;
    if (line.rfind("## ", 0) == 0) {
      inside = line == "## Operations";
      out.found = out.found || inside;
      continue;
    }
    if (!inside || line.rfind("- ", 0) != 0) continue;
    const std::string at = "line " + std::to_string(n) + ": ";
    const std::string form = "an operation is written - `name` (`{\"name\": …}`): …";
    if (line.rfind("- `", 0) != 0) {
      out.errors.push_back(at + "a bullet that names no operation; " + form);
      continue;
    }
    const auto name_end = line.find('`', 3);
    if (name_end == std::string::npos || name_end == 3) {
      out.errors.push_back(at + "no operation name in backticks; " + form);
      continue;
    }
    DocOperation op;
    op.name = line.substr(3, name_end - 3);
    op.line = n;
    if (line.compare(name_end + 1, 3, " (`") != 0) {
      out.errors.push_back(at + "`" + op.name + "` has no example after it; " + form);
      continue;
    }
    const auto example_start = name_end + 4;
    const auto example_end = line.find('`', example_start);
    if (example_end == std::string::npos || line.compare(example_end, 2, "`)") != 0) {
      out.errors.push_back(at + "the example of `" + op.name + "` does not end with `) on its line; " + form);
      continue;
    }
    op.example = nlohmann::json::parse(line.substr(example_start, example_end - example_start), nullptr, false);
    if (op.example.is_discarded() || !op.example.is_object() || op.example.size() != 1 ||
        !op.example.contains(op.name)) {
      out.errors.push_back(at + "the example of `" + op.name + "` is not a JSON object whose one key is \"" +
                           op.name + "\"");
      continue;
    }
    if (!seen.insert(op.name).second) {
      out.errors.push_back(at + "`" + op.name + "` is listed twice");
      continue;
    }
    out.ops.push_back(std::move(op));
  }
  return out;
}

// What is wrong with a document's operations against the fake's control_ops()
// ("set_api_key, request"): the section's own errors, then each operation the
// fake takes that is not documented and each documented one it does not take.
std::vector<std::string> operations_mismatch(const DocOperations& doc, const std::string& control_ops) {
  std::vector<std::string> out;
  if (!doc.found) out.push_back("no \"## Operations\" section");
  out.insert(out.end(), doc.errors.begin(), doc.errors.end());
  std::set<std::string> actual;
  std::stringstream names(control_ops);
  for (std::string name; std::getline(names, name, ',');) {
    name.erase(0, name.find_first_not_of(' '));
    name.erase(name.find_last_not_of(' ') + 1);
    if (!name.empty()) actual.insert(name);
  }
  std::set<std::string> documented;
  for (const auto& op : doc.ops) documented.insert(op.name);
  for (const auto& name : actual)
    if (!documented.count(name)) out.push_back("`" + name + "` is an operation of the fake, not documented");
  for (const auto& op : doc.ops)
    if (!actual.count(op.name))
      out.push_back("line " + std::to_string(op.line) + ": `" + op.name + "` is documented, not an operation of the fake");
  return out;
}

std::string doc_path_of(const std::string& fake) {
  return std::string(DESTSIM_SOURCE_DIR) + "/fakes/" + fake + "/ACCEPTED.md";
}

std::string lines(const std::vector<std::string>& v) {
  std::string all;
  for (const auto& s : v) all += "\n  " + s;
  return all;
}

struct Case {
  const char* fake;
  const char* scenario;
};
void PrintTo(const Case& c, std::ostream* os) { *os << c.fake << " after " << c.scenario; }

// The shape is checked after these runs (and the examples on these options).
const Case kCases[] = {{"iterable", "iterable/5xx-then-recovery.json"},
                       {"klaviyo", "klaviyo/import-errors-paginated.json"},
                       {"marketo", "marketo/failures-warnings-identical-rows.json"},
                       {"async_job", "declarative/record-level-invalid.json"},
                       {"warehouse", "sync/crash-between-staging-and-commit.json"},
                       {"sftp", "sftp/crash-after-rename.json"},
                       {"yandex_metrica", "yandex_metrica/linkage-failure-uploaded-again.json"},
                       {"eloqua", "eloqua/sync-error-uploaded-again.json"},
                       {"bingads", "bingads_offline_conversions/rows-refused-in-the-result-file.json"},
                       {"lytics", "lytics_bulk_upload/rate-limited-retry-after-waited-out.json"},
                       {"snowpipe", "snowpipe_streaming/discards-written-after-commit-never-doubled.json"},
                       {"scripted", "iterable/go-fake-transport-two-fails-one-429.json"}};

class AcceptedDocs : public ::testing::TestWithParam<Case> {};

TEST_P(AcceptedDocs, TheLiveStateHasTheDocumentedShape) {
  const Case c = GetParam();
  const std::string doc = doc_path_of(c.fake);
  auto s = load_scenario(std::string(DESTSIM_SOURCE_DIR) + "/scenarios/" + c.scenario);
  ASSERT_TRUE(s.ok()) << s.error().message;
  auto o = run_scenario(*s);
  ASSERT_TRUE(o.ok()) << o.error().message;
  const nlohmann::json live = o->fake().accepted();
  const nlohmann::json sample = sample_of(doc);
  ASSERT_TRUE(sample.is_object()) << doc << ": no ```json sample of the accepted state; the live one is:\n"
                                  << abridged(live).dump(2).substr(0, 6000);
  std::vector<std::string> diff;
  compare(live, sample, "", diff);
  std::string all;
  for (std::size_t i = 0; i < diff.size() && i < 20; ++i) all += "\n  " + diff[i];
  if (diff.size() > 20) all += "\n  … and " + std::to_string(diff.size() - 20) + " more";
  EXPECT_TRUE(diff.empty()) << doc << " does not describe the accepted state of " << c.fake << ":" << all
                            << "\nlive: " << live.dump().substr(0, 1500);
}

// The shape check itself fails on hand-built differences.
TEST(AcceptedDocsShape, FailsOnAMissingAnExtraAndAMistypedKey) {
  const auto sample = nlohmann::json::parse(R"({"a": 1, "b": "x", "m": {"<id>": {"n": 1}}, "l": [{"k": true}]})");
  std::vector<std::string> diff;
  compare(nlohmann::json::parse(R"({"a": 2, "b": "y", "m": {"7": {"n": 3}}, "l": [{"k": false}]})"), sample, "", diff);
  EXPECT_TRUE(diff.empty());
  compare(nlohmann::json::parse(R"({"a": "2", "m": {"7": {"n": 3, "z": 1}}, "l": [{"k": 1}], "c": 0})"), sample, "",
          diff);
  ASSERT_EQ(diff.size(), 5u);
  EXPECT_EQ(diff[0], "/b: documented, absent");
  EXPECT_EQ(diff[1], "/a: documented number, is string") << diff[1];
}

// The documented examples, applied in the order listed to a fresh fake with
// the options the case's scenario gives it, are each accepted by control().
TEST_P(AcceptedDocs, TheDocumentedOperationExamplesAreAccepted) {
  const Case c = GetParam();
  const std::string doc = doc_path_of(c.fake);
  auto s = load_scenario(std::string(DESTSIM_SOURCE_DIR) + "/scenarios/" + c.scenario);
  ASSERT_TRUE(s.ok()) << s.error().message;
  const DestinationEntry* entry = find_destination(s->destination);
  ASSERT_NE(entry, nullptr) << s->destination;
  const FakeEntry* fe = scenario_fake(*s, *entry);
  ASSERT_NE(fe, nullptr);
  ASSERT_EQ(fe->name, c.fake) << c.scenario << " runs on another fake";
  auto config = Config::resolve(s->config, s->destination, entry->schema, c.scenario);
  ASSERT_TRUE(config.ok()) << config.error().message;
  auto fake = fe->make(scenario_fake_options(*s, *entry, *config), c.scenario);
  ASSERT_TRUE(fake.ok()) << fake.error().message;
  const DocOperations ops = operations_of(read(doc));
  ASSERT_FALSE(ops.ops.empty()) << doc << ": no operations listed";
  for (const DocOperation& op : ops.ops) {
    Status st = (*fake)->control(JsonIn(op.example, doc + ":" + std::to_string(op.line)), kTimeZero);
    EXPECT_TRUE(st.ok()) << doc << ":" << op.line << ": the example of `" << op.name << "` (" << op.example.dump()
                         << ") is refused: " << st.error().message;
  }
}

INSTANTIATE_TEST_SUITE_P(EveryFake, AcceptedDocs, ::testing::ValuesIn(kCases),
                         [](const auto& info) { return std::string(info.param.fake); });

// Every fake in the catalog has a document whose "## Operations" section lists
// exactly the operations its control() takes, and a case above.
TEST(AcceptedDocsOperations, EveryFakeDocumentsExactlyItsOperations) {
  for (const FakeEntry* e : all_fakes()) {
    auto fake = e->make(nlohmann::json::object(), "options");
    ASSERT_TRUE(fake.ok()) << e->name << ": " << fake.error().message;
    const std::string doc = doc_path_of(e->name);
    const std::string text = read(doc);
    ASSERT_FALSE(text.empty()) << doc << ": missing (fake " << e->name << ")";
    const auto diff = operations_mismatch(operations_of(text), (*fake)->control_ops());
    EXPECT_TRUE(diff.empty()) << doc << " does not list the operations of fake " << e->name << " ("
                              << (*fake)->control_ops() << "):" << lines(diff);
    EXPECT_TRUE(std::any_of(std::begin(kCases), std::end(kCases), [&](const Case& c) { return c.fake == e->name; }))
        << "fake " << e->name << " has no case in accepted_docs_test: its sample and examples are never checked";
  }
}

// The operations check itself fails on hand-built documents.
TEST(AcceptedDocsOperations, FailsOnAMissingAnExtraAndAMalformedOperation) {
  const std::string good = R"(# A fake
- `not_an_op` (`{"not_an_op": 1}`): before the section, not read.

## Operations

Some words, then the bullets:

- `set_api_key` (`{"set_api_key": "k"}`): rotates the key.
  - `nested` (`{"nested": 1}`): a sub-bullet, not an operation.
- `request` (`{"request": {"method": "GET", "path": "/"}}`): a seeding request.

```
- `in_a_fence` (`{"in_a_fence": 1}`): not read either.
```

## After

- `after` (`{"after": 1}`): after the section, not read.
)";
  const DocOperations ok = operations_of(good);
  ASSERT_TRUE(ok.found);
  ASSERT_EQ(ok.ops.size(), 2u) << lines(ok.errors);
  EXPECT_EQ(ok.ops[0].name, "set_api_key");
  EXPECT_EQ(ok.ops[0].line, 8);
  EXPECT_EQ(ok.ops[1].example["request"]["path"], "/");
  EXPECT_TRUE(operations_mismatch(ok, "set_api_key, request").empty());
  EXPECT_TRUE(operations_mismatch(ok, "request, set_api_key").empty());  // order is free

  // One operation of the fake left out of the document; one documented that it lacks.
  auto missing = operations_mismatch(ok, "set_api_key, create_list, request");
  ASSERT_EQ(missing.size(), 1u);
  EXPECT_EQ(missing[0], "`create_list` is an operation of the fake, not documented");
  auto extra = operations_mismatch(ok, "request");
  ASSERT_EQ(extra.size(), 1u);
  EXPECT_EQ(extra[0], "line 8: `set_api_key` is documented, not an operation of the fake");

  // Malformed bullets: no example, an example of another operation, bad JSON, a repeat, no name.
  const DocOperations bad = operations_of(R"(## Operations
- `set_api_key`: rotates the key.
- `create_list` (`{"delete_list": 1}`): the wrong key.
- `delete_list` (`{"delete_list": }`): not JSON.
- `request` (`{"request": {}}`): once.
- `request` (`{"request": {}}`): twice.
- request, without backticks.
)");
  ASSERT_EQ(bad.errors.size(), 5u) << lines(bad.errors);
  EXPECT_NE(bad.errors[0].find("line 2: `set_api_key` has no example"), std::string::npos) << bad.errors[0];
  EXPECT_NE(bad.errors[1].find("line 3: the example of `create_list` is not a JSON object whose one key is"),
            std::string::npos)
      << bad.errors[1];
  EXPECT_NE(bad.errors[2].find("line 4: the example of `delete_list`"), std::string::npos) << bad.errors[2];
  EXPECT_EQ(bad.errors[3], "line 6: `request` is listed twice");
  EXPECT_NE(bad.errors[4].find("line 7: a bullet that names no operation"), std::string::npos) << bad.errors[4];
  auto diff = operations_mismatch(bad, "request");
  EXPECT_EQ(diff.size(), 5u) << lines(diff);  // the section's errors are the mismatch's too

  // The shipped Iterable document with its delete_list bullet cut out fails
  // against the live fake; with a made-up operation added, too.
  std::string iterable_doc = read(doc_path_of("iterable"));
  const auto cut = iterable_doc.find("\n- `delete_list` (");
  ASSERT_NE(cut, std::string::npos);
  const auto cut_end = iterable_doc.find("\n- `", cut + 1);
  ASSERT_NE(cut_end, std::string::npos);
  auto iterable = find_fake("iterable")->make(nlohmann::json::object(), "options");
  ASSERT_TRUE(iterable.ok());
  EXPECT_TRUE(operations_mismatch(operations_of(iterable_doc), (*iterable)->control_ops()).empty());
  const std::string without = iterable_doc.substr(0, cut) + iterable_doc.substr(cut_end);
  auto gone = operations_mismatch(operations_of(without), (*iterable)->control_ops());
  ASSERT_EQ(gone.size(), 1u) << lines(gone);
  EXPECT_EQ(gone[0], "`delete_list` is an operation of the fake, not documented");
  auto invented = operations_mismatch(
      operations_of(iterable_doc + "- `purge_users` (`{\"purge_users\": true}`): made up.\n"),
      (*iterable)->control_ops());
  ASSERT_EQ(invented.size(), 1u) << lines(invented);
  EXPECT_NE(invented[0].find("`purge_users` is documented, not an operation of the fake"), std::string::npos);

  // A document without the section.
  auto none = operations_mismatch(operations_of("# A fake\n\n- `request` (`{\"request\": 1}`): x\n"), "request");
  ASSERT_EQ(none.size(), 2u) << lines(none);
  EXPECT_EQ(none[0], "no \"## Operations\" section");
}

}  // namespace
}  // namespace destsim
