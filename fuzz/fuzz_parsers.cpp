// fuzz_parsers — the small parsers every input passes through: durations,
// sizes, HTTP dates, ratios, CSV, fault-plan globs, UTF-8, the SFTP jail's
// path normalisation, parse_json_body against its reference (nlohmann alone),
// and the fakes' JSON body parser (FlatJson) against parse_json_body. Each
// either refuses or yields a value that holds its contract: a duration within
// kDurationMax that formats and parses back to itself, a size within
// kSizeMax, a normalised path that stays in the jail.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "fakes/fault_plan.h"
#include "fakes/sftp/remote_fs.h"
#include "framework/csv.h"
#include "framework/flat_json.h"
#include "framework/json_in.h"
#include "framework/oracle.h"
#include "framework/rng.h"
#include "framework/text.h"
#include "framework/time.h"

using namespace destsim;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  if (auto d = parse_duration(text); d.ok()) {
    if (d->count() < 0 || *d > kDurationMax) std::abort();
    auto back = parse_duration(format_duration(*d));
    if (!back.ok() || *back != *d) std::abort();
  }
  if (auto s = parse_size(text); s.ok() && (*s < 0 || *s > kSizeMax)) std::abort();
  (void)parse_http_date(text);
  if (auto r = Ratio::parse(text); r.ok() && (r->den == 0 || r->num > r->den)) std::abort();
  if (auto rows = parse_csv(text); rows.ok()) {
    // What csv_line writes, parse_csv reads back (a row of one empty cell is
    // a blank line, which CSV cannot tell from no row: left out).
    bool blank = false;
    for (const auto& row : *rows) blank |= row.size() == 1 && row[0].empty();
    std::string again;
    for (const auto& row : *rows) again += csv_line(row) + "\n";
    if (!blank) {
      auto reread = parse_csv(again);
      if (!reread.ok() || *reread != *rows) std::abort();
    }
  }
  auto half = text.find('\n');
  if (half != std::string::npos) (void)glob_match(text.substr(0, half), text.substr(half + 1));
  (void)valid_utf8(text);
  if (auto p = RemoteFs::normalize(text); p.ok()) {
    const std::string& n = *p;
    if (n.empty() || n[0] != '/' || n.find("/../") != std::string::npos || n.find('\0') != std::string::npos ||
        (n.size() >= 3 && n.compare(n.size() - 3, 3, "/..") == 0))
      std::abort();
  }
  // The fakes' body parser (simdjson first, nlohmann deciding what it
  // refuses) accepts exactly what parse_json_body accepts, with the same values.
  // parse_json_body (simdjson first) reads the DOM its reference (nlohmann
  // alone) reads, number types included, and refuses what it refuses.
  {
    const nlohmann::json fast = parse_json_body(text), reference = parse_json_body_reference(text);
    if (fast.is_discarded() != reference.is_discarded() || !json_same_typed(fast, reference)) std::abort();
  }
  {
    const nlohmann::json dom = parse_json_body(text);
    FlatJson flat;
    if (flat.parse(text) != !dom.is_discarded()) std::abort();
    if (!dom.is_discarded() && (flat.root().to_json() != dom || flat.root().canonical_hash() != content_hash_of_dump(dom)))
      std::abort();
  }
  return 0;
}
