// trace_diff.h — `destsim diff A.jsonl B.jsonl`: where two traces part.
//
// A replay that does not reproduce leaves two traces (`run --trace`) that agree
// up to some event and not after it. This finds that first event and shows it
// with the events before it, field by field: which keys differ and how. Lines
// are compared as JSON values (key order and spacing do not matter), streamed,
// so traces of any length are read once.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace destsim {

struct TraceDiffArgs {
  std::string a, b;
  /// Events shown before the divergence.
  int context = 3;
  /// Keys left out of the comparison (e.g. "t" to compare order, not timing).
  std::vector<std::string> ignore;
};

/// Prints the first divergence to `out`; returns 0 when the traces are the
/// same, 1 when they part, 2 on bad input (a file that cannot be read, a line
/// that is not a JSON object or is longer than 64 MB: the message names the
/// file and the line).
int run_trace_diff(const TraceDiffArgs& args, std::ostream& out);

}  // namespace destsim
