#include "fakes/fake_api.h"

#include "fakes/fault_plan.h"

namespace destsim {

const char* fake_door_name(FakeDoor door) { return door == FakeDoor::http ? "http" : "file"; }

Status FakeApi::check_fault_plan(const FaultPlan& plan, std::string_view where) const {
  return check_http_fault_plan(plan, where);
}

Response json_response(int status, const nlohmann::json& body) {
  Response r;
  r.status = status;
  r.headers.set("Content-Type", "application/json");
  r.body = body.dump();
  return r;
}

}  // namespace destsim
