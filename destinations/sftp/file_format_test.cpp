// file_format_test.cpp — rows, CSV (RFC 4180, stable columns), JSONL, gzip.
#include "destinations/sftp/file_format.h"

#include <gtest/gtest.h>

namespace destsim {
namespace {

Record rec(JobId id, nlohmann::json payload) {
  Record r;
  r.id = id;
  r.payload = std::move(payload);
  return r;
}

std::string file_of(const std::vector<Record>& records, const RowOptions& o) {
  std::vector<std::string> texts;
  for (const auto& r : records) {
    auto row = record_row(r, o);
    EXPECT_TRUE(row.ok()) << (row.ok() ? "" : row.error().message);
    texts.push_back(row_text(*row));
  }
  std::vector<std::string_view> views(texts.begin(), texts.end());
  auto f = build_file(views, o);
  EXPECT_TRUE(f.ok());
  return f.ok() ? *f : "";
}

// The key from the payload in place equals the key of the row built first,
// in both formats, with or without a job id column; errors alike.
TEST(FileFormat, RecordEffectKeyIsTheKeyOfTheRow) {
  const std::vector<nlohmann::json> payloads = {
      {{"email", "a@x.io"}, {"n", 3}, {"nested", {{"z", 1}, {"a", {1, 2.5, nullptr}}}}},
      {{"text", "Zo\u00eb \"q\"\n\x01"}, {"b", true}, {"f", false}, {"pad", std::string(5000, 'x')}},
      {{"empty", ""}, {"null", nullptr}, {"d", 2.5}, {"neg", -4}, {"arr", {"x", {{"k", "v"}}}}},
      nlohmann::json::object(),
  };
  for (FileFormat f : {FileFormat::jsonl, FileFormat::csv})
    for (const char* job_col : {"", "job_id"}) {
      RowOptions o;
      o.format = f;
      o.job_id_column = job_col;
      JobId id = 40;
      for (const auto& p : payloads) {
        Record r = rec(++id, p);
        auto row = record_row(r, o);
        ASSERT_TRUE(row.ok());
        auto key = record_effect_key(r, o);
        ASSERT_TRUE(key.ok());
        EXPECT_EQ(*key, row_effect_key(*row, f)) << p.dump();
      }
      if (*job_col) EXPECT_FALSE(record_effect_key(rec(1, {{"job_id", 1}}), o).ok());
      EXPECT_FALSE(record_effect_key(rec(1, {{"", 1}}), o).ok());
      EXPECT_FALSE(record_effect_key(rec(1, nlohmann::json::array()), o).ok());
      if (f == FileFormat::csv) {
        RowOptions fixed = o;
        fixed.columns = {"email"};
        EXPECT_FALSE(record_effect_key(rec(1, {{"other", 1}}), fixed).ok());
        auto row = record_row(rec(2, {{"email", "e@x"}}), fixed);
        ASSERT_TRUE(row.ok());
        EXPECT_EQ(*record_effect_key(rec(2, {{"email", "e@x"}}), fixed), row_effect_key(*row, f));
      }
    }
}

TEST(FileFormat, CsvHasSortedUnionColumnsJobIdFirstAndEmptyCellsForMissingFields) {
  RowOptions o;
  std::string f = file_of({rec(1, {{"b", "x"}, {"a", 1}}), rec(2, {{"c", true}, {"a", nullptr}})}, o);
  EXPECT_EQ(f,
            "job_id,a,b,c\r\n"
            "1,1,x,\r\n"
            "2,,,true\r\n");
  EXPECT_EQ(f.find("<nil>"), std::string::npos);
}

TEST(FileFormat, CsvColumnsDependOnlyOnWhichRowsNotTheirOrder) {
  RowOptions o;
  Record a = rec(1, {{"zeta", "1"}, {"alpha", "2"}}), b = rec(2, {{"mid", "3"}});
  const std::string ab = file_of({a, b}, o), ba = file_of({b, a}, o);
  EXPECT_EQ(ab.substr(0, ab.find("\r\n")), "job_id,alpha,mid,zeta");
  EXPECT_EQ(ba.substr(0, ba.find("\r\n")), "job_id,alpha,mid,zeta");
}

TEST(FileFormat, CsvQuotesPerRfc4180AndReadsBack) {
  RowOptions o;
  o.job_id_column = "";
  nlohmann::json p = {{"q", "say \"hi\""}, {"c", "a,b"}, {"n", "two\nlines"}, {"r", "cr\rhere"},
                      {"plain", "ok"}, {"obj", {{"k", 1}}}, {"num", 2.5}};
  std::string f = file_of({rec(7, p)}, o);
  EXPECT_NE(f.find("\"say \"\"hi\"\"\""), std::string::npos);
  EXPECT_NE(f.find("\"a,b\""), std::string::npos);
  EXPECT_NE(f.find("\"two\nlines\""), std::string::npos);
  auto table = parse_csv(f);
  ASSERT_TRUE(table.ok()) << table.error().message;
  ASSERT_EQ(table->size(), 2u);
  const auto& header = (*table)[0];
  const auto& row = (*table)[1];
  ASSERT_EQ(header.size(), row.size());
  std::map<std::string, std::string> got;
  for (std::size_t i = 0; i < header.size(); ++i) got[header[i]] = row[i];
  EXPECT_EQ(got["q"], "say \"hi\"");
  EXPECT_EQ(got["c"], "a,b");
  EXPECT_EQ(got["n"], "two\nlines");
  EXPECT_EQ(got["r"], "cr\rhere");
  EXPECT_EQ(got["obj"], "{\"k\":1}");
  EXPECT_EQ(got["num"], "2.5");
  EXPECT_EQ(got["plain"], "ok");
}

TEST(FileFormat, ConfiguredColumnsFixTheOrderAndRefuseOtherFields) {
  RowOptions o;
  o.columns = {"zeta", "alpha"};
  EXPECT_EQ(file_of({rec(3, {{"alpha", "a"}})}, o), "job_id,zeta,alpha\r\n3,,a\r\n");
  auto bad = record_row(rec(4, {{"other", 1}}), o);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("record 4"), std::string::npos);
  EXPECT_NE(bad.error().message.find("\"other\""), std::string::npos);
}

TEST(FileFormat, RefusesNonObjectPayloadsAndAFieldNamedLikeTheJobIdColumn) {
  RowOptions o;
  auto arr = record_row(rec(5, nlohmann::json::array({1})), o);
  ASSERT_FALSE(arr.ok());
  EXPECT_NE(arr.error().message.find("expected an object"), std::string::npos);
  auto clash = record_row(rec(6, {{"job_id", 1}}), o);
  ASSERT_FALSE(clash.ok());
  EXPECT_NE(clash.error().message.find("job_id_column"), std::string::npos);
  o.job_id_column = "";
  EXPECT_TRUE(record_row(rec(6, {{"job_id", 1}}), o).ok());
}

TEST(FileFormat, JsonlWritesOneSortedObjectPerLineWithTheJobId) {
  RowOptions o;
  o.format = FileFormat::jsonl;
  std::string f = file_of({rec(1, {{"b", 1}, {"a", {{"x", nullptr}}}}), rec(2, {{"s", "t\"u"}})}, o);
  EXPECT_EQ(f, "{\"a\":{\"x\":null},\"b\":1,\"job_id\":1}\n{\"job_id\":2,\"s\":\"t\\\"u\"}\n");
}

TEST(FileFormat, GzipIsARealGzipStreamThatRoundTrips) {
  std::string text;
  for (int i = 0; i < 2000; ++i) text += "row " + std::to_string(i) + ",value\r\n";
  auto z = gzip_compress(text);
  ASSERT_TRUE(z.ok());
  ASSERT_GE(z->size(), 18u);
  EXPECT_EQ(static_cast<unsigned char>((*z)[0]), 0x1f);  // gzip magic
  EXPECT_EQ(static_cast<unsigned char>((*z)[1]), 0x8b);
  EXPECT_EQ((*z)[2], 8);                                   // deflate
  EXPECT_LT(z->size(), text.size() / 4);
  auto back = gzip_decompress(*z);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, text);
  EXPECT_EQ(*gzip_compress(text), *z);  // same content, same bytes (mtime 0)
  EXPECT_FALSE(gzip_decompress(z->substr(0, z->size() / 2)).ok());
  EXPECT_FALSE(gzip_decompress("not gzip").ok());
  EXPECT_FALSE(gzip_decompress(*z + "x").ok());
  EXPECT_TRUE(gzip_decompress(*gzip_compress("")).ok());
}

TEST(FileFormat, RowEffectKeysAgreeBetweenWriterAndReader) {
  // The key of a record's row equals the key a reader computes from the file.
  RowOptions o;
  Record r = rec(9, {{"a", "x"}, {"b", nullptr}, {"c", 3}});
  auto row = record_row(r, o);
  ASSERT_TRUE(row.ok());
  nlohmann::json read = {{"job_id", "9"}, {"a", "x"}, {"c", "3"}};  // b's empty cell reads as absent
  EXPECT_EQ(row_effect_key(*row, FileFormat::csv), row_effect_key(read, FileFormat::csv));
  EXPECT_EQ(row_effect_key(*row, FileFormat::csv).rfind("sftp.row#", 0), 0u);
  Record other = rec(10, {{"a", "x"}, {"c", 3}});
  EXPECT_NE(row_effect_key(*record_row(other, o), FileFormat::csv), row_effect_key(*row, FileFormat::csv));
  o.format = FileFormat::jsonl;
  auto line = record_row(r, o);
  EXPECT_EQ(row_effect_key(*line, FileFormat::jsonl),
            row_effect_key(nlohmann::json::parse(row_text(*line)), FileFormat::jsonl));
}

TEST(FileFormat, ParsesFormatNames) {
  EXPECT_EQ(*parse_file_format("csv", "w"), FileFormat::csv);
  EXPECT_EQ(*parse_file_format("jsonl", "w"), FileFormat::jsonl);
  EXPECT_EQ(*parse_file_format("json", "w"), FileFormat::jsonl);
  auto bad = parse_file_format("xml", "sftp config: file_format");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("sftp config: file_format"), std::string::npos);
}

}  // namespace
}  // namespace destsim
