// fuzz_http_fakes — every HTTP fake as the door drives it: a sequence of
// requests, then the accepted-state dump. A fake answers what it cannot take
// with a 4xx and keeps serving; nothing crashes, every status is 100-599, and
// the accepted state always dumps as JSON.
//
// Input: one byte picks the fake (catalog order), then requests separated by
// 0x1E, each "METHOD PATH\nName: value\n...\n\nBODY" (a Host header sets the host).
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "fakes/catalog.h"

using namespace destsim;

namespace {

Request parse_request(std::string_view text) {
  Request r;
  r.host = "api.example.com";
  auto line_end = text.find('\n');
  std::string_view first = text.substr(0, line_end);
  auto space = first.find(' ');
  r.method = std::string(first.substr(0, space));
  r.path = space == std::string_view::npos ? "/" : std::string(first.substr(space + 1));
  if (line_end == std::string_view::npos) return r;
  text.remove_prefix(line_end + 1);
  while (!text.empty()) {
    auto end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
    if (line.empty()) break;
    auto colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    // A Host header routes the request as the doors do (a fake with a second
    // host, such as Snowpipe's SQL API, is reached through it).
    if (line.substr(0, colon) == "Host") r.host = std::string(value);
    r.headers.add(std::string(line.substr(0, colon)), std::string(value));
  }
  r.body = std::string(text);
  return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  std::vector<const FakeEntry*> http;
  for (const FakeEntry* e : all_fakes())
    if (e->door == FakeDoor::http) http.push_back(e);
  const FakeEntry& entry = *http[data[0] % http.size()];
  auto made = entry.make(nlohmann::json::object(), "fuzz");
  if (!made.ok()) return 0;
  FakeApi* api = (*made)->http();
  if (!api) std::abort();
  std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  Time now = kTimeZero;
  while (true) {
    auto sep = rest.find('\x1e');
    Response res = api->handle(parse_request(rest.substr(0, sep)), now);
    if (res.status < 100 || res.status > 599) std::abort();
    now += std::chrono::seconds(1);
    if (sep == std::string_view::npos) break;
    rest.remove_prefix(sep + 1);
  }
  // The admin surface dumps this (replacing bytes that are not UTF-8).
  (void)api->accepted().dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return 0;
}
