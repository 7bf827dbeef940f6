// path_template_test.cpp — placeholders, required ones, traversal refusals,
// part numbers.
#include "destinations/sftp/path_template.h"

#include <gtest/gtest.h>

namespace destsim {
namespace {

// 2024-08-27T09:13:20.045Z
constexpr std::int64_t kWhen = 1'724'750'000'045;

PathValues values() { return PathValues{"dest", "run", kWhen}; }

TEST(PathTemplate, FillsEveryPlaceholderFromTheValuesAndTheClock) {
  EXPECT_EQ(fill_placeholders("/t/{destinationID}_{jobRunID}/file_{YYYY}_{MM}_{DD}_{timestampInSec}.csv", values()),
            "/t/dest_run/file_2024_08_27_1724750000.csv");
  EXPECT_EQ(fill_placeholders("{hh}:{mm}:{ss}.{ms} {timestampInMS}", values()), "09:13:20.045 1724750000045");
  // Zero padding: 2024-01-02T03:04:05.006Z.
  EXPECT_EQ(fill_placeholders("{YYYY}{MM}{DD}{hh}{mm}{ss}{ms}", PathValues{"d", "r", 1'704'164'645'006}),
            "20240102030405006");
}

TEST(PathTemplate, LeavesUnknownPlaceholdersAndLoneBracesUnchanged) {
  EXPECT_EQ(fill_placeholders("/x/{unknown}/{jobRunID}/{", values()), "/x/{unknown}/run/{");
  EXPECT_EQ(fill_placeholders("/x/{{jobRunID}}", values()), "/x/{run}");
  EXPECT_EQ(fill_placeholders("/x/{destinationid}", values()), "/x/{destinationid}");  // names are case-sensitive
}

TEST(PathTemplate, RequiresDestinationIdAndJobRunIdAndAnAbsolutePath) {
  auto no_run = PathTemplate::parse("/x/{destinationID}/f.csv", "sftp config: file_path");
  ASSERT_FALSE(no_run.ok());
  EXPECT_NE(no_run.error().message.find("sftp config: file_path"), std::string::npos);
  EXPECT_NE(no_run.error().message.find("{jobRunID}"), std::string::npos);
  auto no_dest = PathTemplate::parse("/x/{jobRunID}/f.csv", "w");
  ASSERT_FALSE(no_dest.ok());
  EXPECT_NE(no_dest.error().message.find("{destinationID}"), std::string::npos);
  auto relative = PathTemplate::parse("x/{destinationID}/{jobRunID}.csv", "w");
  ASSERT_FALSE(relative.ok());
  EXPECT_NE(relative.error().message.find("absolute"), std::string::npos);
  EXPECT_FALSE(PathTemplate::parse("/x/{destinationID}/{jobRunID}/", "w").ok());
  EXPECT_FALSE(PathTemplate::parse("", "w").ok());
  EXPECT_TRUE(PathTemplate::parse("/{destinationID}{jobRunID}", "w").ok());
}

TEST(PathTemplate, RefusesTraversalAsInvalidPath) {
  auto t = PathTemplate::parse("/exports/../etc/{destinationID}/{jobRunID}.csv", "w");
  ASSERT_TRUE(t.ok());
  auto r = t->resolve(values(), "/exports");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, FileError::Kind::invalid_path);
  EXPECT_NE(r.error().message.find(".."), std::string::npos);
  // Even a ".." that would stay under the root: a path needing it is refused.
  auto inside = PathTemplate::parse("/exports/a/../{destinationID}/{jobRunID}.csv", "w");
  ASSERT_FALSE(inside->resolve(values(), "/exports").ok());
  // A value can carry ".." too: checked after filling.
  auto t2 = PathTemplate::parse("/exports/{destinationID}/{jobRunID}/f.csv", "w");
  auto r2 = t2->resolve(PathValues{"..", "..", kWhen}, "/exports");
  ASSERT_FALSE(r2.ok());
  EXPECT_EQ(r2.error().kind, FileError::Kind::invalid_path);
}

TEST(PathTemplate, RefusesPathsOutsideTheRoot) {
  auto t = PathTemplate::parse("/other/{destinationID}/{jobRunID}.csv", "w");
  auto r = t->resolve(values(), "/exports");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, FileError::Kind::invalid_path);
  EXPECT_NE(r.error().message.find("escapes the configured root"), std::string::npos);
  // A sibling that merely shares the prefix is outside too.
  auto sibling = PathTemplate::parse("/exports2/{destinationID}/{jobRunID}.csv", "w");
  EXPECT_FALSE(sibling->resolve(values(), "/exports").ok());
  auto ok = PathTemplate::parse("/exports//./{destinationID}/{jobRunID}.csv", "w");
  auto good = ok->resolve(values(), "/exports");
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(*good, "/exports/dest/run.csv");
  EXPECT_EQ(*PathTemplate::parse("/{destinationID}/{jobRunID}.csv", "w")->resolve(values(), "/"), "/dest/run.csv");
}

TEST(PathTemplate, NormalizesAndSplitsPaths) {
  EXPECT_EQ(*normalize_path("/a//b/./c"), "/a/b/c");
  EXPECT_EQ(*normalize_path("/"), "/");
  EXPECT_FALSE(normalize_path("a/b").ok());
  EXPECT_FALSE(normalize_path(std::string("/a\0b", 4)).ok());
  EXPECT_TRUE(path_under("/a/b", "/a"));
  EXPECT_TRUE(path_under("/a", "/a"));
  EXPECT_FALSE(path_under("/ab", "/a"));
  EXPECT_TRUE(path_under("/x", "/"));
  EXPECT_EQ(parent_path("/a/b/c.csv"), "/a/b");
  EXPECT_EQ(parent_path("/c.csv"), "/");
  EXPECT_EQ(file_name("/a/b/c.csv"), "c.csv");
  EXPECT_EQ(join_path("/", "x"), "/x");
  EXPECT_EQ(join_path("/a", "x"), "/a/x");
}

TEST(PathTemplate, InsertsThePartBeforeTheExtension) {
  EXPECT_EQ(with_part("/d/f.csv", "17", false), "/d/f_17.csv");
  EXPECT_EQ(with_part("/d/f.csv", "17", true), "/d/f_17.csv.gz");
  EXPECT_EQ(with_part("/d/f.csv.gz", "3", true), "/d/f_3.csv.gz");
  EXPECT_EQ(with_part("/d/f.csv.gz", "3", false), "/d/f_3.csv.gz");
  EXPECT_EQ(with_part("/d/f", "3", false), "/d/f_3");
  EXPECT_EQ(with_part("/d/.hidden", "3", false), "/d/.hidden_3");
  EXPECT_EQ(with_part("/d/a.b.jsonl", "9", false), "/d/a.b_9.jsonl");
  EXPECT_EQ(with_part("/f.csv", "1", false), "/f_1.csv");
}

}  // namespace
}  // namespace destsim
