// destsim — the command line. A thin layer over conformance/ and fakes/:
// parse flags (CLI11), call the library, map outcomes to exit codes
// (framework/result.h, the same for every command):
//   0 success · 1 an expectation or property failed · 2 usage error or bad input · 3 internal error.
#include <CLI/CLI.hpp>

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <csignal>
#include <fstream>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <optional>
#include <thread>

#include "conformance/certify_cli.h"
#include "tools/connector.h"
#include "conformance/expect.h"
#include "conformance/runner.h"
#include "conformance/scenario.h"
#include "destinations/destination.h"
#include "fakes/catalog.h"
#include "fakes/fault_plan.h"
#include "fakes/doors/http_door.h"
#include "fakes/doors/serve_sftp.h"
#include "framework/json_in.h"
#include "tools/deliver.h"
#include "tools/import_har.h"
#include "tools/report.h"
#include "conformance/timeline.h"
#include "tools/trace_diff.h"
#include "tools/validate.h"

#ifndef DESTSIM_VERSION
#define DESTSIM_VERSION "0.0.0"
#endif

namespace destsim {
namespace {

// --- list --------------------------------------------------------------------
int cmd_list() {
  std::printf("destinations (destsim run / certify):\n");
  for (const auto& d : destination_registry()) {
    std::printf("  %-12s %s%s\n", d.name.c_str(), d.about.c_str(), d.shipped ? "" : " [not shipped]");
  }
  std::printf("fakes (destsim serve NAME):\n");
  for (const auto* f : all_fakes())
    std::printf("  %-12s %s [%s door]\n", f->name.c_str(), f->about.c_str(), fake_door_name(f->door));
  return kExitOk;
}

// --- serve -------------------------------------------------------------------
// `serve NAME` dispatches by the fake's door: an HTTP fake goes behind the
// HttpDoor here; a file-door fake runs the real server its entry brings.
struct ServeFlags {
  ServeArgs args;
  std::string options_json;
  std::string max_lifetime = "0";
  std::string max_state = "1GB";
  // File doors (sftp): flags over the --options keys of the same names.
  std::int64_t max_sessions = 0;
  std::string quota;
  std::int64_t max_state_requests = 1'000'000;
};

// Parses the flags every door shares into `out`.
Status read_serve_flags(const ServeFlags& f, ServeArgs& out) {
  out = f.args;
  if (!f.options_json.empty()) {
    DS_TRY(out.options, parse_json_text(f.options_json, "--options"));
    if (!out.options.is_object())
      return Error::bad_input("--options: expected a JSON object, got " + json_summary(out.options));
  }
  // The SFTP server's bounds as flags, written into its options (one place each).
  auto flag_into_options = [&](const char* flag, const char* key, nlohmann::json value) -> Status {
    if (!out.options.is_object()) out.options = nlohmann::json::object();
    if (out.options.contains(key))
      return Error::bad_input(std::string(flag) + ": --options also sets \"" + key + "\"; give one of them");
    out.options[key] = std::move(value);
    return Status::success();
  };
  if (f.max_sessions > 0) DS_CHECK(flag_into_options("--max-sessions", "max_sessions", f.max_sessions));
  if (!f.quota.empty()) DS_CHECK(flag_into_options("--quota", "quota", f.quota));
  if (out.host != "127.0.0.1" && out.host != "::1" && out.host != "localhost" && !out.allow_remote)
    return Error::bad_input("--host " + out.host +
                            ": binding beyond loopback serves the fake (and its admin surface) to the network; add "
                            "--allow-remote if that is what you want");
  if (const char* token = std::getenv("DESTSIM_ADMIN_TOKEN"); token && *token) out.admin_token = token;
  auto lifetime = parse_duration(f.max_lifetime);
  if (!lifetime.ok()) return Error::bad_input("--max-lifetime: " + lifetime.error().message);
  out.max_lifetime = *lifetime;
  return Status::success();
}

int serve_http(const FakeEntry& entry, const ServeArgs& a, const ServeFlags& flags) {
  auto state_bytes = parse_size(flags.max_state);
  if (!state_bytes.ok()) return report(Error::bad_input("--max-state: " + state_bytes.error().message));
  auto fake = entry.make(a.options, "--options");
  if (!fake.ok()) return report(fake.error());
  FakeApi* api = (*fake)->http();
  if (!api) return report(Error::internal("fake \"" + a.fake + "\" has an HTTP door but is no FakeApi"));
  FaultPlan plan;
  if (!a.faults_file.empty()) {
    auto p = FaultPlan::load(a.faults_file);
    if (!p.ok()) return report(p.error());
    plan = std::move(p).value();
    Status fits = api->check_fault_plan(plan, a.faults_file + ": ");
    if (!fits.ok()) return report(fits.error());
  }

  // Block the stop signals before any thread starts, then wait for them here.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  HttpDoor door(*api, std::move(plan),
                {.bind_host = a.host, .port = a.port, .seed = a.seed, .max_requests = a.max_requests,
                 .max_lifetime = a.max_lifetime, .admin_token = a.admin_token,
                 .state_requests_max = flags.max_state_requests, .state_bytes_max = *state_bytes});
  auto port = door.start();
  if (!port.ok()) return report(port.error());
  std::printf("seed=%llu fake=%s faults=%s max_requests=%lld max_lifetime=%s\n",
              static_cast<unsigned long long>(a.seed), a.fake.c_str(),
              a.faults_file.empty() ? "none" : a.faults_file.c_str(), static_cast<long long>(a.max_requests),
              format_duration(a.max_lifetime).c_str());
  std::printf("serving %s on %s (admin: %s/_destsim/accepted, /_destsim/reset, /_destsim/faults)\n", a.fake.c_str(),
              door.url().c_str(), door.url().c_str());
  std::printf("bound to %s port %d; admin token: %s (header %s; set DESTSIM_ADMIN_TOKEN to choose it)\n",
              a.host.c_str(), *port, door.admin_token().c_str(), HttpDoor::kTokenHeader);
  std::fflush(stdout);

  // Wait for SIGINT/SIGTERM, or for the door to stop by itself (request or time bound).
  std::thread waiter([&door] { door.wait(); kill(getpid(), SIGTERM); });
  int sig = 0;
  sigwait(&stop_signals, &sig);
  door.stop();
  waiter.join();
  std::printf("stopped after %llu requests\n", static_cast<unsigned long long>(door.requests()));
  return kExitOk;
}

int cmd_serve(const ServeFlags& flags) {
  ServeArgs a;
  if (Status ok = read_serve_flags(flags, a); !ok.ok()) return report(ok.error());
  if (a.fake.empty()) return report(Error::bad_input("serve: name a fake to serve (see `destsim list`)"));
  const FakeEntry* entry = find_fake(a.fake);
  if (!entry) return report(Error::not_found("unknown fake \"" + a.fake + "\" (known: " + fake_names() + ")"));
  if (entry->door == FakeDoor::http && (flags.max_sessions > 0 || !flags.quota.empty()))
    return report(Error::bad_input("--max-sessions and --quota bound an SFTP server; " + a.fake +
                                   " is served over HTTP (its bound is --max-state)"));
  switch (entry->door) {
    case FakeDoor::http: return serve_http(*entry, a, flags);
    case FakeDoor::file:
      // A file fake brings its own server, or is served over SFTP (the file
      // door of fakes/doors/, over any file fake's jailed tree).
      if (entry->serve) return entry->serve(a);
      return serve_sftp_fake(a);
  }
  return kExitInternal;
}

// --- run ---------------------------------------------------------------------
struct RunArgs {
  std::string file;
  std::optional<std::uint64_t> seed;
  std::string trace_file;
  std::string html_file;
};

int cmd_run(const RunArgs& a) {
  auto scenario = load_scenario(a.file);
  if (!scenario.ok()) return report(scenario.error());
  if (scenario->must_reject) {
    // Nothing runs: the expectation is the loader's refusal.
    Status held = check_rejection(*scenario);
    if (!held.ok()) {
      std::fprintf(stderr, "destsim: %s\n", held.error().message.c_str());
      return kExitFailed;
    }
    std::cout << a.file << ": rejected at load as it declares (" << scenario->must_reject->path
              << "): " << scenario->rejected_with << "\nPASS\n";
    return kExitOk;
  }
  std::ofstream trace_out;
  RunOptions o;
  o.seed = a.seed;
  if (!a.trace_file.empty()) {
    trace_out.open(a.trace_file, std::ios::binary | std::ios::trunc);
    if (!trace_out) return report(Error::io(a.trace_file + ": cannot write the trace file"));
    o.trace_sink = &trace_out;
  }
  auto outcome = run_scenario(*scenario, o);
  if (!outcome.ok()) return report(outcome.error());
  if (trace_out.is_open()) {
    trace_out.flush();
    if (!trace_out) return report(Error::io(a.trace_file + ": writing the trace failed (device full or closed)"));
  }
  Judgement j = judge(*scenario, *outcome);
  if (!a.html_file.empty()) {
    std::ofstream html(a.html_file, std::ios::binary | std::ios::trunc);
    html << timeline_html(*scenario, *outcome, j);
    html.flush();
    if (!html) return report(Error::io(a.html_file + ": cannot write the timeline page"));
  }
  print_summary(std::cout, *scenario, *outcome, j);
  std::cout.flush();
  if (!j.unchecked.empty()) {
    std::string ids;
    for (const auto& id : j.unchecked) ids += (ids.empty() ? "" : ", ") + id;
    return report(Error::bad_input(a.file + ": /expect/properties: this version cannot check " + ids + " yet"));
  }
  // A run that hung or livelocked failed (exit 1); only destsim's own faults exit 3.
  if (!outcome->status.ok()) return exit_code_of(outcome->status.error());
  return j.ok() ? kExitOk : kExitFailed;
}

int run(int argc, char** argv) {
  CLI::App app{"destsim — deterministic simulator and conformance suite for bulk/async API destinations"};
  app.set_version_flag("--version", std::string("destsim ") + DESTSIM_VERSION);
  app.require_subcommand(1);

  auto* list = app.add_subcommand("list", "List the destinations and the fakes");

  ServeFlags serve_flags;
  auto* serve = app.add_subcommand(
      "serve", "Serve a fake on loopback with a fault plan: an HTTP fake over HTTP, a file fake over its own protocol");
  serve->add_option("fake", serve_flags.args.fake, "Fake to serve (see `destsim list`)");
  serve->add_option("--port", serve_flags.args.port, "TCP port (0 = any free port)")->check(CLI::Range(0, 65535));
  serve->add_option("--host", serve_flags.args.host, "Address to bind (loopback by default; others need --allow-remote)");
  serve->add_flag("--allow-remote", serve_flags.args.allow_remote,
                  "Allow a --host other than loopback (the fake and its admin surface reach the network)");
  serve->add_option("--faults", serve_flags.args.faults_file, "Fault plan JSON file")->check(CLI::ExistingFile);
  serve->add_option("--options", serve_flags.options_json,
                    "Fake options as a JSON object (a file-door fake: its server's settings, e.g. sftp's root and user)");
  serve->add_option("--seed", serve_flags.args.seed, "Seed for fault randomness")->check(seed_validator());
  serve->add_option("--max-requests", serve_flags.args.max_requests,
                    "Stop after this many requests, or sessions for a file door (0 = no bound)")
      ->check(CLI::NonNegativeNumber);
  serve->add_option("--max-lifetime", serve_flags.max_lifetime, "Stop after this long, e.g. 10m (0 = no bound)");
  serve->add_option("--max-state", serve_flags.max_state,
                    "HTTP fakes: bytes of request bodies the fake may keep before it answers 507 (until "
                    "/_destsim/reset), e.g. 256MB");
  serve->add_option("--max-state-requests", serve_flags.max_state_requests,
                    "HTTP fakes: requests the fake may keep before it answers 507 (until /_destsim/reset)")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{1'000'000'000}));
  serve->add_option("--max-sessions", serve_flags.max_sessions,
                    "SFTP: logged-in sessions at once; a login beyond is refused (connections not yet logged in are "
                    "bounded apart and closed after login_timeout); default 8")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{10000}));
  serve->add_option("--quota", serve_flags.quota,
                    "SFTP: bytes of all files under the root, e.g. 10MB; a write past it answers "
                    "SSH_FX_NO_SPACE_ON_FILESYSTEM and the server stays up");

  RunArgs run_args;
  std::uint64_t run_seed = 0;
  auto* run = app.add_subcommand("run", "Replay a scenario file in virtual time and check its expectations");
  run->add_option("file", run_args.file, "Scenario file (JSON, see scenarios/README.md)")->required();
  auto* seed_opt = run->add_option("--seed", run_seed, "Override the scenario's seed")->check(seed_validator());
  run->add_option("--trace", run_args.trace_file, "Write the trace as JSONL to this file");
  run->add_option("--html", run_args.html_file,
                  "Write the run as a self-contained HTML timeline (lanes per endpoint, faults, crashes, jobs)");

  DeliverArgs deliver_args;
  auto* deliver = app.add_subcommand(
      "deliver",
      "Deliver records to a real endpoint in real time with the durable job store; a rerun with the same --store "
      "resumes (after SIGTERM, a crash or kill -9) without losing or re-sending records");
  deliver->add_option("destination", deliver_args.destination, "Destination (see `destsim list`)")->required();
  deliver->add_option("--input", deliver_args.input_file,
                      "Records as JSON lines: {\"id\": N, \"stream\": \"...\", \"payload\": {...}}");
  deliver->add_option("--generate", deliver_args.generate,
                      "Instead of --input: N records from the destination's generator (same on every rerun)")
      ->check(CLI::Range(std::int64_t{1}, kDeliverRecordsMax));
  deliver->add_option("--seed", deliver_args.seed, "Seed for --generate and the loop's randomness")
      ->check(seed_validator());
  deliver->add_option("--config", deliver_args.config_file, "The destination's config (a JSON object file)");
  deliver->add_option("--store", deliver_args.store, "The durable job store (SQLite file; created if missing)")
      ->required();
  deliver->add_option("--url", deliver_args.url,
                      "HTTP destinations: the base URL of the API (e.g. what `destsim serve FAKE` prints)");
  deliver->add_option("--outcomes", deliver_args.outcomes_file, "Write each record's outcome as JSON lines");
  deliver->add_option("--trace", deliver_args.trace_file, "Write the trace as JSONL to this file");
  deliver->add_option("--connections", deliver_args.connections, "HTTP requests in flight at once")
      ->check(CLI::Range(1, 64));
  deliver->add_option("--request-timeout", deliver_args.request_timeout,
                      "Longest wait for the API on one socket read, e.g. 30s");

  std::vector<std::string> validate_files;
  auto* validate = app.add_subcommand(
      "validate", "Check scenarios, declarative specs and fault plans without running them (exit 0 valid, 2 not)");
  validate->add_option("files", validate_files, "Files to check")->required();
  std::string schema_name = "scenario";
  auto* schema = app.add_subcommand("schema", "Print the JSON Schema of a file format (for editors)");
  schema->add_option("format", schema_name, "scenario (default), fault_plan or spec");

  std::vector<std::string> migrate_files;
  bool migrate_check = false;
  auto* migrate = app.add_subcommand(
      "migrate", "Rewrite version 1 scenarios as version 2, in place (exit 0 done, 2 a file that does not load)");
  migrate->add_option("files", migrate_files, "Scenario files")->required();
  migrate->add_flag("--check", migrate_check, "Only say which files need it (exit 1 if any does)");

  TraceDiffArgs diff_args;
  auto* diff = app.add_subcommand(
      "diff", "Show where two traces (run --trace) part: the first differing event, with the events before it");
  diff->add_option("a", diff_args.a, "First trace (JSONL)")->required();
  diff->add_option("b", diff_args.b, "Second trace (JSONL)")->required();
  diff->add_option("--context", diff_args.context, "Equal events shown before the divergence")->check(CLI::Range(0, 1000));
  diff->add_option("--ignore", diff_args.ignore, "Leave this key out of the comparison (repeatable), e.g. t");

  ImportHarArgs import_har_args;
  auto* import_har = app.add_subcommand(
      "import-har",
      "Turn a recording (HAR) of a destination's traffic into a scenario that replays it: the recorded answers in "
      "order as fault rules, the input read back from the request bodies, the request counts as expectations");
  import_har->add_option("file", import_har_args.file, "The recording (HAR 1.2: Chrome DevTools, mitmproxy, Charles)")
      ->required();
  import_har->add_option("--destination", import_har_args.destination,
                         "The destination whose traffic it holds (see `destsim list`)")
      ->required();
  import_har->add_option("--out", import_har_args.out, "Write the scenario to this file (default: standard output)");
  import_har->add_option("--host", import_har_args.host,
                         "Keep the requests to this API host (default: the destination's, e.g. api.iterable.com)");

  CertifyArgs certify_args;
  auto* certify = app.add_subcommand(
      "certify", "Certify destinations against the conformance suite (CONFORMANCE.md); exit 0 certified, 1 a property failed");
  add_certify_options(*certify, certify_args);
  // Black-box: a connector process in any language (tools/connector.h).
  ConnectorArgs connector_args;
  std::int64_t case_timeout_ms = 60'000;
  certify->add_option("--connector", connector_args.command,
                      "Certify this connector command (run with sh -c) over the Airbyte protocol against --fake, in "
                      "real time (docs/certify_a_connector.md)");
  certify->add_option("--fake", connector_args.fake, "With --connector: the fake it delivers to (see `destsim list`)");
  certify->add_option("--fake-options", connector_args.fake_options, "With --connector: the fake's options (JSON object)");
  certify->add_option("--config-template", connector_args.config_template,
                      "With --connector: the connector's config, {{base_url}} and {{api_key}} filled in")
      ->check(CLI::ExistingFile);
  certify->add_option("--mode", connector_args.mode,
                      "With --connector: airbyte (write --config --catalog, AirbyteMessages) or generic (record JSON "
                      "lines on stdin, DESTSIM_BASE_URL)");
  certify->add_option("--case", connector_args.case_file, "With --connector: rerun one written connector case")
      ->check(CLI::ExistingFile);
  certify->add_option("--records-max", connector_args.records_max,
                      "With --connector: the records per request it declares (B1; 0 = none)")
      ->check(CLI::Range(std::int64_t{0}, std::int64_t{100'000'000}));
  certify->add_option("--bytes-max", connector_args.bytes_max,
                      "With --connector: the request bytes it declares (B1; 0 = none)")
      ->check(CLI::Range(std::int64_t{0}, std::int64_t{1} << 40));
  certify->add_option("--concurrency-max", connector_args.concurrency_max,
                      "With --connector: the requests in flight it declares (B4; 0 = none; default 1)")
      ->check(CLI::Range(std::int64_t{0}, std::int64_t{10'000}));
  certify->add_option("--case-timeout-ms", case_timeout_ms,
                      "With --connector: a run must end within this (G1), default 60000")
      ->check(CLI::Range(std::int64_t{100}, std::int64_t{3'600'000}));

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kExitUsage;
  }
  if (*list) return cmd_list();
  if (*certify && !connector_args.command.empty()) {
    connector_args.case_timeout = std::chrono::milliseconds(case_timeout_ms);
    connector_args.seed = certify_args.seed;
    connector_args.cases = certify->count("--cases") > 0 ? certify_args.cases : 12;
    connector_args.report_json = certify_args.report_json;
    connector_args.junit_xml = certify_args.junit_xml;
    connector_args.html_file = certify_args.html_dir;
    connector_args.out_dir = certify_args.out_dir;
    if (connector_args.fake.empty()) {
      std::fprintf(stderr, "destsim certify: --connector needs --fake NAME\n");
      return kExitUsage;
    }
    return run_connector_certify(connector_args);
  }
  if (*certify) return run_certify(certify_args);
  if (*serve) return cmd_serve(serve_flags);
  if (*deliver) return run_deliver(deliver_args);
  if (*diff) return run_trace_diff(diff_args, std::cout);
  if (*validate) return run_validate(validate_files, std::cout);
  if (*schema) return run_schema(schema_name, std::cout);
  if (*migrate) return run_migrate(migrate_files, migrate_check, std::cout);
  if (*import_har) return run_import_har(import_har_args, std::cout);
  if (*run) {
    if (*seed_opt) run_args.seed = run_seed;
    return cmd_run(run_args);
  }
  return kExitUsage;
}

}  // namespace
}  // namespace destsim

int main(int argc, char** argv) {
  try {
    return destsim::run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "destsim: internal error: %s\n", e.what());
    return destsim::kExitInternal;
  }
}
