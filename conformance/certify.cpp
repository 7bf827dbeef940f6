#include "conformance/certify.h"

#include <rapidcheck.h>
#include <rapidcheck/detail/TestListener.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "conformance/runner.h"
#include "fakes/catalog.h"

namespace destsim {

namespace {

// ---------------------------------------------------------------- case shapes

// The door of the destination's fake (http when the fake is unknown: the run then reports it).
FakeDoor fake_door_of(const DestinationEntry& e) { return find_fake(e.fake) ? find_fake(e.fake)->door : FakeDoor::http; }

// Destinations that commit their job store at durable steps and resume from it.
bool crashable(const DestinationEntry& e) { return e.capabilities.bulk || e.capabilities.stages; }

bool schema_has(const DestinationEntry& e, const char* key) {
  for (const auto& k : e.schema)
    if (k.name == key) return true;
  return false;
}

// `v` brought into the declared range of the integer key `key`.
std::int64_t in_range(const DestinationEntry& e, const char* key, std::int64_t v) {
  for (const auto& k : e.schema)
    if (k.name == key) return std::clamp(v, k.min, k.max);
  return v;
}

// Uploads that go out as records come, so whatever a case puts in the middle
// of the bulk path (a crash, an operator act) falls among uploads, not after
// the last: records arriving at a pace, 2 to 1 + `per_upload_span` records per
// upload, a 5 ms–1 s upload interval, with `several_in_flight` 2–4 imports in
// flight (each within its declared range), at least 20 records.
void keep_uploads_coming(const DestinationEntry& entry, CaseSpec& c, Rng& r, std::uint64_t per_upload_span,
                         bool several_in_flight) {
  for (const char* key : {"records_max", "profiles_per_upload"})
    if (schema_has(entry, key))
      c.config[key] = in_range(entry, key, 2 + static_cast<std::int64_t>(r.below(per_upload_span)));
  static const char* kInterval[] = {"5ms", "100ms", "1s"};
  if (schema_has(entry, "upload_interval")) c.config["upload_interval"] = kInterval[r.below(3)];
  if (several_in_flight && schema_has(entry, "imports_in_flight"))
    c.config["imports_in_flight"] = in_range(entry, "imports_in_flight", 2 + static_cast<std::int64_t>(r.below(3)));
  if (c.pace.count() == 0) c.pace = std::chrono::milliseconds(50);
  c.records = std::max<std::int64_t>(c.records, 20 + static_cast<std::int64_t>(r.below(60)));
}

}  // namespace

// The config a case runs with: the destination's certification config, or its
// required keys filled with test values (the fake is told the same values).
nlohmann::json certify_base_config(const DestinationEntry& e) {
  if (e.certify_config.is_object()) return e.certify_config;
  nlohmann::json c = nlohmann::json::object();
  for (const auto& k : e.schema) {
    if (!k.default_value.is_null()) continue;
    if (k.type == ConfigType::secret) c[k.name] = {{"secret", "certify-" + k.name}};
    else if (k.type == ConfigType::string) c[k.name] = "certify";
  }
  return c;
}

namespace {

// The label of certify's refusal of a results read (FakeEntry::results_reads).
constexpr const char* kResultsRefused = "results read refused";

// A `respond` rule answering `a` (the body drawn from the API's own error
// bodies when the table gives none); sometimes after the fake applied it.
FaultRule respond_rule(const FakeEntry::ErrorAnswer& a, Rng& r, const std::vector<std::string>& error_bodies) {
  FaultRule f;
  f.kind = FaultKind::respond;
  f.note = a.label;
  f.status = a.status;
  if (!a.body.empty()) {
    f.body = a.body;
    f.headers.add("Content-Type", "application/json");
  } else if (!error_bodies.empty() && a.status >= 100 && r.chance(1, 2)) {
    // A real API sends its error bodies with any status: a code that on a 4xx
    // means "rejected for good" must not make a 5xx permanent.
    f.body = error_bodies[r.below(error_bodies.size())];
    f.headers.add("Content-Type", "application/json");
  }
  // Applied, then answered with this: the duplicate-after-502 incident.
  f.after = a.may_apply && r.chance(1, 3);
  return f;
}

FaultRule fault_of(FaultKind kind, Rng& r, const std::vector<FakeEntry::ErrorAnswer>& table,
                   const std::vector<std::string>& error_bodies) {
  FaultRule f;
  f.kind = kind;
  // Weight: the share of matching operations the rule hits.
  static const std::uint64_t kDen[] = {4, 8, 16, 32};
  f.probability = Ratio{1, kDen[r.below(4)]};
  f.times = 1 + static_cast<std::int64_t>(r.below(12));  // finite: G1 needs the faults to end
  switch (kind) {
    case FaultKind::respond: {
      if (table.empty()) break;
      FaultRule a = respond_rule(table[r.below(table.size())], r, error_bodies);
      a.probability = f.probability;
      a.times = f.times;
      return a;
    }
    case FaultKind::rate_limit:
      // 429 with a Retry-After in seconds, as an HTTP date, or none at all.
      f.retry_after = std::chrono::seconds(1 + static_cast<std::int64_t>(r.below(60)));
      f.retry_after_http_date = r.chance(1, 4);
      f.retry_after_omitted = !f.retry_after_http_date && r.chance(1, 4);
      if (f.retry_after_omitted) f.retry_after = Duration(0);
      break;
    case FaultKind::too_large:
      // Under a typical batch, and matched often: a 413 only shows on a big request.
      f.max_body_bytes = 300 + static_cast<std::int64_t>(r.below(3'000));
      f.probability = Ratio{1, 1 + r.below(2)};
      break;
    case FaultKind::latency:
      f.latency_min = std::chrono::milliseconds(r.below(200));
      f.latency_max = f.latency_min + std::chrono::milliseconds(1 + r.below(2'000));
      f.times.reset();
      break;
    case FaultKind::timeout:
    case FaultKind::reset:
      f.after = r.chance(1, 2);
      break;
    case FaultKind::garble:
      break;
    case FaultKind::outage: {
      // Refused, a 503 (not applied), or a failing gateway (502/504) that
      // half the time sits in front of a backend that did the work.
      static const int kOutage[] = {0, 503, 503, 502, 504};
      f.status = kOutage[r.below(5)];
      f.after = (f.status == 502 || f.status == 504) && r.chance(1, 2);
      // Mostly a blip; a quarter outlast a destination's retry budget (an
      // API down for hours), so what a destination reports when it gives up
      // on a request the API may have applied is met too.
      const Duration lasting = r.chance(1, 4) ? std::chrono::minutes(20 + r.below(220))
                                              : std::chrono::seconds(5 + r.below(120));
      if (r.chance(1, 2)) {
        // Down from a time: most runs are over in seconds, some poll for
        // minutes, so a window starts in the first two seconds, the first
        // twenty, or the first two minutes.
        static const std::uint64_t kStartMs[] = {2'000, 20'000, 120'000};
        Duration start = std::chrono::milliseconds(r.below(kStartMs[r.below(3)]));
        f.window_start = start;
        f.window_end = start + lasting;
      } else {
        // Down from the Nth request, whatever the clock: between two steps of
        // a protocol (staged and not committed, uploaded and not polled).
        static const std::uint64_t kFrom[] = {8, 30, 100};
        f.from_request = 1 + static_cast<std::int64_t>(r.below(kFrom[r.below(3)]));
        f.lasting = lasting;
      }
      f.probability = Ratio{1, 1};
      f.times.reset();
      break;
    }
  }
  return f;
}

// Fault kinds that make sense for the destination's door.
std::vector<FaultKind> kinds_for(const DestinationEntry& e) {
  std::vector<FaultKind> k = find_fake(e.fake) ? find_fake(e.fake)->fault_kinds : all_fault_kinds();
  // A bulk upload is one file: a 413 fails it (nothing to split), which the
  // destination's limits already prevent; keep 413 for the batch path.
  if (e.capabilities.bulk) k.erase(std::remove(k.begin(), k.end(), FaultKind::too_large), k.end());
  return k;
}

// A value of `k` drawn from its declared range: the bounds and their
// neighbours (where an off-by-one binds), the default, and values around it.
std::optional<nlohmann::json> draw_value(const ConfigKey& k, Rng& r) {
  auto pick = [&](std::int64_t lo, std::int64_t hi, std::int64_t def) {
    hi = std::max(hi, lo);
    const std::int64_t near = std::min(hi, std::max(lo, def));
    switch (r.below(6)) {
      case 0: return lo;
      case 1: return std::min(hi, lo + 1);
      case 2: return std::min(hi, lo + static_cast<std::int64_t>(r.below(10)));
      case 3: return std::max(lo, near / 2);
      case 4: return std::min(hi, near + near / 2 + 1);
      default: return lo + static_cast<std::int64_t>(r.below(static_cast<std::uint64_t>(hi - lo) + 1));
    }
  };
  switch (k.type) {
    case ConfigType::boolean: return nlohmann::json(!(k.default_value.is_boolean() && k.default_value.get<bool>()));
    case ConfigType::ratio: {
      static const char* kRatios[] = {"0", "1/5", "1/2", "1"};
      return nlohmann::json(kRatios[r.below(4)]);
    }
    case ConfigType::integer: {
      if (!k.default_value.is_number_integer()) return std::nullopt;
      const std::int64_t def = k.default_value.get<std::int64_t>();
      const std::int64_t lo = std::max<std::int64_t>(k.min, 0);
      const std::int64_t hi = k.max == INT64_MAX ? std::max<std::int64_t>(def * 4, lo + 16) : std::min(k.max, def * 4 + 16);
      return nlohmann::json(pick(lo, hi, def));
    }
    case ConfigType::duration: {
      if (!k.default_value.is_string()) return std::nullopt;
      auto d = parse_duration(k.default_value.get<std::string>());
      if (!d.ok()) return std::nullopt;
      const std::int64_t def_ms = std::max<std::int64_t>(1, d->count() / 1'000'000);
      std::int64_t lo = std::max<std::int64_t>(k.min > 0 ? (k.min + 999'999) / 1'000'000 : 0, 0);
      // A time budget (a retry window, a timeout) under a request's own
      // latency is not a config anyone runs: such keys start at a second.
      if (k.name.find("window") != std::string::npos || k.name.find("timeout") != std::string::npos)
        lo = std::max<std::int64_t>(lo, 1'000);
      const std::int64_t hi = std::max<std::int64_t>(def_ms * 4, 1'000);
      return nlohmann::json(format_duration(std::chrono::milliseconds(pick(std::max<std::int64_t>(lo, 1), hi, def_ms))));
    }
    case ConfigType::size: {
      if (!k.default_value.is_string()) return std::nullopt;
      auto b = parse_size(k.default_value.get<std::string>());
      if (!b.ok()) return std::nullopt;
      const std::int64_t lo = std::max<std::int64_t>(k.min, 256);  // under a record's own size every record fails alone
      const std::int64_t hi = std::min<std::int64_t>(k.max, *b);
      return nlohmann::json(std::to_string(pick(lo, hi, *b)) + "B");
    }
    default: return std::nullopt;
  }
}

// Draws some of the destination's own config keys (never its required ones,
// which name the test account), then mends the pairs the config validates
// together (a cap under its initial delay, a poll timeout under the interval).
nlohmann::json draw_config(const DestinationEntry& e, Rng& r) {
  nlohmann::json out = nlohmann::json::object();
  for (const ConfigKey& k : e.schema) {
    if (k.default_value.is_null() || !r.chance(1, 3)) continue;
    if (auto v = draw_value(k, r)) out[k.name] = std::move(*v);
  }
  auto dur = [&](const char* key) -> std::optional<Duration> {
    if (!out.contains(key)) {
      for (const ConfigKey& k : e.schema)
        if (k.name == key && k.default_value.is_string()) {
          auto d = parse_duration(k.default_value.get<std::string>());
          if (d.ok()) return *d;
        }
      return std::nullopt;
    }
    auto d = parse_duration(out[key].get<std::string>());
    return d.ok() ? std::optional<Duration>(*d) : std::nullopt;
  };
  auto at_least = [&](const char* low, const char* high) {
    auto a = dur(low), b = dur(high);
    if (a && b && *b < *a) out[high] = format_duration(*a);
  };
  at_least("retry_delay_initial", "retry_delay_max");
  at_least("poll_interval", "poll_timeout");
  return out;
}

}  // namespace

CaseSpec generate_case(const DestinationEntry& entry, std::uint64_t seed, std::int64_t index,
                       const CertifyOptions& options) {
  CaseSpec c;
  c.index = index;
  c.seed = derive_seed(seed, entry.name, static_cast<std::uint64_t>(index));
  Rng r(derive_seed(c.seed, "case-shape"));
  const std::int64_t lo = std::max<std::int64_t>(1, options.records_min);
  const std::int64_t hi = std::max(lo, options.records_max);
  c.records = lo + static_cast<std::int64_t>(r.below(static_cast<std::uint64_t>(hi - lo + 1)));
  static const std::int64_t kPaceMs[] = {0, 0, 5, 50, 500};
  c.pace = std::chrono::milliseconds(kPaceMs[r.below(5)]);
  if (r.chance(1, 3)) c.invalid = Ratio{1, 10};
  // Hostile input, from a stream of its own (the other draws stay as they
  // were): a third of the cases repeat rows — identical rows, one user's
  // many records — at a share from a half to an eighth.
  {
    Rng ir(derive_seed(c.seed, "identical-rows"));
    if (ir.chance(1, 3)) c.identical = Ratio{1, 2 + ir.below(7)};
    // A sixth pad every record, from a few hundred bytes to a few KiB: with
    // the byte limits the drawn configs give (from 256 B), some records are
    // at and over a limit and must fail too large, alone.
    static const std::int64_t kPad[] = {200, 700, 1500, 4000};
    if (ir.chance(1, 6)) c.payload_bytes = kPad[ir.below(4)];
  }
  {
    // A sixth carry hostile text: empty and blank fields, multi-byte and
    // emoji, right-to-left, quotes, commas, line breaks, control characters.
    Rng tr(derive_seed(c.seed, "odd-text"));
    c.odd_text = tr.chance(1, 6);
    // A twenty-fifth are larger than any configured batch or upload limit
    // (1,001 to 2,500 records; records_max is 1,000 by default).
    Rng br(derive_seed(c.seed, "big-case"));
    if (br.chance(1, 25)) c.records = 1'001 + static_cast<std::int64_t>(br.below(1'500));
    // A thirtieth hold about two records at the API's declared hard byte cap
    // (where it is under 32 MB): half just over it (must fail too large,
    // alone, never retried), half just under it (fits or not by the
    // request's own envelope; either way not retried as the same request).
    Rng orr(derive_seed(c.seed, "oversize"));
    const std::int64_t cap = entry.capabilities.limits.bytes_max;
    if (cap > 0 && cap <= 32'000'000 && orr.chance(1, 30)) {
      c.oversize = Ratio{1, static_cast<std::uint64_t>(std::max<std::int64_t>(2, c.records / 2))};
      c.oversize_bytes = orr.chance(1, 2) ? cap + 1 + static_cast<std::int64_t>(orr.below(4'096))
                                          : std::max<std::int64_t>(1, cap - 64 - static_cast<std::int64_t>(orr.below(2'048)));
    }
  }
  // Hostile timing: in a fifth of the cases the API's clock is off from the
  // destination's — seconds, minutes, hours or a day, ahead or behind — and
  // dates its answers (Date, Retry-After as a date) by it. A destination that
  // reads an API date against its own clock waits far too long or not at all.
  if (fake_door_of(entry) == FakeDoor::http) {
    Rng sr(derive_seed(c.seed, "clock-skew"));
    if (sr.chance(1, 5)) {
      static const std::int64_t kSkewS[] = {5, 150, 2 * 3'600, 86'400};
      const std::int64_t secs = kSkewS[sr.below(4)] + static_cast<std::int64_t>(sr.below(60));
      c.clock_skew = std::chrono::seconds(sr.chance(1, 2) ? secs : -secs);
    }
  }
  // Swarm testing: each case enables a random subset of fault kinds, each with
  // a random weight, so some cases see one kind hard and others a mix.
  // Each case also always enables one kind in turn (index mod kinds), so every
  // kind — and the recovery path it leads to — shows up in a run of a few cases.
  const std::vector<FaultKind> kinds = kinds_for(entry);
  const FakeEntry* fake = find_fake(entry.fake);
  const std::vector<std::string> no_bodies;
  const std::vector<std::string>& bodies = fake ? fake->error_bodies : no_bodies;
  const std::vector<FakeEntry::ErrorAnswer> table = fake ? error_table_of(*fake) : http_error_table();
  const FaultKind forced = kinds[static_cast<std::size_t>(index) % kinds.size()];
  for (FaultKind k : kinds) {
    if (k != forced && !r.chance(1, 3)) continue;
    const int rules = 1 + static_cast<int>(r.below(2));
    for (int i = 0; i < rules; ++i) {
      FaultRule f = fault_of(k, r, table, bodies);
      // A file session's outage refuses the connection: nothing is applied.
      if (f.kind == FaultKind::outage && fake_door_of(entry) == FakeDoor::file) f.after = false;
      // The kind in turn hits often, so each kind is met within a few cases.
      if (i == 0 && k == forced && f.kind != FaultKind::latency && f.kind != FaultKind::outage)
        f.probability = Ratio{1, 1 + r.below(2)};
      c.faults.push_back(std::move(f));
    }
  }
  // And one answer of the API's error table in turn (case index mod the
  // table), first in the plan and certain to hit, so every status class and
  // error code is met in a run of as many cases as the table has answers.
  if (!table.empty() && std::find(kinds.begin(), kinds.end(), FaultKind::respond) != kinds.end()) {
    FaultRule f = respond_rule(table[static_cast<std::size_t>(index) % table.size()], r, bodies);
    f.times = 1 + static_cast<std::int64_t>(r.below(2));
    c.faults.insert(c.faults.begin(), std::move(f));
  }
  // Destinations with a durable store to resume from get a random crash point:
  // bulk ones at a named step of the bulk path or a time, staging ones before a
  // commit or at a time, file destinations at a time early in the run.
  // (Every third case in turn, and some others: the resume path is met in a few cases.)
  if (crashable(entry) && (index % 3 == 1 || r.chance(1, 4))) {
    CrashPoint p;
    if (fake_door_of(entry) == FakeDoor::file) {
      p.at = std::chrono::milliseconds(100 + r.below(20'000));
    } else if (r.chance(1, 4)) {
      p.at = std::chrono::seconds(1 + r.below(300));
    } else if (entry.capabilities.stages) {
      p.step = "before_commit";
    } else {
      p.step = kCrashSteps[r.below(kBulkCrashSteps)];
      p.nth = 1 + static_cast<int>(r.below(2));
    }
    p.restart_after = std::chrono::seconds(1 + r.below(120));
    p.optional = true;  // a drawn step or time the run may never reach
    c.crashes.push_back(p);
  }
  // A clean stop and start (a deploy), from a stream of its own: every sixth
  // case in turn and some others, early, while work is in flight. The store
  // keeps what was written; the new process resumes as after a crash.
  if (crashable(entry)) {
    Rng sr(derive_seed(c.seed, "clean-stop"));
    if (index % 6 == 4 || sr.chance(1, 8)) {
      c.stop_at = std::chrono::milliseconds(20 + sr.below(3'000));
      c.start_after = std::chrono::seconds(1 + sr.below(600));
    }
  }
  c.short_poll_timeout = entry.capabilities.bulk && schema_has(entry, "poll_timeout") && r.chance(1, 5);
  // Half the cases run under a Sync, so the lifecycle properties are checked
  // for every destination.
  // Half the cases run a config drawn from the declared ranges (from a stream
  // of its own, so the other draws stay as they were).
  if (r.chance(1, 2)) {
    Rng cr(derive_seed(c.seed, "config"));
    c.config = draw_config(entry, cr);
  }
  // A fifth of the cases, and every fifth in turn, meet a hostile variant of
  // the fake (statuses outside its documented set).
  // An import under an undocumented status is polled to its timeout: a case
  // under a hostile variant keeps to at most 100 records and a poll timeout of
  // at most 30 minutes, or one case polls millions of times (a case of 1,839
  // records in uploads of 5 under a 9-hour timeout ran out of memory).
  auto take_hostile = [&](const std::string& label) {
    c.hostile = label;
    c.records = std::min<std::int64_t>(c.records, 100);
    for (const ConfigKey& k : entry.schema) {
      if (k.name != "poll_timeout") continue;
      const nlohmann::json& v = c.config.contains(k.name) ? c.config[k.name] : k.default_value;
      auto d = v.is_string() ? parse_duration(v.get<std::string>()) : Result<Duration>(Error::bad_input("none"));
      if (!d.ok() || *d > std::chrono::minutes(30)) c.config[k.name] = "30m";
    }
  };
  if (fake && !fake->hostile.empty() && (index % 5 == 2 || r.chance(1, 5)))
    take_hostile(fake->hostile[static_cast<std::size_t>(index / 5) % fake->hostile.size()].label);
  // An eighth of the cases, and every eighth in turn, meet an operator act on
  // the fake (a table replaced, tokens expired) at a drawn moment, early or
  // while imports are polled: from a stream of its own.
  if (fake && !fake->operator_acts.empty()) {
    Rng ar(derive_seed(c.seed, "operator-act"));
    if (index % 8 == 5 || ar.chance(1, 8)) {
      const FakeEntry::OperatorAct& act = fake->operator_acts[static_cast<std::size_t>(index / 8) % fake->operator_acts.size()];
      c.act = act.label;
      c.act_at = ar.chance(1, 2) ? std::chrono::milliseconds(100 + ar.below(5'000))
                                 : std::chrono::milliseconds(5'000 + ar.below(55'000));
      // Every act in turn of a fake whose act has companions falls at a step
      // under one of them, taken in turn (unless a hostile variant was drawn
      // already); the rest as below.
      const std::size_t companions = act.companions.size();
      const bool companion_turn = companions > 0 && index % 8 == 5;
      // Half the acts of a destination with steps fall at one instead: right
      // after the nth upload's answer or poll's answer (or before a staging
      // commit), so the act lands between a request and the next, where a
      // time rarely falls (a table replaced while one import of several is in
      // flight, the next upload on a channel the act invalidated).
      if (companion_turn || ar.chance(1, 2)) {
        if (entry.capabilities.stages) {
          c.act_step = "before_commit";
        } else if (entry.capabilities.bulk) {
          c.act_step = entry.capabilities.polls && ar.chance(2, 3) ? "mid_poll" : "upload_answered";
        }
        c.act_nth = 1 + static_cast<int>(ar.below(2));
        // What an act at a step breaks shows when more requests follow it
        // before the next poll: an upload already on its way, the next one on
        // a channel the act invalidated. Three quarters of such bulk cases
        // keep uploads coming, with several imports in flight.
        if (entry.capabilities.bulk && !entry.capabilities.stages && ar.chance(3, 4))
          keep_uploads_coming(entry, c, ar, 19, true);
        // Half of the others, unless one was drawn already, meet a hostile variant
        // under which the act's damage shows (OperatorAct::companions): a
        // channel opened after a table was replaced dying before its first
        // commit is read. At the usual variants' rates, among the others,
        // such a case came about once in 500.
        if (companions > 0 && c.hostile.empty() && (companion_turn || ar.chance(1, 2))) {
          const std::size_t k = companion_turn ? static_cast<std::size_t>(index / 8) % companions
                                               : static_cast<std::size_t>(ar.below(companions));
          take_hostile(act.companions[k].label);
        }
      }
    }
  }
  c.sync = r.chance(1, 2);
  if (c.sync) {
    c.state_every = 1 + static_cast<std::int64_t>(r.below(20));
    if (r.chance(1, 5)) c.stream_error_after = static_cast<std::int64_t>(r.below(static_cast<std::uint64_t>(c.records)));
  }
  // A profile, from a stream of its own: hidden outcomes, then a crash while
  // an import is polled, beside rejections and small uploads. Jobs re-sent
  // after an unknown outcome then share an import with fresh ones, and the
  // restart must keep telling them apart (a fresh job's rejection is a known
  // outcome). Met by chance, that mix took 2,000 cases (marketo seed 2 case
  // 1410); a sixth of a bulk destination's cases now take it whole.
  if (entry.capabilities.bulk && fake_door_of(entry) == FakeDoor::http) {
    Rng pr(derive_seed(c.seed, "hidden-then-crash"));
    if (pr.chance(1, 6)) {
      FaultRule f;
      f.kind = pr.chance(1, 2) ? FaultKind::timeout : FaultKind::reset;
      f.after = true;
      f.probability = Ratio{1, 2 + pr.below(3)};
      f.times = 2 + static_cast<std::int64_t>(pr.below(5));
      c.faults.push_back(std::move(f));
      if (c.invalid.num == 0) c.invalid = Ratio{1, 10};
      CrashPoint p;
      p.step = pr.chance(1, 2) ? "mid_poll" : "mid_stats";
      p.nth = 1 + static_cast<int>(pr.below(12));  // late enough to meet the re-sent jobs' import
      p.restart_after = std::chrono::seconds(1 + pr.below(30));
      p.optional = true;
      c.crashes = {p};
      keep_uploads_coming(entry, c, pr, 9, false);  // so re-sent jobs meet fresh ones
    }
  }
  // Results refused: a sixth of a bulk destination's cases, every sixth in
  // turn, refuse a read of an import's per-record results (the fake declares
  // which requests those are) with a permanent 4xx of the API's error table.
  // A swarm rule hits a results read in about one case in a hundred: polls
  // come first and take the hit. (From a stream of its own.)
  if (entry.capabilities.bulk && fake && !fake->results_reads.empty()) {
    Rng rr(derive_seed(c.seed, "results-refused"));
    if (index % 6 == 3 || rr.chance(1, 8)) {
      std::vector<const FakeEntry::ErrorAnswer*> refusals;
      for (const auto& a : table)
        if (a.status >= 400 && a.status < 500 && a.status != 408 && a.status != 429 && !a.may_apply &&
            std::find(entry.capabilities.retryable_statuses.begin(), entry.capabilities.retryable_statuses.end(),
                      a.status) == entry.capabilities.retryable_statuses.end())
          refusals.push_back(&a);
      if (!refusals.empty()) {
        const auto& read = fake->results_reads[rr.below(fake->results_reads.size())];
        FaultRule f = respond_rule(*refusals[rr.below(refusals.size())], rr, bodies);
        f.method = read.method;
        f.path = read.path;
        f.after = false;
        f.note = kResultsRefused;
        f.times = 1 + static_cast<std::int64_t>(rr.below(2));
        c.faults.push_back(std::move(f));
        // Some APIs list per-record results only when some failed (Klaviyo's
        // import-errors, Marketo's failures file): records they reject.
        if (c.invalid.num == 0) c.invalid = Ratio{1, 10};
      }
    }
  }
  return c;
}

Scenario case_scenario(const DestinationEntry& entry, const CaseSpec& c) {
  Scenario s;
  s.name = entry.name + "-case-" + std::to_string(c.index);
  s.about = "certify case " + std::to_string(c.index) + " of " + entry.name;
  s.seed = c.seed;
  s.destination = entry.name;
  s.config = certify_base_config(entry);
  if (!c.hostile.empty())
    if (const FakeEntry* fake = find_fake(entry.fake))
      if (const nlohmann::json* o = fake->hostile_options(c.hostile)) s.fake_options = *o;
  for (auto it = c.config.begin(); it != c.config.end(); ++it) s.config[it.key()] = it.value();
  if (c.short_poll_timeout) {
    // An import that outlives this is ended (D2): the poll-timeout path.
    s.config["poll_timeout"] = "30s";
    if (schema_has(entry, "poll_interval")) s.config["poll_interval"] = "10s";
  }
  s.generate = GeneratedInput{c.records, "", c.invalid, c.payload_bytes, c.identical, c.oversize, c.oversize_bytes,
                              c.odd_text};
  s.pace = c.pace;
  s.clock_skew = c.clock_skew;
  for (const auto& f : c.faults) s.faults.add(f);
  s.crashes = c.crashes;
  if (c.stop_at) {
    ControlEvent stop, start;
    stop.kind = ControlEvent::Kind::stop;
    stop.at = *c.stop_at;
    stop.path = "/events/0";
    start.kind = ControlEvent::Kind::start;
    start.at = *c.stop_at + c.start_after;
    start.path = "/events/1";
    s.events = {stop, start};
  }
  if (!c.act.empty())
    if (const FakeEntry* fake = find_fake(entry.fake))
      for (const auto& a : fake->operator_acts)
        if (a.label == c.act) {
          ControlEvent act;
          act.kind = ControlEvent::Kind::fake;
          act.at = c.act_step.empty() ? c.act_at : Duration(0);
          act.step = c.act_step;
          act.nth = c.act_nth;
          act.op = a.op;
          act.path = "/events/" + std::to_string(s.events.size());
          s.events.push_back(std::move(act));
        }
  if (c.sync) {
    SyncInput in;
    std::set<std::string> streams;
    for (std::int64_t i = 0; i < c.records; ++i)
      streams.insert(generate_record(entry, c.seed, static_cast<JobId>(i + 1), *s.generate).stream);
    for (const auto& name : streams) in.streams.push_back(StreamSpec{name, "append", {}, 0});
    in.state_every = c.state_every;
    if (c.stream_error_after >= 0 && !streams.empty()) {
      SyncInput::Placed p;
      p.after = c.stream_error_after;
      p.message.kind = SyncMessage::Kind::error;
      p.message.stream = *streams.begin();
      p.message.error = "certify: the source failed stream " + p.message.stream;
      in.messages.push_back(std::move(p));
    }
    s.sync = std::move(in);
  }
  return s;
}

// ------------------------------------------------------------------ checking

namespace {

// The recovery paths a destination's capabilities make reachable, and how a
// run shows that it took one.
struct Path {
  const char* name;
  bool bulk_only, batch_only, needs_crash;
};
const Path kPaths[] = {
    {"retry", false, false, false},             // a transient failure retried
    {"retry_after_wait", false, true, false},   // a 429/503 Retry-After waited out
    {"split_413", false, true, false},          // a 413 batch split or sent alone
    {"poll_fault_retry", true, false, false},   // a poll/stats fault asked again
    {"poll_timeout", true, false, false},       // an import ended at the poll timeout
    {"crash_resume", true, false, true},        // a restart resumed from the store
    {"clean_stop", true, false, true},          // a stop (a deploy) met work in flight, and a start resumed it
};

void count_reached(const Outcome& o, const Scenario& s, const CaseSpec& c,
                   std::map<std::string, std::int64_t>& reached) {
  const std::string& c_hostile = c.hostile;
  for (const auto& [kind, n] : o.transport().faults) reached["fault." + kind] += static_cast<std::int64_t>(n);
  const auto& rules = s.faults.rules();
  const auto& st = o.destination_stats;
  auto stat = [&](const char* k) { return st.is_object() ? st.value(k, std::int64_t{0}) : std::int64_t{0}; };
  std::int64_t retry = stat("batch_retries") + stat("upload_retries"), after = 0, split = 0, pollf = 0, timeout = 0,
               resume = 0, stops = 0;
  // Counters over the typed trace: a retry is a send or upload whose attempt is
  // past the first.
  for (const TimedEvent& te : o.events) {
    std::visit(
        [&](const auto& e) {
          using E = std::decay_t<decltype(e)>;
          if constexpr (std::is_same_v<E, ev::Fault>) {
            // Each answer of the error table a rule injected, by its label; and
            // every fault kind, whichever door it went through.
            if (e.rule >= 0 && static_cast<std::size_t>(e.rule) < rules.size()) {
              const FaultRule& rule = rules[static_cast<std::size_t>(e.rule)];
              if (!rule.note.empty()) ++reached["answer." + rule.note];
              if (rule.after) ++reached["answer.applied_then_failed"];
            }
            if (e.op) ++reached["fault." + e.fault];  // a file operation: the fake names the kind
          } else if constexpr (std::is_same_v<E, ev::RetryAfterHold>) ++after;
          else if constexpr (std::is_same_v<E, ev::Split>) ++split;
          else if constexpr (std::is_same_v<E, ev::PollTimeout>) ++timeout;
          else if constexpr (std::is_same_v<E, ev::RunRestart>) ++resume;
          else if constexpr (std::is_same_v<E, ev::RunControl>) stops += e.what == "stop" && !e.skipped ? 1 : 0;
          else if constexpr (std::is_same_v<E, ev::Polled>) pollf += e.status == "fault" ? 1 : 0;
          else if constexpr (std::is_same_v<E, ev::StatsFault>) ++pollf;
          else if constexpr (std::is_same_v<E, ev::BatchSent> || std::is_same_v<E, ev::OneSent> ||
                             std::is_same_v<E, ev::UploadStart>)
            retry += e.attempt > 1 ? 1 : 0;
        },
        te.event);
  }
  reached["path.retry"] += retry;
  reached["path.retry_after_wait"] += after;
  reached["path.split_413"] += split;
  reached["path.poll_fault_retry"] += pollf;
  reached["path.poll_timeout"] += timeout;
  reached["path.crash_resume"] += resume;
  reached["path.clean_stop"] += stops;
  // A hostile variant of the fake is met when the case polled it — or, for
  // a destination that polls nothing (a synchronous API), when the fake
  // itself answered one of its requests.
  if (!c_hostile.empty()) {
    bool met = false;
    const bool polls = o.entry->capabilities.polls;
    for (const TimedEvent& te : o.events) {
      if (polls) met |= std::holds_alternative<ev::Polled>(te.event);
      else if (const auto* r = std::get_if<ev::HttpResponse>(&te.event)) met |= !r->injected;
    }
    if (met) ++reached["hostile." + c_hostile];
  }
  // An operator act is met when it was played while work was in flight:
  // before the run drained.
  if (!c.act.empty()) {
    for (const TimedEvent& te : o.events) {
      if (std::holds_alternative<ev::RunDrained>(te.event)) break;
      if (const auto* rc = std::get_if<ev::RunControl>(&te.event); rc && rc->what == "fake") {
        ++reached["act." + c.act];
        break;
      }
    }
  }
}

std::vector<std::string> applicable_paths(const DestinationEntry& e) {
  std::vector<std::string> out;
  for (const Path& p : kPaths) {
    if (p.needs_crash) {
      if (crashable(e)) out.push_back(p.name);
      continue;
    }
    if (p.bulk_only && !e.capabilities.bulk) continue;
    if (p.batch_only && e.capabilities.bulk) continue;
    if (fake_door_of(e) == FakeDoor::file && p.bulk_only) continue;  // no imports
    if (!e.capabilities.polls && (std::string_view(p.name) == "poll_fault_retry" ||
                                  std::string_view(p.name) == "poll_timeout"))
      continue;  // answered at once: nothing is polled
    out.push_back(p.name);
  }
  return out;
}

struct CaseRun {
  bool ran = false;
  std::string error;  // the run itself failed (bad config: an input error)
  bool hung = false;  // cut at the run's bound: still busy, or over the step bound (G1)
  std::vector<PropertyResult> results;
};

// H1 reruns one case in every `every`: in block b of `every` cases, the one at
// offset b mod every. Not every multiple of `every`: the cases' forced fault
// kind, answer, crash, stop and hostile input go by index too, and multiples
// would rerun the same few of them (always the same forced kind) every time.
bool h1_sampled(std::int64_t index, std::int64_t every) {
  return every > 0 && index % every == (index / every) % every;
}

CaseRun run_case(const DestinationEntry& entry, const CaseSpec& c, bool with_h1,
                 std::map<std::string, std::int64_t>* reached, const std::string& only = "") {
  CaseRun cr;
  Scenario s = case_scenario(entry, c);
  RunOptions o;
  o.keep_lines = false;  // the checks read the typed events
  auto out = run_scenario(s, o);
  if (!out.ok()) {
    cr.error = out.error().message;
    return cr;
  }
  cr.ran = true;
  cr.hung = !out->status.ok() &&
            (out->status.error().code == ErrorCode::hang || out->status.error().code == ErrorCode::step_bound);
  if (reached) count_reached(*out, s, c, *reached);
  std::vector<std::string> ids;
  for (const auto& p : property_catalogue()) {
    if (!only.empty() && p.id != only) continue;
    if (p.id == "H1" && !with_h1) continue;
    ids.push_back(p.id);
  }
  cr.results = check_properties(ids, *out, s);
  return cr;
}

bool breaks(const DestinationEntry& entry, const CaseSpec& c, const std::string& property, std::string* detail) {
  CaseRun cr = run_case(entry, c, property == "H1", nullptr, property);
  if (!cr.ran) return false;
  for (const auto& r : cr.results) {
    if (r.id == property && r.verdict == Verdict3::fail) {
      if (detail) *detail = r.detail;
      return true;
    }
  }
  return false;
}

// Smaller versions of a case, most promising first: RapidCheck walks them and
// keeps the first that still fails, then shrinks that.
rc::Seq<CaseSpec> shrink_case(const CaseSpec& c) {
  std::vector<CaseSpec> out;
  if (c.stop_at) {
    CaseSpec s = c;
    s.stop_at.reset();
    out.push_back(std::move(s));
  }
  for (std::size_t i = 0; i < c.crashes.size(); ++i) {
    CaseSpec s = c;
    s.crashes.erase(s.crashes.begin() + static_cast<std::ptrdiff_t>(i));
    out.push_back(std::move(s));
  }
  for (std::size_t i = 0; i < c.faults.size(); ++i) {
    CaseSpec s = c;
    s.faults.erase(s.faults.begin() + static_cast<std::ptrdiff_t>(i));
    out.push_back(std::move(s));
  }
  if (c.records > 1) {
    CaseSpec half = c;
    half.records = c.records / 2;
    out.push_back(std::move(half));
    CaseSpec less = c;
    less.records = c.records - 1;
    out.push_back(std::move(less));
  }
  if (c.short_poll_timeout) {
    CaseSpec s = c;
    s.short_poll_timeout = false;
    out.push_back(std::move(s));
  }
  if (c.pace.count() > 0) {
    CaseSpec s = c;
    s.pace = Duration(0);
    out.push_back(std::move(s));
  }
  if (c.sync) {
    CaseSpec s = c;
    s.sync = false;
    s.stream_error_after = -1;
    out.push_back(std::move(s));
    if (c.stream_error_after >= 0) {
      CaseSpec e = c;
      e.stream_error_after = -1;
      out.push_back(std::move(e));
    }
  }
  if (c.invalid.num > 0) {
    CaseSpec s = c;
    s.invalid = Ratio{0, 1};
    out.push_back(std::move(s));
  }
  if (c.identical.num > 0) {
    CaseSpec s = c;
    s.identical = Ratio{0, 1};
    out.push_back(std::move(s));
  }
  if (c.payload_bytes > 0) {
    CaseSpec s = c;
    s.payload_bytes = 0;
    out.push_back(std::move(s));
  }
  if (c.oversize.num > 0) {
    CaseSpec s = c;
    s.oversize = Ratio{0, 1};
    s.oversize_bytes = 0;
    out.push_back(std::move(s));
  }
  if (c.odd_text) {
    CaseSpec s = c;
    s.odd_text = false;
    out.push_back(std::move(s));
  }
  if (c.clock_skew.count() != 0) {
    CaseSpec s = c;
    s.clock_skew = Duration(0);
    out.push_back(std::move(s));
  }
  for (auto it = c.config.begin(); it != c.config.end(); ++it) {
    CaseSpec s = c;
    s.config.erase(it.key());
    out.push_back(std::move(s));
  }
  if (!c.hostile.empty()) {
    CaseSpec s = c;
    s.hostile.clear();
    out.push_back(std::move(s));
  }
  if (!c.act.empty()) {
    CaseSpec s = c;
    s.act.clear();
    out.push_back(std::move(s));
  }
  for (std::size_t i = 0; i < c.faults.size(); ++i) {
    if (c.faults[i].times && *c.faults[i].times > 1) {
      CaseSpec s = c;
      s.faults[i].times = *c.faults[i].times / 2;
      out.push_back(std::move(s));
    }
    if (c.faults[i].probability.num < c.faults[i].probability.den) {
      CaseSpec s = c;
      s.faults[i].probability = Ratio{1, 1};
      s.faults[i].times = std::min<std::int64_t>(c.faults[i].times.value_or(1), 3);
      out.push_back(std::move(s));
    }
  }
  return rc::seq::fromContainer(std::move(out));
}

std::string safe_name(std::string s) {
  for (char& ch : s)
    if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '-' && ch != '_') ch = '_';
  return s;
}

Status write_case(const DestinationEntry& entry, const CaseSpec& c, const std::string& property,
                  const std::string& detail, const std::string& path, std::uint64_t run_seed) {
  Scenario s = case_scenario(entry, c);
  s.name = entry.name + "-" + property + "-case-" + std::to_string(c.index);
  s.about = "certify: " + property + " broke — " + detail;
  s.expect.properties = {property};
  s.origin = {{"property", property},
              {"destination", entry.name},
              {"run_seed", run_seed},
              {"case", c.index},
              {"case_seed", c.seed},
              {"detail", detail}};
  std::ofstream f(path);
  if (!f) return Error::io(path + ": cannot write the failing case");
  f << scenario_to_json(s).dump(2) << "\n";
  f.flush();
  if (!f) return Error::io(path + ": write failed");
  return Status::success();
}

// Shrinks a failing case with RapidCheck: the generator yields the failing case
// with `shrink_case` as its shrink tree; the property writes the scenario each
// time the case still fails, so the file left last is the minimal one (the
// public API of RapidCheck 2021 does not hand back the shrunk value).
FailingCase shrink_and_write(const DestinationEntry& entry, const CaseSpec& failing, const std::string& property,
                             const std::string& detail, const CertifyOptions& options, bool hung) {
  const auto start = std::chrono::steady_clock::now();  // determinism-ok: reported shrink time only
  FailingCase fc;
  fc.property = property;
  fc.index = failing.index;
  fc.case_seed = failing.seed;
  fc.detail = detail;
  CaseSpec minimal = failing;
  std::string minimal_detail = detail;
  // A hang is written as drawn: every try would run to the bound of a run.
  if (options.shrink && !hung) {
    rc::Gen<CaseSpec> gen([failing](const rc::Random&, int) { return rc::shrinkable::shrinkRecur(failing, &shrink_case); });
    auto prop = [&] {
      const CaseSpec c = *gen;
      std::string d;
      const bool broke = breaks(entry, c, property, &d);
      if (broke) {
        minimal = c;
        minimal_detail = d;
      }
      RC_ASSERT(!broke);
    };
    rc::detail::TestParams params;
    params.seed = failing.seed;
    params.maxSuccess = 1;
    params.maxSize = 0;
    rc::detail::TestMetadata meta;
    meta.id = entry.name + "/" + property;
    // Our own listener: RapidCheck's default one prints a reproduce string at
    // exit, which means nothing here (the scenario file is the reproduction).
    struct Quiet final : rc::detail::TestListener {
      std::int64_t tried = 0, accepted = 0;
      void onTestCaseFinished(const rc::detail::CaseDescription&) override {}
      void onShrinkTried(const rc::detail::CaseDescription&, bool ok) override {
        ++tried;
        accepted += ok ? 1 : 0;
      }
      void onTestFinished(const rc::detail::TestMetadata&, const rc::detail::TestResult&) override {}
    } quiet;
    rc::detail::checkTestable(prop, meta, params, quiet);
    fc.shrink_steps = quiet.accepted;
    fc.shrink_tries = quiet.tried;
  }
  fc.records = minimal.records;
  fc.fault_rules = static_cast<std::int64_t>(minimal.faults.size());
  fc.detail = minimal_detail;
  if (!options.out_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(options.out_dir, ec);
    const std::string path = options.out_dir + "/" + safe_name(entry.name) + "-" + property + "-case-" +
                             std::to_string(failing.index) + ".json";
    if (write_case(entry, minimal, property, minimal_detail, path, options.seed).ok()) fc.scenario_file = path;
  }
  fc.shrink_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();  // determinism-ok: reported only
  return fc;
}

}  // namespace

bool DestinationReport::certified() const {
  if (!unreached.empty()) return false;
  for (const auto& [_, t] : properties)
    if (t.fail > 0) return false;
  return cases > 0;
}

bool CertifyReport::ok() const {
  for (const auto& d : destinations)
    if (!d.certified()) return false;
  return true;
}

Result<DestinationEntry> destination_from_spec_checked(const nlohmann::json& spec, const std::string& where) {
  DS_TRY(DestinationEntry entry, destination_from_spec(spec, where));
  if (spec.is_object() && spec.contains("fake_options")) {
    const FakeEntry* fake = find_fake(entry.fake);
    if (!fake) return Error::bad_input(where + ": the spec's fake \"" + entry.fake + "\" is not a registered fake");
    auto made = fake->make(spec["fake_options"], where + ": /fake_options");
    if (!made.ok()) return made.error();
  }
  return entry;
}

Result<CertifyReport> certify(const std::vector<const DestinationEntry*>& entries, const CertifyOptions& options) {
  if (options.cases < 1) return Error::bad_input("--cases: expected an integer >= 1");
  if (options.shard_count < 1 || options.shard_index < 0 || options.shard_index >= options.shard_count)
    return Error::bad_input("--shard: expected I/N with 0 <= I < N");
  CertifyReport report;
  report.seed = options.seed;
  report.shard_index = options.shard_index;
  report.shard_count = options.shard_count;
  for (const DestinationEntry* entry : entries) {
    const auto start = std::chrono::steady_clock::now();  // determinism-ok: reported wall time only
    DestinationReport d;
    d.name = entry->name;
    d.shipped = entry->shipped;
    for (const auto& p : property_catalogue()) d.properties[p.id];
    std::set<std::string> shrunk;  // one written case per property
    // This shard's cases, run on `jobs` threads (each case alone on one thread,
    // as deterministic as ever), then taken in index order: the tallies, the
    // first failure per property and the shrinking (RapidCheck keeps global
    // state, so it runs here, on this thread) are those of a one-thread run.
    std::vector<std::int64_t> indices;
    for (std::int64_t i = 0; i < options.cases; ++i)
      if (i % options.shard_count == options.shard_index) indices.push_back(i);
    const auto mine = static_cast<std::int64_t>(indices.size());
    std::vector<CaseRun> runs(indices.size());
    std::vector<std::map<std::string, std::int64_t>> reached(indices.size());
    std::atomic<std::size_t> next{0};
    std::atomic<std::int64_t> done{0};
    std::mutex progress_mu;  // determinism-ok: the progress line is written by one thread at a time
    auto work = [&] {
      for (std::size_t k = next++; k < indices.size(); k = next++) {
        const std::int64_t i = indices[k];
        const CaseSpec c = generate_case(*entry, options.seed, i, options);
        runs[k] = run_case(*entry, c, h1_sampled(i, options.h1_every), &reached[k]);
        const std::int64_t n = ++done;
        if (options.progress) {
          std::lock_guard<std::mutex> lock(progress_mu);  // determinism-ok: progress output only
          options.progress(entry->name, n, mine);
        }
      }
    };
    const std::size_t jobs = std::min<std::size_t>(static_cast<std::size_t>(std::max(1, options.jobs)), indices.size());
    if (jobs <= 1) {
      work();
    } else {
      std::vector<std::thread> workers;  // determinism-ok: cases run in parallel, merged in index order
      for (std::size_t t = 0; t < jobs; ++t) workers.emplace_back(work);
      for (auto& w : workers) w.join();
    }
    for (std::size_t k = 0; k < indices.size(); ++k) {
      const std::int64_t i = indices[k];
      CaseRun& cr = runs[k];
      if (!cr.ran) return Error::bad_input(entry->name + ": case " + std::to_string(i) + " cannot run: " + cr.error);
      for (const auto& [key, n] : reached[k]) d.reached[key] += n;
      ++d.cases;
      for (const auto& r : cr.results) {
        PropertyTally& t = d.properties[r.id];
        switch (r.verdict) {
          case Verdict3::pass: ++t.pass; break;
          case Verdict3::not_applicable:
            ++t.not_applicable;
            if (t.detail.empty()) t.detail = r.detail, t.detail_case = i;
            break;
          case Verdict3::unchecked:
            ++t.unchecked;
            if (t.detail.empty()) t.detail = r.detail, t.detail_case = i;
            break;
          case Verdict3::fail:
            if (t.fail++ == 0) t.detail = "case " + std::to_string(i) + ": " + r.detail, t.detail_case = i;
            if (shrunk.insert(r.id).second) {
              const CaseSpec c = generate_case(*entry, options.seed, i, options);
              d.failures.push_back(shrink_and_write(*entry, c, r.id, r.detail, options, cr.hung));
            }
            break;
        }
      }
      cr = CaseRun{};  // its results are tallied
    }
    std::vector<std::string> required;
    for (const auto& p : applicable_paths(*entry)) required.push_back("path." + p);
    // Every fault kind the cases draw, and every answer of the API's error table.
    for (FaultKind k : kinds_for(*entry)) required.push_back(std::string("fault.") + fault_kind_name(k));
    if (const FakeEntry* fake = find_fake(entry->fake)) {
      bool applied = false;
      for (const auto& a : error_table_of(*fake)) {
        required.push_back("answer." + a.label);
        applied |= a.may_apply;
      }
      if (applied) required.push_back("answer.applied_then_failed");
      for (const auto& h : fake->hostile) required.push_back("hostile." + h.label);
      for (const auto& a : fake->operator_acts)
        for (const auto& h : a.companions) required.push_back("hostile." + h.label);
      for (const auto& a : fake->operator_acts) required.push_back("act." + a.label);
      if (entry->capabilities.bulk && !fake->results_reads.empty())
        required.push_back(std::string("answer.") + kResultsRefused);
    }
    for (const auto& p : required) {
      if (d.reached[p] != 0) continue;
      // A shard runs a slice of the cases: whether a path was reached is a
      // question for the union of the shards (sum their reports' "reached").
      if (options.shard_count > 1) d.unreached_in_shard.push_back(p);
      else d.unreached.push_back(p);
    }
    d.wall_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();  // determinism-ok: reported only
    report.destinations.push_back(std::move(d));
  }
  return report;
}

}  // namespace destsim
