#include "destinations/canary/canary.h"

#include <map>
#include <memory>

#include "destinations/batch_destination.h"
#include "destinations/iterable/iterable.h"

namespace destsim {

namespace {

// Bug 1: answers reach the destination without their Retry-After. The
// transport under it has traced each answer whole, so the trace shows the
// Retry-After the canary then ignores.
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

// Bug 2: a partial success is retried whole, its successes with it.
class ResendPartial final : public BatchHandler {
 public:
  explicit ResendPartial(BatchHandler& inner) : inner_(inner) {}
  Task<BatchResult> process_batch(const std::vector<const Message*>& batch) override {
    BatchResult r = co_await inner_.process_batch(batch);
    if (r.status == BatchStatus::partial_success) {
      r.status = BatchStatus::retry_batch;
      r.results.clear();
      r.reason = "partial success (the canary retries the whole batch)";
    }
    co_return r;
  }
  Task<OneResult> process_one(const Message& message) override { co_return co_await inner_.process_one(message); }
  BatchLimits limits() const override { return inner_.limits(); }
  std::string name() const override { return inner_.name(); }

 private:
  BatchHandler& inner_;
};

// Iterable's routes over the dropping transport, each handler decorated.
class CanaryRoutes final : public BatchRoutes {
 public:
  CanaryRoutes(DeliveryContext& ctx, const Config& config)
      : transport_(ctx.transport),
        ctx_{ctx.loop, transport_, ctx.jobs, ctx.files},
        inner_(iterable_routes(ctx_, config)) {}

  Result<Routed> route(const Record& record) override {
    DS_TRY(Routed r, inner_->route(record));
    std::unique_ptr<ResendPartial>& d = decorated_[r.handler];
    if (!d) d = std::make_unique<ResendPartial>(*r.handler);
    r.handler = d.get();
    return r;
  }
  nlohmann::json stats() const override { return inner_->stats(); }

 private:
  DropRetryAfter transport_;
  DeliveryContext ctx_;                 // Iterable's context, over transport_
  std::unique_ptr<BatchRoutes> inner_;  // owns the handlers decorated_ wraps
  std::map<BatchHandler*, std::unique_ptr<ResendPartial>> decorated_;  // looked up by key, never iterated
};

}  // namespace

DestinationEntry canary_destination() {
  DestinationEntry e = iterable_destination();
  e.name = "canary";
  e.about =
      "Iterable with two deliberate bugs (ignores Retry-After; retries a partial success whole) — must fail certify";
  e.shipped = false;
  e.make = [](DeliveryContext& ctx, const Config& config) {
    return make_batch_destination(ctx, config, [](DeliveryContext& c, const Config& cf) {
      return std::unique_ptr<BatchRoutes>(std::make_unique<CanaryRoutes>(c, cf));
    });
  };
  return e;
}

}  // namespace destsim
