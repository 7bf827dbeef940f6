#include "fakes/fake_api.h"

namespace destsim {

Response json_response(int status, const nlohmann::json& body) {
  Response r;
  r.status = status;
  r.headers.set("Content-Type", "application/json");
  r.body = body.dump();
  return r;
}

}  // namespace destsim
