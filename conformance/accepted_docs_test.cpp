// Each fake documents its accepted state (what `expect.fake` JSON pointers and
// GET /_destsim/accepted read) in fakes/<name>/ACCEPTED.md, with a sample in a
// ```json block. This test runs a shipped scenario on each fake and checks the
// live accepted state has the sample's shape: the same keys in every object
// (an object whose one key is written "<…>" is a map keyed by data: each of its
// values has that value's shape), every array element shaped like the sample's
// first, the same JSON types (null in the sample: any value); a key written
// "name?" may be absent. A fake that gains
// or loses a key fails here until its document says so.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "conformance/runner.h"
#include "conformance/scenario.h"
#include "fakes/catalog.h"

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

struct Case {
  const char* fake;
  const char* scenario;
};
void PrintTo(const Case& c, std::ostream* os) { *os << c.fake << " after " << c.scenario; }

class AcceptedDocs : public ::testing::TestWithParam<Case> {};

TEST_P(AcceptedDocs, TheLiveStateHasTheDocumentedShape) {
  const Case c = GetParam();
  const std::string doc = std::string(DESTSIM_SOURCE_DIR) + "/fakes/" + c.fake + "/ACCEPTED.md";
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

INSTANTIATE_TEST_SUITE_P(
    EveryFake, AcceptedDocs,
    ::testing::Values(Case{"iterable", "iterable/5xx-then-recovery.json"},
                      Case{"klaviyo", "klaviyo/import-errors-paginated.json"},
                      Case{"marketo", "marketo/failures-warnings-identical-rows.json"},
                      Case{"async_job", "declarative/record-level-invalid.json"},
                      Case{"warehouse", "sync/crash-between-staging-and-commit.json"},
                      Case{"sftp", "sftp/crash-after-rename.json"}),
    [](const auto& info) { return std::string(info.param.fake); });

}  // namespace
}  // namespace destsim
