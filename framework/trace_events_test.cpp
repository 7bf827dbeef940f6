// The typed trace contract: every event kind round-trips through its JSONL
// line, and reading is strict (missing, mistyped and undeclared keys are errors).
#include "framework/trace_events.h"

#include <gtest/gtest.h>

#include <set>

namespace destsim {
namespace {

// One filled-in value of every event kind, with every optional field set.
std::vector<TraceEvent> samples() {
  ev::BatchSent b;
  b.handler = "users/bulkUpdate";
  b.records = 3;
  b.attempt = 1;
  b.status = "partial_success";
  b.ids = JobIds{{1, 2, 3, 7}};
  b.sent = 5;
  b.held = 2;
  b.http = 200;
  b.oldest = 1;
  b.flushed = 4;
  b.retry_after = 60'000'000'000;
  b.too_large = true;
  b.foreign = 2;
  b.code = "error.lists.invalidListId";
  ev::OneSent o{"events/track", 9, 2, "retry", 10, 0, 503, std::int64_t{1'000}, false, std::string("BadParams")};
  ev::Fault fh;
  fh.req = 4;
  fh.rule = 1;
  fh.fault = "garble";
  ev::Fault fs;
  fs.op = "put";
  fs.rule = 0;
  fs.fault = "disconnect";
  fs.after = true;
  return {ev::HttpRequest{1, "POST", "api.iterable.com", "/api/users/bulkUpdate", 120},
          ev::HttpResponse{1, 429, 10, true, std::string("60"), std::string("Mon, 01 Jan 2024 00:00:00 GMT")},
          ev::HttpResponse{2, 200, 10, false, std::nullopt, std::nullopt},
          ev::HttpError{3, "timeout", true, true},
          fh,
          fs,
          ev::JobTerminal{7, "aborted", "attempts exhausted \"quoted\"", true, false, "unknown_outcome"},
          b,
          o,
          ev::RetryAfterHold{"events/track", std::chrono::seconds(60)},
          ev::Split{"events/track", 8},
          ev::UploadStart{1, 2, JobIds{{5, 6}}, 3, 4, 1, 120},
          ev::Staged{JobIds{{5, 6}}},
          ev::Committing{"stage stg-1 into users", JobIds{{5, 6}}},
          ev::UploadResult{"marketo", 1, 2, "importing", "imp-1", 2, 0, 0, 0, 0, JobIds{{2}}},
          ev::Poll{1, "imp-1"},
          ev::Polled{1, "imp-1", "running"},
          ev::StatsFault{1, "imp-1", "fault"},
          ev::PollTimeout{1, "imp-1", 2},
          ev::Settle{1, "stats", 1, 1, 0, 0},
          ev::Resume{"marketo", 1, "", 2},
          ev::ResumeStart{1},
          ev::ImportEnd{1},
          ev::CrashPointHit{"after_upload"},
          ev::SyncStart{2},
          ev::SyncSetup{true},
          ev::SyncOpen{"users", false},
          ev::SyncFirstRecord{"users", 1},
          ev::SyncState{"users", 1, 10, nlohmann::json{{"cursor", 10}}},
          ev::SyncEnd{"users"},
          ev::SyncClose{"users", true, 10},
          ev::SyncStreamFailed{"users", "open: refused"},
          ev::SyncFailure{"setup: no"},
          ev::SyncTeardown{false},
          ev::RunStart{"s", "iterable", 7, 100},
          ev::RunCrash{"mid_poll", 3},
          ev::RunCrashSkipped{"at 5s"},
          ev::RunRestart{2, 5},
          ev::RunControl{"fake", R"({"set_api_key":"k2"})", false},
          ev::RunDrained{100}};
}

struct Collect : TraceObserver {
  std::vector<TimedEvent> seen;
  void on_event(TimedEvent&& e) override { seen.push_back(std::move(e)); }
};

TEST(TraceEvents, EveryKindRoundTripsThroughItsLine) {
  Trace trace;
  trace.set_keep_lines(true);
  Collect c;
  trace.set_observer(&c);
  const auto all = samples();
  std::int64_t t = 0;
  for (const auto& e : all) std::visit([&](const auto& x) { emit(trace, kTimeZero + Duration(++t), x); }, e);
  ASSERT_EQ(trace.lines().size(), all.size());
  ASSERT_EQ(c.seen.size(), all.size());
  std::set<std::string_view> kinds;
  for (std::size_t i = 0; i < all.size(); ++i) {
    auto back = parse_trace_line(trace.lines()[i]);
    ASSERT_TRUE(back.ok()) << back.error().message << "\n" << trace.lines()[i];
    ASSERT_TRUE(back.value().has_value()) << trace.lines()[i];
    EXPECT_EQ(back.value()->t, static_cast<std::int64_t>(i + 1));
    EXPECT_TRUE(back.value()->event == all[i]) << trace.lines()[i];
    EXPECT_TRUE(c.seen[i].event == all[i]);  // the observer gets the struct itself
    kinds.insert(event_kind(all[i]));
  }
  // Every alternative of TraceEvent is covered by the samples.
  EXPECT_EQ(kinds.size(), std::variant_size_v<TraceEvent>);
}

TEST(TraceEvents, MissingKeyIsAnErrorNotADefault) {
  auto r = parse_trace_line(R"({"t":1,"kind":"sync.teardown"})");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("\"ok\""), std::string::npos) << r.error().message;
  auto j = parse_trace_line(R"({"t":1,"kind":"job","id":3,"state":"failed","reason":"x","outcome_unknown":false})");
  ASSERT_FALSE(j.ok());
  EXPECT_NE(j.error().message.find("resent_after_unknown"), std::string::npos) << j.error().message;
}

TEST(TraceEvents, MistypedAndUndeclaredKeysAreErrors) {
  auto mistyped = parse_trace_line(R"({"t":1,"kind":"sync.setup","ok":"yes"})");
  ASSERT_FALSE(mistyped.ok());
  EXPECT_NE(mistyped.error().message.find("true or false"), std::string::npos);
  auto renamed = parse_trace_line(R"({"t":1,"kind":"sync.setup","ok":true,"okay":true})");
  ASSERT_FALSE(renamed.ok());
  EXPECT_NE(renamed.error().message.find("undeclared key \"okay\""), std::string::npos) << renamed.error().message;
  auto ids = parse_trace_line(
      R"({"t":1,"kind":"bulk.upload_start","upload":1,"records":2,"ids":"5-x","oldest":0,"slot_wait":0,"attempt":1,"bytes":10})");
  ASSERT_FALSE(ids.ok());
  EXPECT_FALSE(parse_trace_line(R"({"kind":"sync.setup","ok":true})").ok());  // no time
  EXPECT_FALSE(parse_trace_line("not json").ok());
}

TEST(TraceEvents, UntypedKindsAreSkipped) {
  auto r = parse_trace_line(R"({"t":1,"kind":"sftp.op","anything":1})");
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r.value().has_value());
}

TEST(TraceEvents, IdRangesAreStrict) {
  EXPECT_EQ(format_id_ranges({1, 2, 3, 5, 7, 8}), "1-3,5,7-8");
  auto ok = parse_id_ranges("1-3,5,7-8");
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok.value(), (std::vector<JobId>{1, 2, 3, 5, 7, 8}));
  EXPECT_TRUE(parse_id_ranges("").value().empty());
  for (const char* bad : {"1,,2", "3-1", "-4", "1-", "a", "1 ,2", "1,"}) EXPECT_FALSE(parse_id_ranges(bad).ok()) << bad;
}

}  // namespace
}  // namespace destsim
