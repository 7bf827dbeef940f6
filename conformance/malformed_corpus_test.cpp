// malformed_corpus_test.cpp — every shipped scenario and declarative spec,
// mutated the ways a hostile or careless user breaks a file: truncated, a wrong
// type at every JSON path, nesting past the limit, numbers past every range.
// Each mutant must be refused as bad input (exit 2) with its file and a
// location (a JSON path or a line and column) — never accepted, never a crash.
//
// The corpus is generated here from the files in the tree, so a new scenario
// or a new key is covered the day it lands.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "conformance/certify.h"
#include "conformance/runner.h"
#include "conformance/scenario.h"
#include "destinations/destination.h"
#include "framework/json_in.h"

namespace destsim {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> shipped(const std::string& dir) {
  std::vector<std::string> files;
  for (const auto& e : fs::recursive_directory_iterator(std::string(DESTSIM_SOURCE_DIR) + "/" + dir))
    if (e.is_regular_file() && e.path().extension() == ".json") files.push_back(e.path().string());
  std::sort(files.begin(), files.end());  // directory order is the file system's
  return files;
}

std::string read_text(const std::string& path) {
  auto doc = read_json_file(path);
  EXPECT_TRUE(doc.ok()) << path;
  return doc.ok() ? doc->dump(2) : std::string();
}

/// Paths whose values are free JSON by design (a record's payload, a state
/// message, the values `expect.fake` compares, the provenance `origin`,
/// a fake's answer body, the rows a warehouse table starts with, a declarative
/// record template or effect item): a wrong type there is data, not a mistake.
bool free_form(const std::string& pointer) {
  for (const char* p : {"/payload", "/state", "/origin", "/expect/fake/", "/json", "/about", "/default", "/rows/", "/template",
                        "/effect/item"})
    if (pointer.find(p) != std::string::npos) return true;
  return false;
}

/// Every JSON pointer in `j` (not the root).
void pointers(const nlohmann::json& j, const std::string& at, std::vector<std::string>& out) {
  if (j.is_object()) {
    for (auto it = j.begin(); it != j.end(); ++it) {
      std::string p = at + "/" + json_pointer_escape(it.key());
      out.push_back(p);
      pointers(it.value(), p, out);
    }
  } else if (j.is_array()) {
    for (std::size_t i = 0; i < j.size(); ++i) {
      std::string p = at + "/" + std::to_string(i);
      out.push_back(p);
      pointers(j[i], p, out);
    }
  }
}

/// A value of another type that no key accepts in place of `v`'s type.
nlohmann::json wrong_type(const nlohmann::json& v) {
  if (v.is_string()) return {{"x", 1}};
  if (v.is_number() || v.is_boolean()) return "x";
  if (v.is_object()) return nlohmann::json::array({1});
  if (v.is_array()) return {{"x", 1}};
  return {{"x", 1}};
}

struct Verdict {
  bool refused = false;  // bad input with a location
  std::string message;
};

using Loader = std::function<Status(const std::string& text, const std::string& where)>;

Status load_scenario_text(const std::string& text, const std::string& where) {
  DS_TRY(nlohmann::json doc, parse_json_text(text, where));
  DS_TRY(Scenario s, parse_scenario(doc, where));
  // What only a run can check (the fake's options, the destination's config
  // against its factory) is still bad input, exit 2: run the mutant.
  auto out = run_scenario(s);
  if (!out.ok()) return out.error();
  return Status::success();
}

Status load_spec_text(const std::string& text, const std::string& where) {
  DS_TRY(nlohmann::json doc, parse_json_text(text, where));
  DS_TRY(DestinationEntry e, destination_from_spec_checked(doc, where));
  return Status::success();
}

Verdict judge(const Loader& load, const std::string& text, const std::string& where) {
  Status st = load(text, where);
  Verdict v;
  if (st.ok()) return v;
  v.message = st.error().message;
  const bool located = v.message.rfind(where + ": ", 0) == 0 &&
                       (v.message.find(": /") != std::string::npos || v.message.find(": line ") != std::string::npos);
  v.refused = st.error().code == ErrorCode::bad_input && located;
  return v;
}

struct Tally {
  int mutants = 0;
  std::vector<std::string> failures;  // at most a few, to read
  int failed = 0;
  void add(const std::string& what, const Verdict& v) {
    ++mutants;
    if (v.refused) return;
    ++failed;
    if (failures.size() < 12) failures.push_back(what + " → " + (v.message.empty() ? "accepted" : v.message));
  }
};

void mutate_file(const std::string& file, const Loader& load, Tally& t) {
  const std::string text = read_text(file);
  ASSERT_FALSE(text.empty()) << file;
  ASSERT_TRUE(load(text, file).ok()) << file << ": the shipped file itself does not load";
  const nlohmann::json doc = nlohmann::json::parse(text);

  // Truncations: at 16 points through the text (never the whole).
  for (int k = 0; k < 16; ++k) {
    std::size_t cut = text.size() * static_cast<std::size_t>(k) / 16;
    t.add(file + " cut at " + std::to_string(cut), judge(load, text.substr(0, cut), file));
  }
  // A NUL after the document; nesting past the limit at the root and deep inside.
  t.add(file + " trailing NUL", judge(load, text + std::string(1, '\0'), file));
  // 100,000 levels once overflowed the stack when the value was copied.
  t.add(file + " wrapped 100000 deep",
        judge(load, std::string(100'000, '[') + text + std::string(100'000, ']'), file));
  std::vector<std::string> all;
  pointers(doc, "", all);
  for (const auto& p : all) {
    const nlohmann::json& v = doc.at(nlohmann::json::json_pointer(p));
    const bool free = free_form(p);
    if (!free) {
      nlohmann::json m = doc;
      m[nlohmann::json::json_pointer(p)] = wrong_type(v);
      t.add(file + " " + p + " = " + m[nlohmann::json::json_pointer(p)].dump(), judge(load, m.dump(), file));
      if (v.is_number()) {
        // Past every range a key declares: beyond int64, and negative.
        for (const char* big : {"1e19", "-1e19"}) {
          m[nlohmann::json::json_pointer(p)] = "@@@";
          std::string s = m.dump();
          s.replace(s.find("\"@@@\""), 5, big);
          t.add(file + " " + p + " = " + big, judge(load, s, file));
        }
      }
    }
    // Out-of-range and deep values are refused anywhere, free-form or not.
    nlohmann::json m = doc;
    m[nlohmann::json::json_pointer(p)] = "@@@";
    std::string s = m.dump();
    const auto at = s.find("\"@@@\"");
    std::string huge = s, deep = s;
    huge.replace(at, 5, "1e400");
    deep.replace(at, 5, std::string(200, '[') + std::string(200, ']'));
    t.add(file + " " + p + " = 1e400", judge(load, huge, file));
    t.add(file + " " + p + " nested 200 deep", judge(load, deep, file));
  }
}

TEST(MalformedCorpus, EveryMutantOfEveryShippedScenarioIsRefusedWithItsLocation) {
  Tally t;
  auto files = shipped("scenarios");
  ASSERT_GE(files.size(), 40u);
  for (const auto& f : files) {
    // A file that must be refused at load is its own test (check_rejection); its mutants prove nothing.
    if (read_text(f).find("\"must_reject\"") != std::string::npos) continue;
    mutate_file(f, load_scenario_text, t);
  }
  RecordProperty("mutants", t.mutants);
  std::printf("%d scenario mutants from %zu files, %d not refused with a location\n", t.mutants, files.size(),
              t.failed);
  EXPECT_EQ(t.failed, 0) << [&] {
    std::string s;
    for (const auto& f : t.failures) s += "\n  " + f;
    return s;
  }();
}

TEST(MalformedCorpus, EveryMutantOfEveryShippedSpecIsRefusedWithItsLocation) {
  Tally t;
  auto files = shipped("destinations/declarative/specs");
  ASSERT_GE(files.size(), 2u);
  for (const auto& f : files) mutate_file(f, load_spec_text, t);
  std::printf("%d spec mutants from %zu files, %d not refused with a location\n", t.mutants, files.size(), t.failed);
  EXPECT_EQ(t.failed, 0) << [&] {
    std::string s;
    for (const auto& f : t.failures) s += "\n  " + f;
    return s;
  }();
}

}  // namespace
}  // namespace destsim
