#include "framework/csv.h"

#include <gtest/gtest.h>

namespace destsim {
namespace {

TEST(Csv, QuotesOnlyWhatRfc4180Requires) {
  EXPECT_EQ(csv_cell("plain"), "plain");
  EXPECT_EQ(csv_cell(""), "");
  EXPECT_EQ(csv_cell("a,b"), "\"a,b\"");
  EXPECT_EQ(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(csv_cell("two\nlines"), "\"two\nlines\"");
  EXPECT_EQ(csv_line({"id", "a,b", ""}), "id,\"a,b\",");
}

// The writer copies runs between quotes whole: held to the byte-at-a-time
// rule (every quote doubled, the cell quoted when RFC 4180 requires it) on
// every string of up to six bytes from the bytes that matter.
TEST(Csv, QuotesAsTheByteAtATimeRuleDoes) {
  auto reference = [](const std::string& v) {
    if (v.find_first_of(",\"\r\n") == std::string::npos) return v;
    std::string out = "\"";
    for (char c : v) {
      if (c == '"') out.push_back('"');
      out.push_back(c);
    }
    return out + "\"";
  };
  const char alphabet[] = {'a', ',', '"', '\r', '\n', '\xc3'};
  int checked = 0;
  for (int len = 0; len <= 6; ++len) {
    int n = 1;
    for (int i = 0; i < len; ++i) n *= 6;
    for (int k = 0; k < n; ++k) {
      std::string v;
      for (int i = 0, x = k; i < len; ++i, x /= 6) v.push_back(alphabet[x % 6]);
      ASSERT_EQ(csv_cell(v), reference(v)) << v;
      ++checked;
    }
  }
  EXPECT_EQ(checked, 1 + 6 + 36 + 216 + 1296 + 7776 + 46656);
  EXPECT_EQ(csv_line({"\"", "\"\"", "a\"", ""}), "\"\"\"\",\"\"\"\"\"\",\"a\"\"\",");
}

TEST(Csv, ParsesWhatItWritesBackCellForCell) {
  const std::vector<std::vector<std::string>> rows = {
      {"id", "name", "note"}, {"1", "Ann, B", "said \"hi\""}, {"2", "", "multi\r\nline"}, {"3", "x", ""}};
  std::string text;
  for (const auto& r : rows) text += csv_line(r) + "\r\n";
  auto parsed = parse_csv(text);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  EXPECT_EQ(*parsed, rows);
  auto lf = parse_csv("a,b\n1,2\n");  // LF line ends too
  ASSERT_TRUE(lf.ok());
  EXPECT_EQ(lf->size(), 2u);
}

TEST(Csv, BadQuotesNameTheLine) {
  auto open = parse_csv("a,b\r\n1,\"never closed\r\n");
  ASSERT_FALSE(open.ok());
  EXPECT_NE(open.error().message.find("CSV line 2: unterminated quote"), std::string::npos) << open.error().message;
  auto stray = parse_csv("a,b\r\nx\"y,2\r\n");
  ASSERT_FALSE(stray.ok());
  EXPECT_NE(stray.error().message.find("CSV line 2: stray quote"), std::string::npos) << stray.error().message;
}

}  // namespace
}  // namespace destsim
