#include "framework/text.h"

#include <gtest/gtest.h>

namespace destsim {
namespace {

using V = std::vector<std::string_view>;

TEST(Split, KeepsEmptyPartsAndViewsIntoTheText) {
  EXPECT_EQ(split("a,,b", ','), (V{"a", "", "b"}));
  EXPECT_EQ(split("", ','), (V{""}));
  EXPECT_EQ(split("/a/", '/'), (V{"", "a", ""}));
  EXPECT_EQ(split("abc", ','), (V{"abc"}));
  const std::string_view text = "x/y";
  EXPECT_EQ(split(text, '/')[1].data(), text.data() + 2);
}

TEST(TrimSpaces, RemovesOnlyOuterSpaces) {
  EXPECT_EQ(trim_spaces("  a b  "), "a b");
  EXPECT_EQ(trim_spaces("   "), "");
  EXPECT_EQ(trim_spaces(""), "");
  EXPECT_EQ(trim_spaces("\tx "), "\tx");
}

}  // namespace
}  // namespace destsim
