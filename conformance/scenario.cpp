#include "conformance/scenario.h"

#include <algorithm>
#include <charconv>
#include <iterator>

#include "conformance/catalogue.h"
#include "destinations/destination.h"
#include "framework/config.h"
#include "fakes/catalog.h"
#include "framework/json_in.h"

namespace destsim {

const FakeEntry* scenario_fake(const Scenario& s, const DestinationEntry& entry) {
  return find_fake(s.fake_name.empty() ? entry.fake : s.fake_name);
}

nlohmann::json scenario_fake_options(const Scenario& s, const DestinationEntry& entry, const Config& config) {
  // The destination's own fake takes what its config implies (keys, limits);
  // another fake only the scenario's options.
  nlohmann::json o = s.fake_name.empty() && entry.fake_options ? entry.fake_options(config) : nlohmann::json::object();
  if (s.fake_options.is_object()) o.update(s.fake_options);
  return o;
}

namespace {

Result<CountBound> parse_bound(const JsonIn& in) {
  CountBound b;
  if (in.json().is_number_integer()) {
    DS_TRY(b.exactly, in.integer(0));
    return b;
  }
  DS_CHECK(in.only_keys({"min", "max", "exactly"}));
  if (in.has("min")) { DS_TRY(b.min, in.at("min").integer(0)); }
  if (in.has("max")) { DS_TRY(b.max, in.at("max").integer(0)); }
  if (in.has("exactly")) { DS_TRY(b.exactly, in.at("exactly").integer(0)); }
  if (b.min && b.max && *b.min > *b.max)
    return in.fail("min (" + std::to_string(*b.min) + ") is over max (" + std::to_string(*b.max) +
                   "): no count can hold both");
  return b;
}

Result<JobState> parse_state(const JsonIn& in) {
  DS_TRY(std::string s, in.string());
  if (s == "succeeded") return JobState::succeeded;
  if (s == "failed") return JobState::failed;
  if (s == "aborted") return JobState::aborted;
  return in.expected("\"succeeded\", \"failed\" or \"aborted\"");
}

Result<Expectations> parse_expect(const JsonIn& in) {
  Expectations e;
  DS_CHECK(in.only_keys({"jobs", "job", "requests", "within", "properties", "fake", "sync"}));
  if (in.has("sync")) {
    JsonIn sy = in.at("sync");
    DS_CHECK(sy.only_keys({"ok", "streams", "checkpoints"}));
    SyncExpectation se;
    if (sy.has("ok")) { DS_TRY(se.ok, sy.at("ok").boolean()); }
    if (sy.has("streams")) {
      JsonIn st = sy.at("streams");
      DS_CHECK(st.object());
      for (auto it = st.json().begin(); it != st.json().end(); ++it) {
        DS_TRY(std::string v, st.at(it.key()).string());
        if (v != "committed" && v != "failed") return st.at(it.key()).expected("\"committed\" or \"failed\"");
        se.streams[it.key()] = v;
      }
    }
    if (sy.has("checkpoints")) {
      JsonIn cp = sy.at("checkpoints");
      DS_CHECK(cp.object());
      for (auto it = cp.json().begin(); it != cp.json().end(); ++it) {
        JsonIn list = cp.at(it.key());
        DS_CHECK(list.array());
        std::vector<std::int64_t> counts;
        for (std::size_t i = 0; i < list.size(); ++i) {
          DS_TRY(std::int64_t n, list.at(i).integer(0));
          counts.push_back(n);
        }
        se.checkpoints[it.key()] = std::move(counts);
      }
    }
    e.sync = std::move(se);
  }
  if (in.has("jobs")) {
    JsonIn j = in.at("jobs");
    DS_CHECK(j.only_keys({"succeeded", "failed", "aborted", "unknown", "total"}));
    for (auto it = j.json().begin(); it != j.json().end(); ++it) {
      DS_TRY(std::int64_t n, j.at(it.key()).integer(0));
      e.jobs[it.key()] = n;
    }
  }
  if (in.has("job")) {
    JsonIn j = in.at("job");
    DS_CHECK(j.object());
    for (auto it = j.json().begin(); it != j.json().end(); ++it) {
      JsonIn one = j.at(it.key());
      // Digits only: from_chars takes no sign, space or exponent ("-1", " 17", "1e3").
      std::uint64_t id = 0;
      const std::string& key = it.key();
      auto [end, ec] = std::from_chars(key.data(), key.data() + key.size(), id);
      if (key.empty() || ec != std::errc() || end != key.data() + key.size() || id == 0)
        return one.fail("expected a job id (a positive integer, digits only) as the key, got \"" + key + "\"");
      JobExpectation je;
      if (one.json().is_string()) {
        DS_TRY(je.state, parse_state(one));
      } else {
        DS_CHECK(one.only_keys({"state", "reason_contains", "reason_kind", "outcome_unknown", "resent_after_unknown",
                                "attempts", "sent_with", "latency"}));
        DS_CHECK(one.require("state"));
        DS_TRY(je.state, parse_state(one.at("state")));
        if (one.has("reason_contains")) { DS_TRY(je.reason_contains, one.at("reason_contains").string()); }
        if (one.has("outcome_unknown")) { DS_TRY(je.outcome_unknown, one.at("outcome_unknown").boolean()); }
        if (one.has("resent_after_unknown")) {
          DS_TRY(je.resent_after_unknown, one.at("resent_after_unknown").boolean());
        }
        if (one.has("attempts")) { DS_TRY(je.attempts, parse_bound(one.at("attempts"))); }
        if (one.has("sent_with")) {
          JsonIn sw = one.at("sent_with");
          DS_CHECK(sw.array());
          std::vector<JobId> ids;
          bool self = false;
          for (std::size_t k = 0; k < sw.size(); ++k) {
            DS_TRY(std::int64_t other, sw.at(k).integer(1));
            ids.push_back(static_cast<JobId>(other));
            self |= static_cast<JobId>(other) == id;
          }
          std::sort(ids.begin(), ids.end());
          if (std::adjacent_find(ids.begin(), ids.end()) != ids.end()) return sw.expected("job ids without repeats");
          if (!self) return sw.expected("the jobs of the job's first send, the job " + key + " itself included");
          je.sent_with = std::move(ids);
        }
        if (one.has("latency")) {
          JsonIn l = one.at("latency");
          DS_CHECK(l.only_keys({"min", "max"}));
          if (l.has("min")) { DS_TRY(je.latency_min, l.at("min").duration()); }
          if (l.has("max")) { DS_TRY(je.latency_max, l.at("max").duration()); }
          if (!je.latency_min && !je.latency_max) return l.expected("\"min\" and/or \"max\" (durations)");
          if (je.latency_min && je.latency_max && *je.latency_min > *je.latency_max)
            return l.at("min").fail("min is over max: no latency can hold both");
        }
        if (one.has("reason_kind")) {
          DS_TRY(std::string k, one.at("reason_kind").string());
          je.reason_kind = reason_kind_from(k);
          if (!je.reason_kind || *je.reason_kind == ReasonKind::none)
            return one.at("reason_kind").fail(
                "expected a reason kind: invalid_record, rejected_by_api, auth, too_large, rate_limited, "
                "server_error, timeout, transport, unknown_outcome, stream_failed or lost; got \"" + k + "\"");
        }
      }
      e.job[id] = je;
    }
  }
  if (in.has("requests")) {
    JsonIn r = in.at("requests");
    if (r.json().is_number_integer()) {
      DS_TRY(e.requests, parse_bound(r));
    } else {
      DS_CHECK(r.only_keys({"min", "max", "exactly", "by_status", "by_endpoint"}));
      nlohmann::json plain = r.json();
      plain.erase("by_status");
      plain.erase("by_endpoint");
      if (r.has("by_endpoint")) {
        JsonIn be = r.at("by_endpoint");
        DS_CHECK(be.object());
        for (auto it = be.json().begin(); it != be.json().end(); ++it) {
          const std::string& k = it.key();
          const auto space = k.find(' ');
          const std::string verb = space == std::string::npos ? "" : k.substr(0, space);
          const std::string path = space == std::string::npos ? "" : k.substr(space + 1);
          const bool verb_ok = !verb.empty() && std::all_of(verb.begin(), verb.end(), [](char c) {
            return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '*';
          });
          if (!verb_ok || path.empty() || (path[0] != '/' && path[0] != '*'))
            return be.at(k).fail("expected \"METHOD /path\" as the key (an HTTP method or an SFTP operation, or *, "
                                 "then a glob over the path: \"POST /api/events/*\", \"put /exports/*\"), got \"" +
                                 k + "\"");
          DS_TRY(e.requests_by_endpoint[k], parse_bound(be.at(k)));
        }
      }
      DS_TRY(e.requests, parse_bound(JsonIn(plain, r.where(), r.path())));
      if (r.has("by_status")) {
        JsonIn bs = r.at("by_status");
        DS_CHECK(bs.object());
        for (auto it = bs.json().begin(); it != bs.json().end(); ++it) {
          // Exactly three digits, 100-599, or a class "1xx"-"5xx" (kept as 1-5):
          // "429 please", "4.29e2", "-5" or "4XX" are not statuses.
          const std::string& k = it.key();
          const bool digits = k.size() == 3 && std::all_of(k.begin(), k.end(), [](char c) { return c >= '0' && c <= '9'; });
          const bool status_class = k.size() == 3 && k[0] >= '1' && k[0] <= '5' && k[1] == 'x' && k[2] == 'x';
          const int status = digits ? std::stoi(k) : status_class ? k[0] - '0' : 0;
          if (!status_class && (status < 100 || status > 599))
            return bs.at(k).fail("expected an HTTP status (three digits, 100-599) or a class (\"4xx\") as the key, got \"" +
                                 k + "\"");
          DS_TRY(e.requests_by_status[status], parse_bound(bs.at(k)));
        }
      }
    }
  }
  if (in.has("within")) { DS_TRY(e.within, in.at("within").duration()); }
  if (in.has("properties")) {
    JsonIn p = in.at("properties");
    DS_CHECK(p.array());
    for (std::size_t i = 0; i < p.size(); ++i) {
      DS_TRY(std::string id, p.at(i).string());
      if (!find_property(id)) return p.at(i).expected("a property id of CONFORMANCE.md (" + property_ids() + ")");
      e.properties.push_back(id);
    }
  }
  if (in.has("fake")) {
    JsonIn f = in.at("fake");
    DS_CHECK(f.object());
    for (auto it = f.json().begin(); it != f.json().end(); ++it) {
      bool pointer = !it.key().empty() && it.key()[0] == '/';
      if (pointer) {
        try {
          nlohmann::json::json_pointer p(it.key());
        } catch (const nlohmann::json::exception&) {
          pointer = false;  // "~" not followed by 0 or 1 (RFC 6901)
        }
      }
      if (!pointer)
        return f.at(it.key()).fail("expected a JSON pointer into the fake's accepted state as the key (\"/events\"; "
                                   "a \"~\" is written \"~0\" and a \"/\" inside a key \"~1\"), got \"" +
                                   it.key() + "\"");
    }
    e.fake = f.json();
  }
  return e;
}

Result<Record> parse_record(const JsonIn& in, JobId fallback_id, Duration* at) {
  DS_CHECK(in.only_keys({"id", "stream", "payload", "at"}));
  DS_CHECK(in.require("payload"));
  Record r;
  r.id = fallback_id;
  if (in.has("id")) {
    DS_TRY(std::int64_t id, in.at("id").integer(1));
    r.id = static_cast<JobId>(id);
  }
  if (in.has("stream")) { DS_TRY(r.stream, in.at("stream").string()); }
  r.payload = in.at("payload").json();
  if (in.has("at")) { DS_TRY(*at, in.at("at").duration()); }
  return r;
}

Result<SyncInput> parse_sync(const JsonIn& in) {
  DS_CHECK(in.only_keys({"streams", "state_every", "messages", "end"}));
  SyncInput si;
  DS_CHECK(in.require("streams"));
  JsonIn st = in.at("streams");
  DS_CHECK(st.array());
  for (std::size_t i = 0; i < st.size(); ++i) {
    JsonIn one = st.at(i);
    StreamSpec spec;
    if (one.json().is_string()) {
      DS_TRY(spec.name, one.string());
    } else {
      DS_CHECK(one.only_keys({"name", "mode", "primary_key", "generation"}));
      DS_CHECK(one.require("name"));
      DS_TRY(spec.name, one.at("name").string());
      if (one.has("mode")) { DS_TRY(spec.mode, one.at("mode").string()); }
      if (one.has("primary_key")) {
        JsonIn pk = one.at("primary_key");
        DS_CHECK(pk.array());
        for (std::size_t k = 0; k < pk.size(); ++k) {
          DS_TRY(std::string key, pk.at(k).string());
          spec.primary_key.push_back(std::move(key));
        }
      }
      if (one.has("generation")) { DS_TRY(spec.generation, one.at("generation").integer(0)); }
    }
    si.streams.push_back(std::move(spec));
  }
  Status valid = Sync::validate(si.streams);
  if (!valid.ok()) return st.fail(valid.error().message);
  if (in.has("state_every")) { DS_TRY(si.state_every, in.at("state_every").integer(0, 1'000'000'000)); }
  if (in.has("end")) { DS_TRY(si.end, in.at("end").boolean()); }
  if (in.has("messages")) {
    JsonIn ms = in.at("messages");
    DS_CHECK(ms.array());
    for (std::size_t i = 0; i < ms.size(); ++i) {
      JsonIn m = ms.at(i);
      DS_CHECK(m.only_keys({"after", "state", "end", "error", "stream", "undeclared"}));
      SyncInput::Placed p;
      if (m.has("after")) { DS_TRY(p.after, m.at("after").integer(0)); }
      const int kinds = (m.has("state") ? 1 : 0) + (m.has("end") ? 1 : 0) + (m.has("error") ? 1 : 0);
      if (kinds != 1) return m.fail("expected exactly one of \"state\", \"end\" or \"error\"");
      if (m.has("stream")) { DS_TRY(p.message.stream, m.at("stream").string()); }
      if (m.has("state")) {
        p.message.kind = SyncMessage::Kind::state;
        p.message.state = m.at("state").json();
        if (p.message.stream.empty()) return m.fail("a state message needs a \"stream\"");
      } else if (m.has("end")) {
        p.message.kind = SyncMessage::Kind::end;
        DS_TRY(p.message.stream, m.at("end").string());
      } else {
        p.message.kind = SyncMessage::Kind::error;
        DS_TRY(p.message.error, m.at("error").string());
      }
      if (m.has("undeclared")) { DS_TRY(p.undeclared, m.at("undeclared").boolean()); }
      // A stream the sync does not declare is a typo unless the message says it
      // is the point (a source that names an unknown stream).
      bool declared = p.message.stream.empty();
      for (const auto& spec : si.streams) declared |= spec.name == p.message.stream;
      if (!declared && !p.undeclared)
        return m.at(m.has("end") ? "end" : "stream")
            .fail("names stream \"" + p.message.stream + "\", which /sync/streams does not declare (write "
                  "\"undeclared\": true on the message if a source naming an unknown stream is the point)");
      if (declared && p.undeclared && !p.message.stream.empty())
        return m.at("undeclared").fail("the stream \"" + p.message.stream + "\" is declared");
      si.messages.push_back(std::move(p));
    }
  }
  return si;
}

}  // namespace

namespace {

// "a, b, c or d"
template <std::size_t N>
std::string step_names(const char* const (&steps)[N]) {
  std::string out;
  for (std::size_t i = 0; i < N; ++i) out += std::string(i == 0 ? "" : i + 1 == N ? " or " : ", ") + steps[i];
  return out;
}

// When an event comes: exactly one of "at" (a virtual time, left to the
// caller) and "step" (one of `steps`), then "nth" (the time the step is
// reached; only with a step). Crashes and operator acts share it.
template <std::size_t N>
Status parse_step(const JsonIn& e, const char* const (&steps)[N], const char* noun, std::string& step, int& nth) {
  if (e.has("at") == e.has("step") || (e.has("nth") && !e.has("step")))
    return e.fail("expected exactly one of \"at\" (a virtual time) or \"step\" (" + step_names(steps) +
                  ", with \"nth\")");
  if (!e.has("step")) return Status::success();
  DS_TRY(step, e.at("step").string());
  if (std::none_of(std::begin(steps), std::end(steps), [&](const char* k) { return step == k; }))
    return e.at("step").expected(std::string(noun) + ": " + step_names(steps));
  if (e.has("nth")) {
    DS_TRY(std::int64_t n, e.at("nth").integer(1, 1'000'000));
    nth = static_cast<int>(n);
  }
  return Status::success();
}

Result<CrashPoint> parse_crash(const JsonIn& c, const JsonIn& args) {
  CrashPoint cp;
  DS_CHECK(parse_step(c, kCrashSteps, "a crash step", cp.step, cp.nth));
  if (c.has("at")) { DS_TRY(cp.at, c.at("at").duration()); }
  if (args.has("restart_after")) { DS_TRY(cp.restart_after, args.at("restart_after").duration()); }
  if (args.has("optional")) { DS_TRY(cp.optional, args.at("optional").boolean()); }
  return cp;
}

Result<Duration> parse_skew(const JsonIn& k) {
  const std::string_view expected = "a signed duration such as \"+2h\" or \"-90s\", at most 7d either way";
  DS_TRY(std::string text, k.string());
  if (text.size() < 2 || (text[0] != '+' && text[0] != '-')) return k.expected(expected);
  auto d = parse_duration(text.substr(1));
  if (!d.ok() || *d > kClockSkewMax) return k.expected(expected);
  return text[0] == '-' ? -*d : *d;
}


// v2 `events`: crashes and control events, each at a time (a crash may come at a step instead).
Status parse_events(const JsonIn& es, Scenario& s) {
  DS_CHECK(es.array());
  if (es.size() > kScenarioEventsMax)
    return es.expected("at most " + std::to_string(kScenarioEventsMax) + " events");
  for (std::size_t i = 0; i < es.size(); ++i) {
    JsonIn e = es.at(i);
    DS_CHECK(e.only_keys({"at", "step", "nth", "crash", "stop", "start", "config", "fake", "clock_skew"}));
    int kinds = 0;
    for (const char* k : {"crash", "stop", "start", "config", "fake", "clock_skew"}) kinds += e.has(k);
    if (kinds != 1)
      return e.fail("expected exactly one of \"crash\", \"stop\", \"start\", \"config\", \"fake\" or \"clock_skew\"");
    if (e.has("crash")) {
      JsonIn args = e.at("crash");
      if (args.json().is_boolean()) {
        if (!args.json().get<bool>()) return args.expected("true or {\"restart_after\": \"30s\", \"optional\": true}");
      } else {
        DS_CHECK(args.only_keys({"restart_after", "optional"}));
      }
      DS_TRY(CrashPoint cp, parse_crash(e, args));
      s.crashes.push_back(std::move(cp));
      continue;
    }
    ControlEvent ce;
    ce.path = e.path();
    if (e.has("fake")) {
      // An operator's act: at a time, or at a step of the framework as a crash may come.
      DS_CHECK(parse_step(e, kActSteps, "a step", ce.step, ce.nth));
      if (e.has("at")) { DS_TRY(ce.at, e.at("at").duration()); }
    } else {
      if (e.has("step") || e.has("nth"))
        return e.at(e.has("step") ? "step" : "nth").fail("only a crash or a fake operation comes at a step");
      DS_CHECK(e.require("at"));
      DS_TRY(ce.at, e.at("at").duration());
    }
    if (e.has("stop") || e.has("start")) {
      const char* k = e.has("stop") ? "stop" : "start";
      JsonIn v = e.at(k);
      if (!v.json().is_boolean() || !v.json().get<bool>()) return v.expected("true");
      ce.kind = e.has("stop") ? ControlEvent::Kind::stop : ControlEvent::Kind::start;
    } else if (e.has("config")) {
      DS_CHECK(e.at("config").object());
      ce.kind = ControlEvent::Kind::config;
      ce.config = e.at("config").json();
    } else if (e.has("fake")) {
      DS_CHECK(e.at("fake").object());
      ce.kind = ControlEvent::Kind::fake;
      ce.op = e.at("fake").json();
    } else {
      ce.kind = ControlEvent::Kind::clock_skew;
      DS_TRY(ce.skew, parse_skew(e.at("clock_skew")));
    }
    s.events.push_back(std::move(ce));
  }
  return Status::success();
}

}  // namespace

std::string format_clock_skew(Duration d) { return (d.count() < 0 ? "-" : "+") + format_duration(d.count() < 0 ? -d : d); }

const char* control_event_name(ControlEvent::Kind kind) {
  switch (kind) {
    case ControlEvent::Kind::stop: return "stop";
    case ControlEvent::Kind::start: return "start";
    case ControlEvent::Kind::config: return "config";
    case ControlEvent::Kind::fake: return "fake";
    case ControlEvent::Kind::clock_skew: return "clock_skew";
  }
  return "?";
}

namespace {

// The timeline must make sense before anything runs: the fake takes its seed
// and every operation (tried, in time order, on a fresh fake), each config
// change resolves against the one in force, and a stopped destination is
// started again (a run that ends stopped never drains).
Status check_timeline(const Scenario& s, const DestinationEntry& entry, const std::string& where) {
  if (s.fake_seed.empty() && s.events.empty() && s.fake_name.empty()) return Status::success();
  DS_TRY(Config config, Config::resolve(s.config, s.destination, entry.schema, where + ": /destination/config"));
  const FakeEntry* fe = scenario_fake(s, entry);
  if (!fe) return Error::internal("destination " + entry.name + " names unknown fake " + entry.fake);
  DS_TRY(std::unique_ptr<Fake> fake, fe->make(scenario_fake_options(s, entry, config), where + ": /fake/options"));
  for (std::size_t i = 0; i < s.fake_seed.size(); ++i)
    DS_CHECK(fake->control(JsonIn(s.fake_seed[i], where, "/fake/seed/" + std::to_string(i)), kTimeZero));
  std::vector<const ControlEvent*> order;
  for (const auto& e : s.events) order.push_back(&e);
  std::stable_sort(order.begin(), order.end(), [](const ControlEvent* a, const ControlEvent* b) { return a->at < b->at; });
  nlohmann::json raw = s.config;
  bool running = true;
  const ControlEvent* stopped_by = nullptr;
  for (const ControlEvent* e : order) {
    switch (e->kind) {
      case ControlEvent::Kind::fake:
        DS_CHECK(fake->control(JsonIn(e->op, where, e->path + "/fake"), kTimeZero + e->at));
        break;
      case ControlEvent::Kind::config: {
        raw.update(e->config);
        auto r = Config::resolve(raw, s.destination, entry.schema, where + ": " + e->path + "/config");
        if (!r.ok()) return r.error();
        break;
      }
      case ControlEvent::Kind::stop:
        if (!running) return JsonIn(e->op, where, e->path).fail("stops a destination already stopped (at " +
                                                                format_duration(stopped_by->at) + ")");
        running = false;
        stopped_by = e;
        break;
      case ControlEvent::Kind::start:
        if (running) return JsonIn(e->op, where, e->path).fail("starts a destination that is running (stop it first)");
        running = true;
        break;
      case ControlEvent::Kind::clock_skew:
        if (fe->door != FakeDoor::http)
          return JsonIn(e->op, where, e->path + "/clock_skew").fail("a clock skew needs an HTTP fake (it dates answers)");
        break;
    }
  }
  if (!running)
    return JsonIn(stopped_by->op, where, stopped_by->path)
        .fail("stops the destination at " + format_duration(stopped_by->at) +
              " and nothing starts it again: the input would never drain (add {\"at\": …, \"start\": true})");
  return Status::success();
}

Result<Scenario> parse_scenario_body(const nlohmann::json& doc, const std::string& where) {
  JsonIn in(doc, where);
  DS_CHECK(in.object());
  DS_CHECK(in.require("scenario"));
  DS_TRY(std::int64_t version, in.at("scenario").integer());
  if (version < kScenarioVersionOldest || version > kScenarioVersion)
    return in.at("scenario").expected("scenario format version " + std::to_string(kScenarioVersion) + " (or " +
                                      std::to_string(kScenarioVersionOldest) + ", which loads migrated)");
  if (version == 1) {
    DS_CHECK(in.only_keys({"scenario", "name", "about", "seed", "destination", "fake", "input", "faults", "transport",
                           "crashes", "sync", "expect", "origin"}));
  } else {
    if (in.has("crashes"))
      return in.at("crashes").fail("version 2 writes crashes as events ({\"at\": \"5m\", \"crash\": {\"restart_after\": "
                                   "\"30s\"}}); `destsim migrate` rewrites a version 1 file");
    DS_CHECK(in.only_keys({"scenario", "name", "about", "seed", "destination", "fake", "input", "faults", "transport",
                           "events", "sync", "expect", "origin"}));
  }
  Scenario s;
  s.file = where;
  s.version = static_cast<int>(version);
  DS_CHECK(in.require("name"));
  DS_TRY(s.name, in.at("name").string());
  if (in.has("about")) { DS_TRY(s.about, in.at("about").string()); }
  if (in.has("seed")) {
    if (!doc["seed"].is_number_unsigned() && !doc["seed"].is_number_integer())
      return in.at("seed").expected("a non-negative integer");
    if (doc["seed"].is_number_unsigned()) {
      s.seed = doc["seed"].get<std::uint64_t>();  // the whole 64-bit range (derived case seeds use it)
    } else {
      DS_TRY(std::int64_t seed, in.at("seed").integer(0));
      s.seed = static_cast<std::uint64_t>(seed);
    }
  }
  DS_CHECK(in.require("destination"));
  JsonIn d = in.at("destination");
  DS_CHECK(d.only_keys({"name", "config"}));
  DS_CHECK(d.require("name"));
  DS_TRY(s.destination, d.at("name").string());
  const DestinationEntry* entry = find_destination(s.destination);
  if (!entry) return d.at("name").expected("a registered destination (" + destination_names() + ")");
  if (d.has("config")) {
    DS_CHECK(d.at("config").object());
    s.config = d.at("config").json();
  }
  // Resolving now reports unknown keys and bad types with their JSON path.
  auto resolved = Config::resolve(s.config, s.destination, entry->schema, where + ": /destination/config");
  if (!resolved.ok()) return resolved.error();
  if (in.has("fake")) {
    JsonIn f = in.at("fake");
    if (s.version == 1) {
      DS_CHECK(f.only_keys({"options"}));
    } else {
      DS_CHECK(f.only_keys({"name", "options", "seed"}));
    }
    if (f.has("name")) {
      DS_TRY(s.fake_name, f.at("name").string());
      const FakeEntry* chosen = find_fake(s.fake_name);
      const FakeEntry* own = find_fake(entry->fake);
      if (!chosen) return f.at("name").expected("a fake (" + fake_names() + ")");
      if (own && chosen->door != own->door)
        return f.at("name").fail("fake " + s.fake_name + " serves the " + fake_door_name(chosen->door) + " door; " +
                                 s.destination + " speaks " + fake_door_name(own->door));
      if (s.fake_name == entry->fake) s.fake_name.clear();  // its own fake, said explicitly
    }
    if (f.has("options")) {
      DS_CHECK(f.at("options").object());
      s.fake_options = f.at("options").json();
    }
    if (f.has("seed")) {
      JsonIn seed = f.at("seed");
      DS_CHECK(seed.array());
      if (seed.size() > kFakeSeedOpsMax)
        return seed.expected("at most " + std::to_string(kFakeSeedOpsMax) + " seeding operations");
      for (std::size_t i = 0; i < seed.size(); ++i) {
        DS_CHECK(seed.at(i).object());
        s.fake_seed.push_back(seed.at(i).json());
      }
    }
  }
  DS_CHECK(in.require("input"));
  JsonIn input = in.at("input");
  DS_CHECK(input.only_keys({"records", "generate", "pace"}));
  if (input.has("records") == input.has("generate"))
    return input.fail("expected exactly one of \"records\" (literal) or \"generate\" (seeded)");
  if (input.has("records")) {
    JsonIn recs = input.at("records");
    DS_CHECK(recs.array());
    std::map<JobId, std::size_t> seen;
    for (std::size_t i = 0; i < recs.size(); ++i) {
      Duration at{0};
      DS_TRY(Record r, parse_record(recs.at(i), static_cast<JobId>(i + 1), &at));
      if (seen.count(r.id)) {
        return recs.at(i).fail("duplicate record id " + std::to_string(r.id) + " (also at /input/records/" +
                               std::to_string(seen[r.id]) + "); ids are unique per run");
      }
      seen[r.id] = i;
      s.records.push_back({std::move(r), at});
    }
  } else {
    JsonIn g = input.at("generate");
    DS_CHECK(g.only_keys({"records", "type", "invalid", "payload_bytes", "identical", "oversize", "oversize_bytes",
                          "odd_text"}));
    DS_CHECK(g.require("records"));
    GeneratedInput gi;
    DS_TRY(gi.records, g.at("records").integer(0, 100'000'000));
    if (g.has("type")) { DS_TRY(gi.type, g.at("type").string()); }
    if (g.has("invalid")) { DS_TRY(gi.invalid, g.at("invalid").ratio()); }
    auto padding = [&](const char* key, std::int64_t& out) -> Status {
      DS_TRY(out, g.at(key).size_bytes());
      if (out > kPaddingBytesMax)
        return g.at(key).expected("a padding of at most " + format_size(kPaddingBytesMax) + " per record");
      return Status::success();
    };
    if (g.has("payload_bytes")) { DS_CHECK(padding("payload_bytes", gi.payload_bytes)); }
    if (g.has("identical")) { DS_TRY(gi.identical, g.at("identical").ratio()); }
    if (g.has("oversize")) { DS_TRY(gi.oversize, g.at("oversize").ratio()); }
    if (g.has("oversize_bytes")) { DS_CHECK(padding("oversize_bytes", gi.oversize_bytes)); }
    if (gi.oversize.num > 0 && !g.has("oversize_bytes"))
      return g.at("oversize").expected("\"oversize_bytes\" beside it (the padding of an oversize record)");
    if (g.has("odd_text")) { DS_TRY(gi.odd_text, g.at("odd_text").boolean()); }
    s.generate = gi;
  }
  if (input.has("pace")) { DS_TRY(s.pace, input.at("pace").duration()); }
  if (in.has("faults")) {
    DS_TRY(s.faults, FaultPlan::from_json(doc["faults"], where + ": /faults"));
  }
  if (in.has("transport")) {
    JsonIn t = in.at("transport");
    DS_CHECK(t.only_keys({"request_timeout", "latency", "clock_skew"}));
    if (t.has("request_timeout")) { DS_TRY(s.request_timeout, t.at("request_timeout").duration()); }
    if (t.has("latency")) { DS_TRY(s.latency, t.at("latency").duration()); }
    if (t.has("clock_skew")) { DS_TRY(s.clock_skew, parse_skew(t.at("clock_skew"))); }
  }
  if (in.has("crashes")) {
    JsonIn cs = in.at("crashes");
    DS_CHECK(cs.array());
    for (std::size_t i = 0; i < cs.size(); ++i) {
      JsonIn c = cs.at(i);
      DS_CHECK(c.only_keys({"at", "step", "nth", "restart_after", "optional"}));
      DS_TRY(CrashPoint cp, parse_crash(c, c));
      s.crashes.push_back(std::move(cp));
    }
  }
  if (in.has("events")) { DS_CHECK(parse_events(in.at("events"), s)); }
  if (in.has("sync")) { DS_TRY(s.sync, parse_sync(in.at("sync"))); }
  if (in.has("expect")) { DS_TRY(s.expect, parse_expect(in.at("expect"))); }
  if (s.expect.sync && !s.sync) return in.at("expect").at("sync").fail("expectations on a sync, but the scenario has no \"sync\"");
  if (!s.fake_name.empty() && !s.expect.properties.empty())
    return in.at("expect").at("properties").fail(
        "properties judge from the destination's own fake (" + entry->fake + "); with fake " + s.fake_name +
        " assert on requests, jobs and expect.fake instead");
  if (in.has("origin")) s.origin = doc["origin"];
  DS_CHECK(check_timeline(s, *entry, where));
  return s;
}

}  // namespace

Result<Scenario> parse_scenario(const nlohmann::json& doc, const std::string& where) {
  if (doc.is_object() && doc.contains("must_reject")) {
    // A scenario that must not load: read the declaration, then load the rest.
    JsonIn mr = JsonIn(doc, where).at("must_reject");
    DS_CHECK(mr.only_keys({"path", "contains"}));
    DS_CHECK(mr.require("path"));
    LoadRejection r;
    DS_TRY(r.path, mr.at("path").string());
    if (r.path.empty() || r.path[0] != '/') return mr.at("path").expected("a JSON pointer (\"/destination/config\")");
    if (mr.has("contains")) { DS_TRY(r.contains, mr.at("contains").string()); }
    nlohmann::json rest = doc;
    rest.erase("must_reject");
    Scenario s;
    s.file = where;
    s.name = rest.value("name", nlohmann::json("")).is_string() ? rest.value("name", "") : "";
    s.must_reject = std::move(r);
    s.source = doc;
    auto loaded = parse_scenario_body(rest, where);
    if (!loaded.ok()) s.rejected_with = loaded.error().message;
    return s;
  }
  return parse_scenario_body(doc, where);
}

Status check_rejection(const Scenario& s) {
  DS_ASSERT(s.must_reject);
  const LoadRejection& r = *s.must_reject;
  const std::string at = s.file + ": " + r.path;
  if (s.rejected_with.empty())
    return Error::bad_input(s.file + ": must be rejected at " + r.path + ", but it loaded");
  const bool path_ok = s.rejected_with.rfind(at, 0) == 0 &&
                       (s.rejected_with.size() == at.size() || s.rejected_with[at.size()] == ':' ||
                        s.rejected_with[at.size()] == ' ');
  if (!path_ok || s.rejected_with.find(r.contains) == std::string::npos)
    return Error::bad_input(s.file + ": must be rejected at " + r.path +
                         (r.contains.empty() ? "" : " with \"" + r.contains + "\"") + ", but the loader said: " +
                         s.rejected_with);
  return Status::success();
}

Result<Scenario> load_scenario(const std::string& path) {
  DS_TRY(nlohmann::json doc, read_json_file(path));
  return parse_scenario(doc, path);
}

nlohmann::json scenario_to_json(const Scenario& s, bool with_secrets) {
  if (s.must_reject) return s.source;  // a document that must not load is kept as written
  nlohmann::json out;
  out["scenario"] = kScenarioVersion;
  out["name"] = s.name;
  if (!s.about.empty()) out["about"] = s.about;
  out["seed"] = s.seed;
  nlohmann::json config = s.config;
  if (!with_secrets) {
    if (const DestinationEntry* e = find_destination(s.destination)) {
      for (const auto& k : e->schema) {
        if (k.type == ConfigType::secret && config.contains(k.name)) config[k.name] = {{"secret", "***"}};
      }
    }
  }
  out["destination"] = {{"name", s.destination}, {"config", config}};
  nlohmann::json fake = nlohmann::json::object();
  if (!s.fake_name.empty()) fake["name"] = s.fake_name;
  if (!s.fake_options.is_null()) fake["options"] = s.fake_options;
  if (!s.fake_seed.empty()) fake["seed"] = s.fake_seed;
  if (!fake.empty()) out["fake"] = fake;
  nlohmann::json input;
  if (s.generate) {
    nlohmann::json g = {{"records", s.generate->records}};
    if (!s.generate->type.empty()) g["type"] = s.generate->type;
    if (s.generate->invalid.num) g["invalid"] = s.generate->invalid.to_string();
    if (s.generate->payload_bytes) g["payload_bytes"] = s.generate->payload_bytes;
    if (s.generate->identical.num) g["identical"] = s.generate->identical.to_string();
    if (s.generate->oversize.num) {
      g["oversize"] = s.generate->oversize.to_string();
      g["oversize_bytes"] = s.generate->oversize_bytes;
    }
    if (s.generate->odd_text) g["odd_text"] = true;
    input["generate"] = g;
  } else {
    nlohmann::json recs = nlohmann::json::array();
    for (const auto& r : s.records) {
      nlohmann::json j = {{"id", r.record.id}, {"stream", r.record.stream}, {"payload", r.record.payload}};
      if (r.at.count()) j["at"] = format_duration(r.at);
      recs.push_back(j);
    }
    input["records"] = recs;
  }
  if (s.pace.count()) input["pace"] = format_duration(s.pace);
  out["input"] = input;
  if (!s.faults.empty()) out["faults"] = s.faults.to_json();
  out["transport"] = {{"request_timeout", format_duration(s.request_timeout)}, {"latency", format_duration(s.latency)}};
  if (s.clock_skew.count() != 0) out["transport"]["clock_skew"] = format_clock_skew(s.clock_skew);
  if (!s.crashes.empty() || !s.events.empty()) {
    nlohmann::json es = nlohmann::json::array();
    for (const auto& e : s.events) {
      nlohmann::json j = nlohmann::json::object();
      if (e.step.empty()) {
        j["at"] = format_duration(e.at);
      } else {
        j["step"] = e.step;
        j["nth"] = e.nth;
      }
      switch (e.kind) {
        case ControlEvent::Kind::stop: j["stop"] = true; break;
        case ControlEvent::Kind::start: j["start"] = true; break;
        case ControlEvent::Kind::config: j["config"] = e.config; break;
        case ControlEvent::Kind::fake: j["fake"] = e.op; break;
        case ControlEvent::Kind::clock_skew: j["clock_skew"] = format_clock_skew(e.skew); break;
      }
      es.push_back(j);
    }
    for (const auto& c : s.crashes) {
      nlohmann::json j = nlohmann::json::object();
      if (c.at) {
        j["at"] = format_duration(*c.at);
      } else {
        j["step"] = c.step;
        j["nth"] = c.nth;
      }
      nlohmann::json args = {{"restart_after", format_duration(c.restart_after)}};
      if (c.optional) args["optional"] = true;
      j["crash"] = args;
      es.push_back(j);
    }
    out["events"] = es;
  }
  if (s.sync) {
    nlohmann::json sy;
    nlohmann::json streams = nlohmann::json::array();
    for (const auto& st : s.sync->streams) {
      nlohmann::json j = {{"name", st.name}, {"mode", st.mode}};
      if (!st.primary_key.empty()) j["primary_key"] = st.primary_key;
      if (st.generation) j["generation"] = st.generation;
      streams.push_back(j);
    }
    sy["streams"] = streams;
    if (s.sync->state_every) sy["state_every"] = s.sync->state_every;
    if (!s.sync->end) sy["end"] = false;
    if (!s.sync->messages.empty()) {
      nlohmann::json ms = nlohmann::json::array();
      for (const auto& p : s.sync->messages) {
        nlohmann::json j = {{"after", p.after}};
        if (!p.message.stream.empty()) j["stream"] = p.message.stream;
        if (p.message.kind == SyncMessage::Kind::state) j["state"] = p.message.state;
        else if (p.message.kind == SyncMessage::Kind::end) j["end"] = p.message.stream, j.erase("stream");
        else j["error"] = p.message.error;
        if (p.undeclared) j["undeclared"] = true;
        ms.push_back(j);
      }
      sy["messages"] = ms;
    }
    out["sync"] = sy;
  }
  nlohmann::json e = nlohmann::json::object();
  if (!s.expect.jobs.empty()) e["jobs"] = s.expect.jobs;
  if (!s.expect.job.empty()) {
    nlohmann::json j = nlohmann::json::object();
    for (const auto& [id, je] : s.expect.job) {
      nlohmann::json one = {{"state", job_state_name(je.state)}};
      if (!je.reason_contains.empty()) one["reason_contains"] = je.reason_contains;
      if (je.outcome_unknown) one["outcome_unknown"] = *je.outcome_unknown;
      if (je.reason_kind) one["reason_kind"] = reason_kind_name(*je.reason_kind);
      if (je.resent_after_unknown) one["resent_after_unknown"] = *je.resent_after_unknown;
      if (je.attempts) {
        nlohmann::json a = nlohmann::json::object();
        if (je.attempts->exactly) a["exactly"] = *je.attempts->exactly;
        if (je.attempts->min) a["min"] = *je.attempts->min;
        if (je.attempts->max) a["max"] = *je.attempts->max;
        one["attempts"] = a;
      }
      if (je.sent_with) one["sent_with"] = *je.sent_with;
      if (je.latency_min || je.latency_max) {
        nlohmann::json l = nlohmann::json::object();
        if (je.latency_min) l["min"] = format_duration(*je.latency_min);
        if (je.latency_max) l["max"] = format_duration(*je.latency_max);
        one["latency"] = l;
      }
      j[std::to_string(id)] = one;
    }
    e["job"] = j;
  }
  auto bound = [](const CountBound& b) {
    nlohmann::json j = nlohmann::json::object();
    if (b.exactly) j["exactly"] = *b.exactly;
    if (b.min) j["min"] = *b.min;
    if (b.max) j["max"] = *b.max;
    return j;
  };
  nlohmann::json req = bound(s.expect.requests);
  if (!s.expect.requests_by_status.empty()) {
    nlohmann::json bs = nlohmann::json::object();
    for (const auto& [st, b] : s.expect.requests_by_status)
      bs[st < 10 ? std::to_string(st) + "xx" : std::to_string(st)] = bound(b);
    req["by_status"] = bs;
  }
  if (!s.expect.requests_by_endpoint.empty()) {
    nlohmann::json be = nlohmann::json::object();
    for (const auto& [k, b] : s.expect.requests_by_endpoint) be[k] = bound(b);
    req["by_endpoint"] = be;
  }
  if (!req.empty()) e["requests"] = req;
  if (s.expect.within) e["within"] = format_duration(*s.expect.within);
  if (!s.expect.properties.empty()) e["properties"] = s.expect.properties;
  if (!s.expect.fake.is_null()) e["fake"] = s.expect.fake;
  if (s.expect.sync) {
    nlohmann::json sy = nlohmann::json::object();
    if (s.expect.sync->ok) sy["ok"] = *s.expect.sync->ok;
    if (!s.expect.sync->streams.empty()) sy["streams"] = s.expect.sync->streams;
    if (!s.expect.sync->checkpoints.empty()) sy["checkpoints"] = s.expect.sync->checkpoints;
    e["sync"] = sy;
  }
  if (!e.empty()) out["expect"] = e;
  if (!s.origin.is_null()) out["origin"] = s.origin;
  return out;
}

}  // namespace destsim
