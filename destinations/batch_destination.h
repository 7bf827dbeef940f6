// batch_destination.h — any BatchRoutes as a Destination: the routes plus a
// Router over the run's job store, as BulkDestination is for the bulk path.
// Batch destinations (Iterable, the canary, test doubles) build one of these in
// their `make` and write only their routes and handlers.
#pragma once

#include <memory>

#include "destinations/destination.h"
#include "framework/router.h"

namespace destsim {

class BatchDestination final : public Destination {
 public:
  BatchDestination(DeliveryContext& ctx, std::unique_ptr<BatchRoutes> routes, ProcessorConfig config)
      : routes_(std::move(routes)), router_(ctx.loop, *routes_, std::move(config), ctx.jobs) {}

  Task<void> deliver(Record record) override { co_await router_.deliver(std::move(record)); }
  Task<void> drain() override { co_await router_.drain(); }
  /// The processors' counters, the number of endpoints (processors) and the routes' own counters.
  nlohmann::json stats() const override {
    nlohmann::json out = processor_stats_json(router_.stats());
    out["endpoints"] = router_.processors().size();
    out.update(routes_->stats());
    return out;
  }

  BatchRoutes& routes() { return *routes_; }
  Router& router() { return router_; }

 private:
  std::unique_ptr<BatchRoutes> routes_;  // outlives router_
  Router router_;
};

/// Builds a BatchDestination from resolved config: the batch path's keys
/// (batch_config_from) and the routes `make_routes` builds.
template <typename MakeRoutes>
Result<std::unique_ptr<Destination>> make_batch_destination(DeliveryContext& ctx, const Config& config,
                                                            MakeRoutes&& make_routes) {
  DS_TRY(ProcessorConfig p, batch_config_from(config));
  std::unique_ptr<BatchRoutes> routes = make_routes(ctx, config);
  return std::unique_ptr<Destination>(std::make_unique<BatchDestination>(ctx, std::move(routes), std::move(p)));
}

}  // namespace destsim
