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
