#include "destinations/broken/broken.h"

#include <functional>
#include <map>
#include <memory>
#include <set>

#include "destinations/batch_destination.h"
#include "destinations/bulk_destination.h"
#include "destinations/iterable/iterable.h"
#include "destinations/klaviyo/klaviyo.h"

namespace destsim {

namespace {

// Answers reach the destination without their Retry-After (the transport
// under it traced each answer whole, so the trace shows what was ignored).
class DropRetryAfter final : public Transport {
 public:
  explicit DropRetryAfter(Transport& inner) : inner_(inner) {}
  Task<HttpResult> send(Request request) override {
    HttpResult res = co_await inner_.send(std::move(request));
    if (res.ok()) res->headers.remove("Retry-After");
    co_return res;
  }

 private:
  Transport& inner_;
};

using Bug = IterableBug;

class BrokenHandler final : public BatchHandler {
 public:
  BrokenHandler(BatchHandler& inner, const Bug& bug) : inner_(inner), bug_(bug) {}
  Task<BatchResult> process_batch(const std::vector<const Message*>& batch) override {
    BatchResult r = co_await inner_.process_batch(batch);
    if (bug_.batch) bug_.batch(r);
    co_return r;
  }
  Task<OneResult> process_one(const Message& message) override { co_return co_await inner_.process_one(message); }
  BatchLimits limits() const override {
    BatchLimits l = inner_.limits();
    if (bug_.limits) bug_.limits(l);
    return l;
  }
  std::string name() const override { return inner_.name(); }

 private:
  BatchHandler& inner_;
  const Bug& bug_;
};

// Iterable's routes (over a Retry-After-dropping transport when the bug says
// so), each handler wrapped in the bug.
class BrokenRoutes final : public BatchRoutes {
 public:
  BrokenRoutes(DeliveryContext& ctx, const Config& config, Bug bug)
      : bug_(std::move(bug)),
        transport_(ctx.transport),
        ctx_{ctx.loop, bug_.drop_retry_after ? static_cast<Transport&>(transport_) : ctx.transport, ctx.jobs, ctx.files},
        inner_(iterable_routes(ctx_, config)) {}

  Result<Routed> route(const Record& record) override {
    DS_TRY(Routed r, inner_->route(record));
    std::unique_ptr<BrokenHandler>& d = decorated_[r.handler];
    if (!d) d = std::make_unique<BrokenHandler>(*r.handler, bug_);
    r.handler = d.get();
    return r;
  }
  nlohmann::json stats() const override { return inner_->stats(); }

 private:
  Bug bug_;
  DropRetryAfter transport_;
  DeliveryContext ctx_;
  std::unique_ptr<BatchRoutes> inner_;
  std::map<BatchHandler*, std::unique_ptr<BrokenHandler>> decorated_;  // looked up by key, never iterated
};

}  // namespace

DestinationEntry broken_iterable(std::string name, std::string about, IterableBug bug) {
  DestinationEntry e = iterable_destination();
  e.name = std::move(name);
  e.about = std::move(about);
  e.shipped = false;
  e.make = [bug, name = e.name, schema = e.schema](DeliveryContext& ctx,
                                                   const Config& config) -> Result<std::unique_ptr<Destination>> {
    Config used = config;
    if (bug.config) {
      nlohmann::json doc = config.to_document(true);
      bug.config(doc);
      DS_TRY(used, Config::resolve(doc, name, schema, "broken config"));
    }
    return make_batch_destination(ctx, used, [bug](DeliveryContext& c, const Config& cf) {
      return std::unique_ptr<BatchRoutes>(std::make_unique<BrokenRoutes>(c, cf, bug));
    });
  };
  return e;
}

namespace {

// Klaviyo's manager with the bug: everything it does not change goes to the
// real one.
class BrokenManager final : public AsyncDestinationManager {
 public:
  BrokenManager(std::unique_ptr<AsyncDestinationManager> inner, KlaviyoBug bug)
      : inner_(std::move(inner)), bug_(std::move(bug)) {}

  std::string name() const override { return inner_->name(); }
  BulkLimits limits() const override { return inner_->limits(); }
  Result<BulkItem> transform(const Record& record) override { return inner_->transform(record); }
  Task<UploadOutcome> upload(const std::vector<const BulkItem*>& items) override {
    UploadOutcome out = co_await inner_->upload(items);
    if (out.kind == UploadOutcome::Kind::importing) uploaded_[out.import.import_id] = true;
    co_return out;
  }
  Task<PollOutcome> poll(const ImportRef& import) override {
    if (bug_.forgets_stored_imports && uploaded_.count(import.import_id) == 0) {
      // The import ids it follows live only in this process's memory: one
      // from the store (uploaded before a restart) is taken as never started,
      // so the router uploads its jobs again instead of polling it.
      PollOutcome out;
      out.status = ImportStatus::failed;
      out.nothing_applied = true;
      out.reason = "import " + import.import_id + " was not uploaded by this process: taken as lost";
      co_return out;
    }
    co_return co_await inner_->poll(import);
  }
  Task<StatsOutcome> upload_stats(const ImportRef& import) override {
    StatsOutcome out = co_await inner_->upload_stats(import);
    if (bug_.stats) bug_.stats(import, out);
    co_return out;
  }
  bool idempotent() const override { return inner_->idempotent(); }
  bool defers_overflow() const override { return !bug_.aborts_overflow && inner_->defers_overflow(); }

 private:
  std::unique_ptr<AsyncDestinationManager> inner_;
  KlaviyoBug bug_;
  std::map<std::string, bool> uploaded_;  // looked up by key, never iterated
};

}  // namespace

DestinationEntry broken_klaviyo(std::string name, std::string about, KlaviyoBug bug) {
  DestinationEntry e = klaviyo_destination();
  e.name = std::move(name);
  e.about = std::move(about);
  e.shipped = false;
  e.make = [bug](DeliveryContext& ctx, const Config& config) -> Result<std::unique_ptr<Destination>> {
    DS_TRY(BulkConfig bulk, bulk_config_from(config));
    DS_TRY(std::unique_ptr<AsyncDestinationManager> inner, klaviyo_manager(ctx, config));
    auto manager = std::make_unique<BrokenManager>(std::move(inner), bug);
    return std::unique_ptr<Destination>(std::make_unique<BulkDestination>(ctx, std::move(manager), std::move(bulk)));
  };
  return e;
}

namespace {

BrokenDestination broken(std::string name, std::string bug_text, std::string property, Bug bug) {
  std::string about = "Iterable with one deliberate bug (" + bug_text + ") — certify must fail it on " + property;
  return {broken_iterable(std::move(name), std::move(about), std::move(bug)), std::move(property)};
}

BrokenDestination bulk(std::string name, std::string bug_text, std::string property, KlaviyoBug bug) {
  std::string about = "Klaviyo with one deliberate bug (" + bug_text + ") — certify must fail it on " + property;
  return {broken_klaviyo(std::move(name), std::move(about), std::move(bug)), std::move(property)};
}

// A shipped destination run with a config of its own: `rewrite` changes what
// it really runs with, while the checkers judge from the config it was given.
BrokenDestination misconfigured(DestinationEntry e, std::string name, std::string bug_text, std::string property,
                                std::function<void(nlohmann::json&)> rewrite) {
  e.about = e.name + " with one deliberate bug (" + bug_text + ") — certify must fail it on " + property;
  e.name = std::move(name);
  e.shipped = false;
  std::vector<ConfigKey> unbounded = e.schema;  // the bug may run past a declared bound, either way
  for (auto& k : unbounded) {
    k.min = std::min<std::int64_t>(k.min, 1);
    k.max = INT64_MAX;
  }
  e.make = [inner = e.make, rewrite, name = e.name, unbounded](DeliveryContext& ctx,
                                                                const Config& config) -> Result<std::unique_ptr<Destination>> {
    nlohmann::json doc = config.to_document(true);
    rewrite(doc);
    DS_TRY(Config used, Config::resolve(doc, name, unbounded, "broken config"));
    return inner(ctx, used);
  };
  return {std::move(e), std::move(property)};
}

}  // namespace

std::vector<BrokenDestination> broken_destinations() {
  std::vector<BrokenDestination> out;
  out.push_back(broken("broken_ignores_retry_after", "ignores Retry-After", "I1", Bug{.drop_retry_after = true}));
  out.push_back(broken("broken_retries_400", "retries a permanent 4xx as the same batch", "C1",
                       Bug{.batch = [](BatchResult& r) {
                         if (r.status == BatchStatus::cannot_retry) r.status = BatchStatus::retry_batch;
                       }}));
  out.push_back(broken("broken_resends_partial", "re-sends a partial success whole", "C5",
                       Bug{.batch = [](BatchResult& r) {
                         if (r.status == BatchStatus::partial_success) {
                           r.status = BatchStatus::retry_batch;
                           r.results.clear();
                         }
                       }}));
  out.push_back(broken("broken_retries_413_whole", "retries a 413 as the same batch", "C4",
                       Bug{.batch = [](BatchResult& r) {
                         if (r.too_large) {
                           r.status = BatchStatus::retry_batch;
                           r.too_large = false;
                         }
                       }}));
  out.push_back(broken("broken_record_limit_off_by_one", "one record more per request than configured", "B1",
                       Bug{.limits = [](BatchLimits& l) { ++l.records_max; }}));
  out.push_back(broken("broken_never_flushes_on_interval", "a partial batch waits for more records, not the flush interval",
                       "B2", Bug{.config = [](nlohmann::json& c) { c["flush_interval"] = "1000h"; }}));
  out.push_back(broken("broken_uncapped_backoff", "the backoff doubles past its cap", "C3",
                       Bug{.config = [](nlohmann::json& c) { c["retry_delay_max"] = "1000h"; }}));
  out.push_back(broken("broken_concurrency_off_by_one", "one batch more in flight than configured", "B4",
                       Bug{.config = [](nlohmann::json& c) {
                         c["max_async_requests"] = (c.contains("max_async_requests") ? c["max_async_requests"].get<std::int64_t>()
                                                                                      : std::int64_t{4}) + 1;
                       }}));
  // The bulk path (Klaviyo's bulk profile import).
  out.push_back(misconfigured(klaviyo_destination(), "broken_polls_without_waiting", "polls without waiting", "D1",
                              [](nlohmann::json& c) { c["poll_interval"] = "1ms"; }));
  out.push_back(misconfigured(klaviyo_destination(), "broken_import_concurrency_off_by_one",
                              "one import more in flight than configured", "B4", [](nlohmann::json& c) {
                                c["imports_in_flight"] = (c.contains("imports_in_flight")
                                                              ? c["imports_in_flight"].get<std::int64_t>()
                                                              : std::int64_t{3}) + 1;
                              }));
  out.push_back(misconfigured(klaviyo_destination(), "broken_no_poll_timeout", "never gives up on a pending import",
                              "D2", [](nlohmann::json& c) { c["poll_timeout"] = "3650d"; }));
  out.push_back(bulk("broken_counts_missing_as_succeeded",
                     "jobs the import's per-job results do not mention are counted as succeeded", "D4",
                     KlaviyoBug{.stats = [](const ImportRef& import, StatsOutcome& st) {
                       if (st.transient) return;
                       std::set<JobId> named;
                       for (const auto& r : st.results) named.insert(r.id);
                       for (JobId j : import.jobs)
                         if (named.count(j) == 0) st.results.push_back({j, Verdict::ok, ""});
                     }}));
  out.push_back(bulk("broken_aborts_overflow", "records that do not fit the current upload are aborted, not deferred",
                     "B5", KlaviyoBug{.aborts_overflow = true}));
  out.push_back(bulk("broken_reuploads_after_restart",
                     "after a restart, an import whose id was stored is uploaded again instead of polled", "E1",
                     KlaviyoBug{.forgets_stored_imports = true}));
  return out;
}

}  // namespace destsim
