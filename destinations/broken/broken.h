// broken.h — deliberately broken destinations: a shipped destination (Iterable
// or Klaviyo) with one classic delivery bug each. None is shipped; a default
// `destsim certify` must fail every one of them with the property named here
// (ctest runs them: tools/certify_test.sh broken_batch / broken_bulk). Together with the canary
// they measure the suite itself: a checker that stops seeing its bug shows up
// as a broken destination that certifies.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "destinations/destination.h"
#include "framework/batch.h"
#include "framework/bulk.h"

namespace destsim {

/// What a broken Iterable does to the real one: rewrites each batch's
/// classified answer, the limits it batches by, drops every Retry-After before
/// Iterable reads it, and/or runs a config of its own (the checkers judge from
/// the one it was given).
struct IterableBug {
  std::function<void(BatchResult&)> batch;
  std::function<void(BatchLimits&)> limits;
  bool drop_retry_after = false;
  std::function<void(nlohmann::json&)> config;
};

/// The shipped Iterable destination under `bug`, named `name` (not shipped).
DestinationEntry broken_iterable(std::string name, std::string about, IterableBug bug);

/// What a broken Klaviyo does to the real one on the bulk path: its manager
/// rewrites the per-job results of a completed import, asks the router to
/// abort what does not fit an upload, and/or takes an import it did not upload
/// itself (one found in the store after a restart) as lost.
struct KlaviyoBug {
  std::function<void(const ImportRef&, StatsOutcome&)> stats;
  bool aborts_overflow = false;
  bool forgets_stored_imports = false;
};

/// The shipped Klaviyo destination under `bug`, named `name` (not shipped).
DestinationEntry broken_klaviyo(std::string name, std::string about, KlaviyoBug bug);

struct BrokenDestination {
  DestinationEntry entry;
  /// The property a default certify must fail it on.
  std::string property;
};

/// broken_ignores_retry_after (I1), broken_retries_400 (C1),
/// broken_resends_partial (C5), broken_retries_413_whole (C4),
/// broken_record_limit_off_by_one (B1), broken_never_flushes_on_interval (B2),
/// broken_uncapped_backoff (C3), broken_concurrency_off_by_one (B4); on the
/// bulk path (Klaviyo): broken_polls_without_waiting (D1),
/// broken_import_concurrency_off_by_one (B4), broken_no_poll_timeout (D2),
/// broken_counts_missing_as_succeeded (D4), broken_aborts_overflow (B5),
/// broken_reuploads_after_restart (E1).
std::vector<BrokenDestination> broken_destinations();

}  // namespace destsim
