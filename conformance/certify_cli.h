// certify_cli.h — the `destsim certify` command line, shared by the destsim
// binary and by out-of-tree binaries (certify_main in certify.h).
#pragma once

#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace destsim {

struct CertifyArgs {
  std::vector<std::string> names;
  std::vector<std::string> specs;
  std::int64_t cases = 200;
  std::uint64_t seed = 1;
  std::string shard = "0/1";
  std::string report_json, junit_xml, out_dir = "certify-failures";
  bool no_shrink = false;
  /// Threads running cases; 0 = one per core.
  int jobs = 0;
  /// Wall and shrink times in --report and --junit (they then differ run to run).
  bool timings = false;
  /// A directory for one timeline page per written failing case.
  std::string html_dir;
  /// Shard reports to merge into the report of the whole run (no cases run).
  std::vector<std::string> merge;
};

/// A seed flag: decimal digits only, within 64 bits. CLI11 reads "-1" into an
/// unsigned as 2^64-1; a seed written negative is a mistake, not a wrap.
inline CLI::Validator seed_validator() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        bool digits = !text.empty() && text.size() <= 20;
        for (char c : text) digits &= c >= '0' && c <= '9';
        if (!digits || (text.size() == 20 && text > "18446744073709551615"))
          return "expected a seed: an unsigned 64-bit integer (digits only), got \"" + text + "\"";
        return "";
      },
      "UINT64");
}

void add_certify_options(CLI::App& app, CertifyArgs& args);
/// Runs certification; returns the exit code (0 certified, 1 failed, 2 bad input).
int run_certify(const CertifyArgs& args);

}  // namespace destsim
