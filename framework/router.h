// router.h — feeds input jobs through a destination's batch processors and
// records each job's terminal state.
//
// The destination routes each record to a handler (one per endpoint, or per
// endpoint and list) and turns it into a Message; the Router keeps one
// Processor per handler, in creation order, and `drain()` flushes them all. A
// record the destination cannot route (invalid for this API) fails at once with
// the reason. Every job is added to the JobStore before anything else happens,
// so nothing can go missing.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "framework/batch.h"
#include "framework/job_store.h"

namespace destsim {

struct Routed {
  BatchHandler* handler = nullptr;
  Message message;
};

/// What a batch-path destination gives the Router.
class BatchRoutes {
 public:
  virtual ~BatchRoutes() = default;
  /// Where `record` goes and how it is sent; an error fails the job permanently.
  virtual Result<Routed> route(const Record& record) = 0;
  /// Counters of its own for the run summary (rate-limit waits, …), merged
  /// over the processors' by BatchDestination.
  virtual nlohmann::json stats() const { return nlohmann::json::object(); }
};

class Router {
 public:
  Router(Loop& loop, BatchRoutes& routes, ProcessorConfig config, JobStore& jobs);

  /// Registers the job and hands it to its processor (waits under backpressure).
  Task<void> deliver(Record record);
  /// Flushes every processor; returns when every delivered job is terminal.
  Task<void> drain();

  /// Stats summed over all processors.
  ProcessorStats stats() const;
  const std::vector<std::unique_ptr<Processor>>& processors() const { return processors_; }

 private:
  Processor& processor_for(BatchHandler* handler);

  Loop& loop_;
  BatchRoutes& routes_;
  ProcessorConfig config_;
  JobStore& jobs_;
  std::vector<std::unique_ptr<Processor>> processors_;  // creation order
  std::vector<BatchHandler*> handlers_;                 // parallel to processors_
};

}  // namespace destsim
