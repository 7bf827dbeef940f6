// bulk_destination.h — any AsyncDestinationManager as a Destination: the
// manager plus a BulkRouter over the run's job store. Bulk destinations
// (Marketo, Klaviyo, declarative specs) build one of these in their `make`.
#pragma once

#include <memory>

#include "destinations/destination.h"
#include "framework/bulk.h"

namespace destsim {

class BulkDestination final : public Destination {
 public:
  BulkDestination(DeliveryContext& ctx, std::unique_ptr<AsyncDestinationManager> manager, BulkConfig config)
      : manager_(std::move(manager)), router_(ctx.loop, *manager_, std::move(config), ctx.jobs) {}

  Task<void> deliver(Record record) override { co_await router_.deliver(std::move(record)); }
  Task<void> drain() override { co_await router_.drain(); }
  nlohmann::json stats() const override { return bulk_stats_json(router_.stats()); }
  std::vector<JobId> resume(const RecordSource& source) override { return router_.resume(source); }
  void set_crash_hook(CrashHook hook) override { router_.set_crash_hook(std::move(hook)); }
  bool commits_at_durable_steps() const override { return true; }

  AsyncDestinationManager& manager() { return *manager_; }
  BulkRouter& router() { return router_; }

 private:
  std::unique_ptr<AsyncDestinationManager> manager_;  // outlives router_
  BulkRouter router_;
};

/// Builds a BulkDestination from resolved config: the bulk path's keys
/// (bulk_config_from) and a `Manager` made from the settings `settings_from`
/// reads (a Result) out of the same config.
template <typename Manager, typename SettingsFrom>
Result<std::unique_ptr<Destination>> make_bulk_destination(DeliveryContext& ctx, const Config& config,
                                                           SettingsFrom&& settings_from) {
  DS_TRY(BulkConfig bulk, bulk_config_from(config));
  DS_TRY(auto settings, settings_from(config));
  auto manager = std::make_unique<Manager>(ctx, std::move(settings));
  return std::unique_ptr<Destination>(std::make_unique<BulkDestination>(ctx, std::move(manager), std::move(bulk)));
}

}  // namespace destsim
