// fuzz_scenario — the scenario loader: parse, write back, parse again. Any
// input either is refused as bad input naming the file, or loads and writes a
// scenario that loads to the same document (the round trip `certify` relies on
// when it writes a failing case). Small loaded scenarios are also run.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "conformance/runner.h"
#include "conformance/scenario.h"
#include "framework/json_in.h"

using namespace destsim;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto doc = parse_json_text(text, "fuzz.json");
  if (!doc.ok()) {
    if (doc.error().code != ErrorCode::bad_input || doc.error().message.rfind("fuzz.json: ", 0) != 0) std::abort();
    return 0;
  }
  auto s = parse_scenario(*doc, "fuzz.json");
  if (!s.ok()) {
    if (s.error().code != ErrorCode::bad_input || s.error().message.rfind("fuzz.json", 0) != 0) std::abort();
    return 0;
  }
  // Written out (secrets redacted as "***"), it loads again and writes the same.
  nlohmann::json out = scenario_to_json(*s);
  auto again = parse_scenario(out, "written.json");
  if (!again.ok()) std::abort();
  if (scenario_to_json(*again) != out) std::abort();
  // A small run: few records, short bounds; what it may not take is bad input.
  const std::int64_t records =
      static_cast<std::int64_t>(s->records.size()) + (s->generate ? s->generate->records : 0);
  const std::int64_t padding = s->generate ? s->generate->payload_bytes + s->generate->oversize_bytes : 0;
  if (records <= 20 && padding <= (1 << 20) && s->crashes.size() <= 2) {
    auto run = run_scenario(*s);
    if (!run.ok() && run.error().code == ErrorCode::internal) std::abort();
  }
  return 0;
}
