#include "framework/router.h"

#include <algorithm>

namespace destsim {

Router::Router(Loop& loop, BatchRoutes& routes, ProcessorConfig config, JobStore& jobs)
    : loop_(loop), routes_(routes), config_(std::move(config)), jobs_(jobs) {}

Processor& Router::processor_for(BatchHandler* handler) {
  for (std::size_t i = 0; i < handlers_.size(); ++i)
    if (handlers_[i] == handler) return *processors_[i];
  handlers_.push_back(handler);
  processors_.push_back(std::make_unique<Processor>(loop_, *handler, config_, jobs_));
  processors_.back()->start();
  return *processors_.back();
}

Task<void> Router::deliver(Record record) {
  if (!jobs_.contains(record.id)) {
    jobs_.add(record.id);
  } else if (is_terminal(jobs_.outcome(record.id).state)) {
    co_return;  // offered again after a restart: already done
  }
  Result<Routed> routed = routes_.route(record);
  if (!routed.ok()) {
    jobs_.finish(record.id, JobOutcome{JobState::failed, routed.error().message, false, false, ReasonKind::invalid_record}, loop_.now());
    co_return;
  }
  DS_ASSERT(routed->handler != nullptr);
  DS_ASSERT(routed->message.id == record.id);
  co_await processor_for(routed->handler).add(std::move(routed->message));
}

Task<void> Router::drain() {
  // Stopping a processor cannot create another, but iterate by index anyway.
  for (std::size_t i = 0; i < processors_.size(); ++i) co_await processors_[i]->stop();
}

ProcessorStats Router::stats() const {
  ProcessorStats s;
  for (const auto& p : processors_) add_stats(s, p->stats());
  return s;
}

}  // namespace destsim
