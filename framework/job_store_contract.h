// job_store_contract.h — the contract every JobStore keeps, as one GoogleTest
// check that each store's test runs on a fresh store (MemoryJobStore,
// SqliteJobStore): ids in the order added, attempts counted, each job ends once
// with its reason and its two flags, counts by state and outcome.
//
// Header-only for GoogleTest files: include it from a `*_test.cpp`.
#pragma once

#include <gtest/gtest.h>

#include "framework/job_store.h"

namespace destsim::testing {

/// Adds jobs 1..3 to the empty store `s` and ends them (1 succeeded after a
/// resend, 2 aborted with its outcome unknown after two attempts, 3 failed),
/// checking what the store reports at each step.
inline void expect_job_store_contract(JobStore& s) {
  for (JobId id = 1; id <= 3; ++id) s.add(id);
  EXPECT_EQ(s.counts().pending, 3u);
  EXPECT_TRUE(s.contains(3));
  EXPECT_FALSE(s.contains(4));
  EXPECT_EQ(s.ids(), (std::vector<JobId>{1, 2, 3}));
  s.attempt(2);
  s.attempt(2);
  s.finish(1, {.state = JobState::succeeded, .resent_after_unknown = true}, kTimeZero);
  s.finish(2, {JobState::aborted, "attempts exhausted (2 of 2): HTTP 503", true, false, ReasonKind::unknown_outcome},
           kTimeZero);
  JobCounts c = s.counts();
  EXPECT_EQ(c.pending, 1u);
  EXPECT_EQ(c.succeeded, 1u);
  EXPECT_EQ(c.aborted, 1u);
  EXPECT_EQ(c.unknown, 1u);
  EXPECT_EQ(s.attempts(2), 2);
  EXPECT_EQ(s.outcome(2).reason, "attempts exhausted (2 of 2): HTTP 503");
  EXPECT_TRUE(s.outcome(2).outcome_unknown);
  EXPECT_EQ(s.outcome(2).kind, ReasonKind::unknown_outcome);  // the reason kind is kept
  EXPECT_EQ(s.outcome(1).kind, ReasonKind::none);
  EXPECT_TRUE(s.outcome(1).resent_after_unknown);
  EXPECT_FALSE(s.outcome(2).resent_after_unknown);
  EXPECT_EQ(s.outcome(3).state, JobState::pending);
  s.finish(3, {JobState::failed, "HTTP 400 InvalidEmailAddressError", false, false, ReasonKind::rejected_by_api},
           kTimeZero);
  c = s.counts();
  EXPECT_EQ(c.pending, 0u);
  EXPECT_EQ(c.failed, 1u);
  EXPECT_EQ(s.outcome(3).reason, "HTTP 400 InvalidEmailAddressError");
  EXPECT_EQ(s.outcome(3).kind, ReasonKind::rejected_by_api);
  EXPECT_EQ(s.ids(), (std::vector<JobId>{1, 2, 3}));
}

}  // namespace destsim::testing
