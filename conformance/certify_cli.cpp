#include "conformance/certify_cli.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include "conformance/certify.h"
#include "conformance/expect.h"
#include "conformance/runner.h"
#include "conformance/scenario.h"
#include "conformance/timeline.h"
#include "destinations/destination.h"
#include "framework/json_in.h"

namespace destsim {

void add_certify_options(CLI::App& app, CertifyArgs& a) {
  app.add_option("names", a.names, "Destinations to certify (default: every shipped destination)");
  app.add_option("--spec", a.specs, "Certify a destination built straight from its JSON spec file")
      ->check(CLI::ExistingFile);
  app.add_option("--cases", a.cases, "Generated cases per destination")->check(CLI::Range(1, 1'000'000));
  app.add_option("--seed", a.seed, "Run seed: case i of destination D has seed derive(seed, D, i)")->check(seed_validator());
  app.add_option("--shard", a.shard, "I/N: run the cases whose index % N == I (N machines cover them once)");
  app.add_option("--report", a.report_json, "Write the report as JSON");
  app.add_option("--junit", a.junit_xml, "Write the report as JUnit XML");
  app.add_option("--out", a.out_dir, "Directory for failing cases, each a minimal scenario file");
  app.add_flag("--no-shrink", a.no_shrink, "Write failing cases without shrinking them");
  app.add_option("--jobs,-j", a.jobs,
                 "Threads running cases (0 = one per core); the report and written cases are the same for any value")
      ->check(CLI::Range(0, 1024));
  app.add_option("--html", a.html_dir,
                 "Write a timeline page (HTML) of each written failing case into this directory, named like the case");
  app.add_flag("--timings", a.timings, "Put wall and shrink times in --report and --junit (they then vary run to run)");
  app.add_option("--merge", a.merge,
                 "Merge the --report files of every shard of one run (--shard I/N) into the whole run's verdict "
                 "table, --report and --junit; runs no case")
      ->check(CLI::ExistingFile);
}

namespace {

int bad(const Error& e) {
  std::fprintf(stderr, "destsim certify: %s\n", e.message.c_str());
  return exit_code_of(e);
}

}  // namespace

namespace {

// A timeline page for each failing case written: the case replayed (it is a
// scenario file), as `destsim run FILE --html` draws it.
Status write_timelines(const std::string& dir, const CertifyReport& report) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Error::io(dir + ": cannot create the directory for timeline pages: " + ec.message());
  for (const auto& d : report.destinations)
    for (const auto& f : d.failures) {
      if (f.scenario_file.empty()) continue;
      DS_TRY(Scenario s, load_scenario(f.scenario_file));
      DS_TRY(Outcome o, run_scenario(s));
      const Judgement j = judge(s, o);
      std::string name = std::filesystem::path(f.scenario_file).stem().string() + ".html";
      const std::string path = (std::filesystem::path(dir) / name).string();
      std::ofstream out(path, std::ios::binary | std::ios::trunc);
      out << timeline_html(s, o, j);
      out.flush();
      if (!out) return Error::io(path + ": cannot write the timeline page");
    }
  return Status::success();
}

// Writes the report files and returns the exit code of a report.
int finish(const CertifyArgs& a, const CertifyReport& report) {
  print_certify_table(std::cout, report, a.timings);
  if (!a.html_dir.empty()) {
    if (a.out_dir.empty()) return bad(Error::bad_input("--html draws the written failing cases: give --out DIR too"));
    if (Status s = write_timelines(a.html_dir, report); !s.ok()) return bad(s.error());
  }
  if (!a.report_json.empty()) {
    std::ofstream f(a.report_json);
    f << report.to_json(a.timings).dump(2) << "\n";
    f.flush();
    if (!f) return bad(Error::io(a.report_json + ": cannot write the report"));
  }
  if (!a.junit_xml.empty()) {
    std::ofstream f(a.junit_xml);
    f << report.to_junit(a.timings);
    f.flush();
    if (!f) return bad(Error::io(a.junit_xml + ": cannot write the JUnit report"));
  }
  return report.ok() ? kExitOk : kExitFailed;
}

int run_merge(const CertifyArgs& a) {
  if (!a.names.empty() || !a.specs.empty() || a.shard != "0/1")
    return bad(Error::bad_input("--merge reads reports and runs no case: give no destination, --spec or --shard"));
  std::vector<CertifyReport> shards;
  for (const auto& file : a.merge) {
    auto doc = read_json_file(file);
    if (!doc.ok()) return bad(doc.error());
    auto r = certify_report_from_json(*doc, file);
    if (!r.ok()) return bad(r.error());
    shards.push_back(std::move(r).value());
  }
  auto merged = merge_certify_reports(shards, a.merge);
  if (!merged.ok()) return bad(merged.error());
  return finish(a, *merged);
}

}  // namespace

int run_certify(const CertifyArgs& a) {
  if (!a.merge.empty()) return run_merge(a);
  CertifyOptions o;
  o.jobs = a.jobs > 0 ? a.jobs : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  o.cases = a.cases;
  o.seed = a.seed;
  o.out_dir = a.out_dir;
  o.shrink = !a.no_shrink;
  {
    auto slash = a.shard.find('/');
    char* end = nullptr;
    if (slash == std::string::npos) return bad(Error::bad_input("--shard: expected I/N, got \"" + a.shard + "\""));
    o.shard_index = std::strtoll(a.shard.c_str(), &end, 10);
    if (end != a.shard.c_str() + slash) return bad(Error::bad_input("--shard: expected I/N, got \"" + a.shard + "\""));
    o.shard_count = std::strtoll(a.shard.c_str() + slash + 1, &end, 10);
    if (*end != '\0' || o.shard_count < 1 || o.shard_index < 0 || o.shard_index >= o.shard_count)
      return bad(Error::bad_input("--shard: expected I/N with 0 <= I < N, got \"" + a.shard + "\""));
  }
  std::vector<const DestinationEntry*> entries;
  for (const auto& file : a.specs) {
    auto doc = read_json_file(file);
    if (!doc.ok()) return bad(doc.error());
    auto entry = destination_from_spec_checked(*doc, file);
    if (!entry.ok()) return bad(entry.error());
    std::string name = entry->name;
    // A spec never stands in for a registered destination of the same name:
    // certifying the built-in instead would certify something else.
    if (find_destination(name))
      return bad(Error::bad_input(file + ": /name: \"" + name +
                                  "\" is already a registered destination (destsim list); give the spec its own name"));
    Status s = add_destination(std::move(entry).value());
    if (!s.ok()) return bad(Error{s.error().code, file + ": " + s.error().message});
    entries.push_back(find_destination(name));
  }
  for (const auto& name : a.names) {
    const DestinationEntry* e = find_destination(name);
    if (!e) return bad(Error::not_found("unknown destination \"" + name + "\" (known: " + destination_names() + ")"));
    entries.push_back(e);
  }
  if (a.names.empty() && a.specs.empty())
    for (const auto* e : all_destinations())
      if (e->shipped) entries.push_back(e);

  const bool tty = isatty(fileno(stderr)) != 0;
  o.progress = [tty](const std::string& name, std::int64_t done, std::int64_t all) {
    if (tty) {
      const int width = 30;
      const int filled = all > 0 ? static_cast<int>(done * width / all) : width;
      std::fprintf(stderr, "\r%-24s [%s%s] %lld/%lld", name.c_str(), std::string(static_cast<std::size_t>(filled), '#').c_str(),
                   std::string(static_cast<std::size_t>(width - filled), '.').c_str(), static_cast<long long>(done),
                   static_cast<long long>(all));
      if (done == all) std::fprintf(stderr, "\n");
    } else if (done == all) {
      std::fprintf(stderr, "certify %s: %lld cases\n", name.c_str(), static_cast<long long>(all));
    }
  };
  auto report = certify(entries, o);
  if (!report.ok()) return bad(report.error());
  return finish(a, *report);
}

int certify_main(int argc, char** argv, const std::vector<DestinationEntry>& extra) {
  for (const auto& e : extra) {
    Status s = add_destination(e);
    if (!s.ok()) return bad(s.error());
  }
  CLI::App app{"Certify destinations against the conformance suite (CONFORMANCE.md)"};
  CertifyArgs args;
  add_certify_options(app, args);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? kExitOk : kExitUsage;
  }
  // An out-of-tree binary certifies its own shipped destinations by default.
  if (args.names.empty() && args.specs.empty())
    for (const auto& e : extra)
      if (e.shipped) args.names.push_back(e.name);  // a canary is certified by name only
  return run_certify(args);
}

}  // namespace destsim
