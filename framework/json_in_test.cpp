#include "framework/json_in.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

namespace destsim {
namespace {

TEST(JsonIn, ErrorsNameWherePathAndExpectation) {
  nlohmann::json doc = nlohmann::json::parse(R"({"faults": [{"status": "500"}], "a/b": 1})");
  JsonIn root(doc, "x.json");
  auto st = root.at("faults").at(std::size_t{0}).at("status").integer();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message, "x.json: /faults/0/status: expected an integer, got \"500\"");
  auto slash = root.at("a/b").string();
  EXPECT_EQ(slash.error().message, "x.json: /a~1b: expected a string, got 1");
  Status keys = root.only_keys({"faults"});
  ASSERT_FALSE(keys.ok());
  EXPECT_EQ(keys.error().message, "x.json: /a~1b: unknown key \"a/b\" (expected one of: faults)");
}

TEST(JsonIn, TypedReaders) {
  nlohmann::json doc = {{"d", "10s"}, {"s", "4MB"}, {"r", "1/200"}, {"b", true}, {"n", 7}};
  JsonIn in(doc, "t");
  EXPECT_EQ(in.at("d").duration().value(), std::chrono::seconds(10));
  EXPECT_EQ(in.at("s").size_bytes().value(), 4'000'000);
  EXPECT_EQ(in.at("r").ratio().value().den, 200u);
  EXPECT_TRUE(in.at("b").boolean().value());
  EXPECT_FALSE(in.at("n").integer(10, 20).ok());
  EXPECT_NE(in.at("n").integer(10, 20).error().message.find("[10, 20]"), std::string::npos);
}

TEST(ReadJsonFile, NamesFileLineAndColumnOnSyntaxErrors) {
  const std::string path = ::testing::TempDir() + "/bad.json";
  {
    std::ofstream out(path);
    out << "{\n  \"a\": 1,\n  \"b\": ]\n}\n";
  }
  auto r = read_json_file(path);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find(path + ": line 3"), std::string::npos) << r.error().message;
  auto missing = read_json_file(::testing::TempDir() + "/does-not-exist.json");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, ErrorCode::io);
  std::remove(path.c_str());
}

}  // namespace
}  // namespace destsim
