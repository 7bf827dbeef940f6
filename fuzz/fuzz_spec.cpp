// fuzz_spec — the declarative spec parser, with its fake_options checked
// against its fake (as `certify --spec` loads a spec). Refusals are bad input
// naming the file; nothing crashes.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "conformance/certify.h"
#include "framework/json_in.h"

using namespace destsim;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto doc = parse_json_text(text, "spec.json");
  if (!doc.ok()) return doc.error().code == ErrorCode::bad_input ? 0 : (std::abort(), 0);
  auto entry = destination_from_spec_checked(*doc, "spec.json");
  if (!entry.ok() && (entry.error().code != ErrorCode::bad_input || entry.error().message.find("spec.json") != 0))
    std::abort();
  return 0;
}
