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


// Hostile JSON: each of these once crashed destsim (stack overflow copying a
// deep value, an exception that exited 3) or was accepted silently.
TEST(ParseJsonText, RefusesDeepNestingNulAndHugeNumbersWithTheirLocation) {
  std::string deep = "{\"a\": " + std::string(100'000, '[') + std::string(100'000, ']') + "}";
  auto r = parse_json_text(deep, "x.json");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::bad_input);
  EXPECT_EQ(r.error().message, "x.json: line 1, column 134: nested deeper than 128 levels (the limit on JSON nesting)");
  // Exactly the limit is fine; brackets inside strings do not count.
  std::string at_limit = std::string(kJsonDepthMax, '[') + std::string(kJsonDepthMax, ']');
  EXPECT_TRUE(parse_json_text(at_limit, "x.json").ok());
  EXPECT_TRUE(parse_json_text("[\"" + std::string(1000, '[') + "\\\"[\"]", "x.json").ok());
  // An escaped backslash ends the string: the brackets after it count.
  EXPECT_FALSE(parse_json_text("[\"\\\\\", " + std::string(200, '[') + std::string(201, ']'), "x.json").ok());
  // A NUL inside a string is a control character nlohmann refuses, with its place.
  auto in_string = parse_json_text(std::string("{\"a\": \"x\0y\"}", 12), "x.json");
  ASSERT_FALSE(in_string.ok());
  EXPECT_EQ(in_string.error().code, ErrorCode::bad_input);
  EXPECT_NE(in_string.error().message.find("x.json: line 1, column"), std::string::npos) << in_string.error().message;
  EXPECT_TRUE(parse_json_body(std::string("{\"a\": \"x\0y\"}", 12)).is_discarded());

  auto huge = parse_json_text("{\n  \"scenario\": 1e400}", "x.json");
  ASSERT_FALSE(huge.ok());
  EXPECT_EQ(huge.error().code, ErrorCode::bad_input);
  EXPECT_EQ(huge.error().message,
            "x.json: line 2, column 15: the number 1e400 is out of range (JSON numbers here must fit a 64-bit "
            "integer or a double)");

  auto nul = parse_json_text(std::string("{}\0", 3), "x.json");
  ASSERT_FALSE(nul.ok());
  EXPECT_NE(nul.error().message.find("x.json: line 1, column 3: a NUL byte"), std::string::npos);
}

TEST(ParseJsonBody, DiscardsWhatAFakeCannotTake) {
  EXPECT_TRUE(parse_json_body(std::string(200, '[') + std::string(200, ']')).is_discarded());
  EXPECT_TRUE(parse_json_body("{\"n\": 1e400}").is_discarded());
  EXPECT_TRUE(parse_json_body(std::string("{}\0", 3)).is_discarded());
  EXPECT_TRUE(parse_json_body("{").is_discarded());
  EXPECT_EQ(parse_json_body("{\"a\": [1]}"), nlohmann::json({{"a", {1}}}));
}

// The nesting limit holds on the fast path too: 128 levels of arrays or
// objects read, 129 refused.
TEST(ParseJsonBody, NestsToTheLimitOnEitherKind) {
  for (const auto& kind : {std::pair{"[", "]"}, std::pair{"{\"k\":", "}"}}) {
    const char* open = kind.first;
    const char* close = kind.second;
    auto nested = [&](int n) {
      std::string t;
      for (int i = 0; i < n; ++i) t += open;
      t += "0";
      for (int i = 0; i < n; ++i) t += close;
      return t;
    };
    const nlohmann::json at = parse_json_body(nested(128));
    EXPECT_FALSE(at.is_discarded()) << open;
    EXPECT_TRUE(json_same_typed(at, parse_json_body_reference(nested(128)))) << open;
    EXPECT_TRUE(parse_json_body(nested(129)).is_discarded()) << open;
  }
}

// The strict comparison the fast parser is held to sees number types, the
// sign of a float zero, and a difference anywhere down a document.
TEST(JsonSameTyped, TellsNumberTypesApart) {
  using nlohmann::json;
  EXPECT_TRUE(json_same_typed(json::parse(R"({"a":[0,-1,1.5,"x",null,true]})"),
                              json::parse(R"({"a":[0,-1,1.5,"x",null,true]})")));
  EXPECT_FALSE(json_same_typed(json(std::uint64_t{0}), json(std::int64_t{0})));
  EXPECT_EQ(json(std::uint64_t{0}), json(std::int64_t{0}));  // what == misses
  EXPECT_FALSE(json_same_typed(json(1), json(1.0)));
  EXPECT_FALSE(json_same_typed(json(-0.0), json(0.0)));
  EXPECT_FALSE(json_same_typed(json::parse(R"({"a":[1,{"b":0}]})"), json::parse(R"({"a":[1,{"b":-0}]})")));
  EXPECT_FALSE(json_same_typed(json::parse(R"({"a":1})"), json::parse(R"({"b":1})")));
  EXPECT_FALSE(json_same_typed(json::parse("[1,2]"), json::parse("[1]")));
  // And parse_json_body keeps -0 a signed integer, as nlohmann does.
  EXPECT_TRUE(parse_json_body(R"({"n":-0,"d":"2024-01-05"})")["n"].is_number_integer());
  EXPECT_FALSE(parse_json_body(R"({"n":-0,"d":"2024-01-05"})")["n"].is_number_unsigned());
  EXPECT_TRUE(parse_json_body(R"({"n":0,"d":"2024-01-05"})")["n"].is_number_unsigned());
}

TEST(ReadJsonFile, RefusesDirectoriesFifosAndFilesOverTheLimit) {
  const std::string dir = ::testing::TempDir();
  auto d = read_json_file(dir);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.error().code, ErrorCode::bad_input);
  EXPECT_EQ(d.error().message, dir + ": is a directory, expected a JSON file");
  // A character device would be read forever.
  auto zero = read_json_file("/dev/zero");
  ASSERT_FALSE(zero.ok());
  EXPECT_EQ(zero.error().message, "/dev/zero: is not a regular file (a FIFO, device or socket), expected a JSON file");

  const std::string big = dir + "/big.json";
  {
    std::ofstream out(big, std::ios::binary);
    out << "[\"";
    std::string chunk(1 << 20, 'x');
    for (int i = 0; i < 65; ++i) out << chunk;
    out << "\"]";
  }
  auto b = read_json_file(big);
  std::remove(big.c_str());
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.error().message, big + ": larger than 64 MB, the limit on a JSON file");
}

}  // namespace
}  // namespace destsim
