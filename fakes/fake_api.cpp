#include "fakes/fake_api.h"

#include "fakes/fault_plan.h"
#include "framework/oracle.h"

namespace destsim {

const char* fake_door_name(FakeDoor door) { return door == FakeDoor::http ? "http" : "file"; }

Status FakeApi::check_fault_plan(const FaultPlan& plan, std::string_view where) const {
  return check_http_fault_plan(plan, where);
}

void AppliedLedger::add(std::string_view key) { ++counts_[fnv1a64(key)]; }

std::int64_t AppliedLedger::count(std::string_view key) const {
  const std::int64_t* n = counts_.find(fnv1a64(key));
  return n ? *n : 0;
}

bool fake_valid_email(std::string_view e, std::string_view forbidden) {
  auto at = e.find('@');
  if (at == std::string_view::npos || at == 0 || e.find('@', at + 1) != std::string_view::npos) return false;
  auto dot = e.find('.', at + 2);
  if (dot == std::string_view::npos || dot + 1 >= e.size()) return false;
  return e.find_first_of(forbidden) == std::string_view::npos;
}

Response json_response(int status, const nlohmann::json& body) {
  Response r;
  r.status = status;
  r.headers.set("Content-Type", "application/json");
  // A fake's error may quote what the client sent; bytes that are not UTF-8
  // become U+FFFD instead of throwing (found by fuzz_http_fakes).
  r.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return r;
}

}  // namespace destsim
