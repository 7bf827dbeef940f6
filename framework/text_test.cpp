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

namespace destsim {
namespace {

TEST(ValidUtf8, AcceptsWellFormedAndRefusesEveryMalformedShape) {
  EXPECT_TRUE(valid_utf8(""));
  EXPECT_TRUE(valid_utf8("plain /api/users?x=1"));
  EXPECT_TRUE(valid_utf8("Zo\xC3\xAB \xE2\x82\xAC \xF0\x9F\x98\x80"));  // ë € 😀
  EXPECT_FALSE(valid_utf8("\xFF"));                                    // never a lead byte
  EXPECT_FALSE(valid_utf8("\xC3"));                                    // truncated
  EXPECT_FALSE(valid_utf8("\xC0\xAF"));                                // overlong "/"
  EXPECT_FALSE(valid_utf8("\xE0\x80\xAF"));                            // overlong, three bytes
  EXPECT_FALSE(valid_utf8("\xED\xA0\x80"));                            // a surrogate
  EXPECT_FALSE(valid_utf8("\xF4\x90\x80\x80"));                        // past U+10FFFF
  EXPECT_FALSE(valid_utf8("a\x80" "b"));                               // a lone continuation
}

TEST(Base64, EncodesTheRfc4648Vectors) {
  // RFC 4648 §10, and a byte above 0x7f.
  EXPECT_EQ(base64_encode(""), "");
  EXPECT_EQ(base64_encode("f"), "Zg==");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_EQ(base64_encode("foo"), "Zm9v");
  EXPECT_EQ(base64_encode("foob"), "Zm9vYg==");
  EXPECT_EQ(base64_encode("fooba"), "Zm9vYmE=");
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64_encode("\xff\xfe"), "//4=");
  EXPECT_EQ(base64_encode("Acme\\destsim:pw"), "QWNtZVxkZXN0c2ltOnB3");
}

}  // namespace
}  // namespace destsim
