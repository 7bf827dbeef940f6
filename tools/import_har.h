// import_har.h — `destsim import-har FILE.har --destination NAME [--out FILE]`:
// a browser or proxy recording of a destination's traffic as a scenario that
// replays it.
//
// A HAR 1.2 file (Chrome DevTools, mitmproxy, Charles) holds the requests a
// connector made and the answers it got. Import keeps the entries to the
// destination's host, in startedDateTime order, and writes a scenario whose
// fault plan gives the recorded answers back in order: per entry a latency
// rule (the recorded wait) and a respond rule (status, the headers that
// matter with secrets redacted, the body) or a reset (no answer). The input is
// rebuilt from the request bodies where the destination can read them back
// (DestinationEntry::records_from_request), else generated; the expectations
// are the recorded request counts, in all, by endpoint and by status. The
// output always loads with `destsim run` (it is parsed before it is written),
// and the same recording gives the same bytes.
#pragma once

#include "conformance/scenario.h"

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "framework/result.h"

namespace destsim {

/// The scenario format version import writes (one place to change it).
inline constexpr int kImportedScenarioVersion = kScenarioVersion;
/// Entries a recording may hold.
inline constexpr std::int64_t kHarEntriesMax = 100'000;
/// Bytes of one recorded answer's body (after base64 decoding): bodies are
/// copied into the scenario, which should stay readable.
inline constexpr std::int64_t kHarBodyBytesMax = 1'000'000;

struct ImportHarArgs {
  std::string file;         // the recording
  std::string destination;  // a registered destination
  std::string out;          // where the scenario goes ("" = standard output)
  std::string host;         // the API host whose entries are kept ("" = the destination's)
};

/// The scenario (JSON, two-space indent, a final newline) that replays the
/// recording `args.file`; what the user should know (entries skipped, input
/// generated rather than rebuilt) is appended to `notes`. Errors name the
/// file and the JSON path ("x.har: /log/entries/3/request/url: …").
Result<std::string> import_har(const ImportHarArgs& args, std::vector<std::string>& notes);

/// The command: the scenario to `args.out` or `out`, notes and errors on
/// stderr; exit 0, 2 on bad input (file, destination), 3 on an internal error.
int run_import_har(const ImportHarArgs& args, std::ostream& out);

}  // namespace destsim
