#include "fakes/fake_api.h"

#include <algorithm>

#include "fakes/fault_plan.h"
#include "framework/oracle.h"

namespace destsim {

const char* fake_door_name(FakeDoor door) { return door == FakeDoor::http ? "http" : "file"; }

Status FakeApi::check_fault_plan(const FaultPlan& plan, std::string_view where) const {
  return check_http_fault_plan(plan, where);
}

Status Fake::control(const JsonIn& op, Time now) {
  (void)now;
  DS_CHECK(op.object());
  return op.fail("fake " + name() + " takes no control operations");
}

Result<std::string> FakeApi::control_key(const JsonIn& op, std::initializer_list<std::string_view> names) const {
  DS_CHECK(op.object());
  if (op.size() != 1)
    return op.expected("exactly one operation of fake " + name() + " (" + control_ops() + ")");
  const std::string key = op.json().begin().key();
  for (std::string_view n : names)
    if (key == n) return key;
  return op.at(key).fail("fake " + name() + " has no operation \"" + key + "\" (" + control_ops() + ")");
}

Status FakeApi::control(const JsonIn& op, Time now) {
  DS_TRY(std::string key, control_key(op, {"request"}));
  DS_TRY(Response ignored, seed_request(op, now));
  return Status::success();
}

Status FakeApi::api_key_control(const JsonIn& op, Time now, std::string& key) {
  DS_TRY(std::string which, control_key(op, {"set_api_key", "request"}));
  if (which == "set_api_key") {
    DS_TRY(std::string k, op.at(which).string());
    key = std::move(k);
    return Status::success();
  }
  return FakeApi::control(op, now);
}

Result<Response> FakeApi::seed_request(const JsonIn& op, Time now) {
  JsonIn r = op.at("request");
  DS_CHECK(r.only_keys({"method", "path", "headers", "body", "json"}));
  DS_CHECK(r.require("method"));
  DS_CHECK(r.require("path"));
  Request req;
  DS_TRY(req.method, r.at("method").string());
  DS_TRY(req.path, r.at("path").string());
  if (req.path.empty() || req.path[0] != '/') return r.at("path").expected("a path starting with \"/\"");
  if (r.has("headers")) {
    JsonIn h = r.at("headers");
    DS_CHECK(h.object());
    for (auto it = h.json().begin(); it != h.json().end(); ++it) {
      DS_TRY(std::string v, h.at(it.key()).string());
      req.headers.add(it.key(), v);
    }
  }
  if (r.has("body") && r.has("json")) return r.fail("give either \"body\" or \"json\", not both");
  if (r.has("body")) { DS_TRY(req.body, r.at("body").string()); }
  if (r.has("json")) {
    req.body = r.at("json").json().dump();
    if (!req.headers.get("Content-Type")) req.headers.add("Content-Type", "application/json");
  }
  Response resp = handle(req, now);
  if (resp.status < 200 || resp.status > 299)
    return r.fail("the fake answered " + std::to_string(resp.status) + " (" + resp.body.substr(0, 200) +
                  "); a seeding request must succeed");
  return resp;
}

std::uint64_t AppliedLedger::add(std::string_view key) {
  const std::uint64_t h = fnv1a64(key);
  std::uint8_t& n = counts_[h];
  if (n < 255) ++n;
  if (n == 255) ++many_[h];  // the 255th and later applications
  return h;
}

std::uint64_t AppliedLedger::add(std::string_view effect, std::uint64_t content_hash) {
  // The key's bytes as oracle_key writes them: the effect, '#', 16 lowercase hex digits.
  static const char kHex[] = "0123456789abcdef";
  char key[17];
  key[0] = '#';
  for (int i = 16; i >= 1; --i, content_hash >>= 4) key[i] = kHex[content_hash & 15];
  std::uint64_t h = fnv1a64(effect);
  for (char c : key) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;  // FNV-1a's prime, continuing fnv1a64(effect)
  }
  std::uint8_t& n = counts_[h];
  if (n < 255) ++n;
  if (n == 255) ++many_[h];
  return h;
}

std::int64_t AppliedLedger::total(std::uint64_t h) const {
  const std::uint8_t* n = counts_.find(h);
  if (!n) return 0;
  if (*n < 255) return *n;
  return 254 + many_.at(h);
}

std::int64_t AppliedLedger::count(std::string_view key) const { return total(fnv1a64(key)); }

std::int64_t AppliedLedger::peak(std::string_view key) const {
  const std::uint64_t h = fnv1a64(key);
  const std::int64_t n = total(h);
  const auto w = wiped_.find(h);
  if (w == wiped_.end()) return n;
  // Copies held now are the applications since the last wipe.
  return std::max(w->second.peak, n - w->second.gone);
}

std::int64_t AppliedLedger::held(std::string_view key) const {
  const std::uint64_t h = fnv1a64(key);
  const auto w = wiped_.find(h);
  return total(h) - (w == wiped_.end() ? 0 : w->second.gone);
}

void AppliedLedger::wipe(std::string_view key) { wipe_hashed(fnv1a64(key)); }

void AppliedLedger::wipe_hashed(std::uint64_t h) {
  const std::int64_t n = total(h);
  if (n == 0) return;
  Wiped& w = wiped_[h];
  w.peak = std::max(w.peak, n - w.gone);
  w.gone = n;
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
  // Written by the hand-written dump (framework/oracle.h: nlohmann's bytes,
  // faster; every poll answer of every fake comes through here). A fake's
  // error may quote what the client sent; bytes that are not UTF-8 become
  // U+FFFD instead of throwing (found by fuzz_http_fakes): nlohmann writes those.
  try {
    append_dump(r.body, body);
  } catch (const nlohmann::json::type_error&) {
    r.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  return r;
}

}  // namespace destsim
