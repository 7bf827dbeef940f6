#include "fakes/scripted/scripted_api.h"

namespace destsim {

namespace {
bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}
}  // namespace

// The peer's 200 bodies per path (batch/testing.go): counts are hard-coded at 10
// whatever the batch size, and trackBulk echoes the disallowed event names.
ScriptedApi::ScriptedApi(ScriptedApiOptions options) : options_(options) {
  set_success_body("/api/events/trackBulk",
                   R"({"successCount":0,"failCount":0,"disallowedEventNames":null,"filteredOutFields":null,)"
                   R"("createdFields":null,"failedUpdates":{"invalidEmails":[],"invalidUserIds":[],)"
                   R"("notFoundEmails":[],"notFoundUserIds":[],"forgottenEmails":[],"forgottenUserIds":[]}})");
  set_success_body("/api/users/bulkUpdate", R"({"successCount":10,"failCount":0})");
  set_success_body("/api/users/bulkUpdateSubscriptions", R"({"successCount":10,"failCount":0})");
  set_success_body("/api/lists/subscribe", R"({"successCount":10,"failCount":0})");
  set_success_body("/api/lists/unsubscribe", R"({"successCount":10,"failCount":0})");
}

void ScriptedApi::add_response(int status, std::string body) { queue_.emplace_back(status, std::move(body)); }

void ScriptedApi::set_success_body(std::string path_suffix, std::string body) {
  success_bodies_[std::move(path_suffix)] = std::move(body);
}

std::string ScriptedApi::success_body(std::string_view path) const {
  // Longest matching suffix wins, so "/events/trackBulk" beats "Bulk".
  const std::string* best = nullptr;
  std::size_t best_len = 0;
  for (const auto& [suffix, body] : success_bodies_) {
    if (ends_with(path, suffix) && suffix.size() >= best_len) {
      best = &body;
      best_len = suffix.size();
    }
  }
  if (best) return *best;
  return R"({"msg":"success","code":"200","params":null})";
}

Response ScriptedApi::handle(const Request& request, Time now) {
  (void)now;
  ++requests_;
  std::string path(request.path_only());
  ++by_path_[path];
  Response r;  // the peer's fake sets no headers at all
  if (!queue_.empty()) {
    r.status = queue_.front().first;
    r.body = std::move(queue_.front().second);
    queue_.pop_front();
  } else if (failed_ < options_.fail_count) {
    ++failed_;
    r.status = 500;
    r.body = R"({"msg":"fail","code":"500","params":null})";
  } else if (rate_limited_ < options_.rate_limit_count) {
    ++rate_limited_;
    r.status = 429;
    r.body = R"({"msg":"fail","code":"429","params":null})";
  } else if (too_large_ < options_.content_too_large_count) {
    ++too_large_;
    r.status = 413;
    r.body = R"({"msg":"fail","code":"413","params":null})";
  } else {
    r.status = 200;
    r.body = success_body(path);
  }
  if (r.status >= 200 && r.status < 300) {
    accepted_.push_back({{"method", request.method}, {"path", path}, {"bytes", request.body.size()}});
  }
  return r;
}

nlohmann::json ScriptedApi::accepted() const {
  return {{"requests", requests_}, {"accepted", accepted_}, {"by_path", by_path_}};
}

void ScriptedApi::reset() {
  queue_.clear();
  requests_ = failed_ = rate_limited_ = too_large_ = 0;
  by_path_.clear();
  accepted_.clear();
}

Status ScriptedApi::control(const JsonIn& op, Time now) {
  DS_TRY(std::string key,
         control_key(op, {"queue", "fail_count", "rate_limit_count", "content_too_large_count", "request"}));
  if (key == "queue") {
    // AddResponseQueue: answers given, in order, before any counter-driven one.
    JsonIn q = op.at(key);
    DS_CHECK(q.array());
    std::vector<std::pair<int, std::string>> answers;
    for (std::size_t i = 0; i < q.size(); ++i) {
      JsonIn a = q.at(i);
      DS_CHECK(a.only_keys({"status", "body", "json"}));
      DS_CHECK(a.require("status"));
      DS_TRY(std::int64_t st, a.at("status").integer(200, 599));
      std::string body;
      if (a.has("body") && a.has("json")) return a.fail("give either \"body\" or \"json\", not both");
      if (a.has("body")) { DS_TRY(body, a.at("body").string()); }
      if (a.has("json")) body = a.at("json").json().dump();
      answers.emplace_back(static_cast<int>(st), std::move(body));
    }
    for (auto& [st, body] : answers) add_response(st, std::move(body));
    return Status::success();
  }
  if (key == "request") return FakeApi::control(op, now);
  DS_TRY(std::int64_t n, op.at(key).integer(0, 1'000'000'000));
  if (key == "fail_count") options_.fail_count = failed_ + n;
  else if (key == "rate_limit_count") options_.rate_limit_count = rate_limited_ + n;
  else options_.content_too_large_count = too_large_ + n;
  return Status::success();
}

}  // namespace destsim
