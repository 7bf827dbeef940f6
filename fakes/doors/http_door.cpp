#include "fakes/doors/http_door.h"

#include <httplib.h>

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <random>
#include <thread>

#include "framework/gzip.h"
#include "framework/json_in.h"
#include "framework/real/real_clock.h"
#include "framework/rng.h"
#include "framework/text.h"

namespace destsim {

namespace {

using Steady = std::chrono::steady_clock;  // determinism-ok: the door's real-mode bounds and holds

/// The longest start() waits for the server thread to accept connections.
constexpr Duration kStartWait = std::chrono::seconds(10);
/// Idle keep-alive connections are closed after this long; it also bounds how
/// long stop() waits for a client that keeps a connection open and idle.
constexpr time_t kKeepAliveSeconds = 2;

bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

/// "api.iterable.com:443" → "api.iterable.com"; "[::1]:80" → "[::1]".
std::string host_without_port(std::string_view host) {
  if (starts_with(host, "[")) {
    auto end = host.find(']');
    return std::string(end == std::string_view::npos ? host : host.substr(0, end + 1));
  }
  return std::string(host.substr(0, host.find(':')));
}

/// cpp-httplib 0.11 adds the socket addresses to the request headers; they are not the client's.
bool is_httplib_meta_header(std::string_view name) {
  return name == "REMOTE_ADDR" || name == "REMOTE_PORT" || name == "LOCAL_ADDR" || name == "LOCAL_PORT";
}

// cpp-httplib inflates a gzip request body itself but keeps the request's
// Content-Encoding: the fake is handed the body gzipped again, as the client
// sent it (not byte for byte: the content is the same), so a fake that reads
// gzip bodies sees one. "" when deflate fails (the fake then sees the header
// with an empty body and refuses it).
std::string gzip_again(const std::string& data) {
  auto z = gzip_compress(data);
  return z.ok() ? std::move(z).value() : std::string();
}

Request to_request(const httplib::Request& req) {
  Request r;
  r.method = req.method;
  r.host = host_without_port(req.get_header_value("Host"));
  // The raw target keeps the query exactly as sent (req.path is decoded, without it).
  std::string_view target = req.target;
  if (starts_with(target, "http://") || starts_with(target, "https://")) {  // absolute-form
    auto slash = target.find('/', target.find("//") + 2);
    target = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
  }
  r.path = target.empty() ? req.path : std::string(target);
  for (const auto& [name, value] : req.headers) {
    if (!is_httplib_meta_header(name)) r.headers.add(name, value);
  }
  r.body = req.body;
  if (auto enc = r.headers.get("Content-Encoding"); enc && iequals(trim_spaces(*enc), "gzip"))
    r.body = gzip_again(req.body);
  if (req.is_multipart_form_data() && r.body.empty() && !req.files.empty()) {
    // cpp-httplib parses multipart bodies into `files` and keeps no raw body:
    // re-encode the parts (RFC 7578) so the fake sees a multipart body, under
    // the boundary the client chose.
    std::string content_type = req.get_header_value("Content-Type");
    std::string boundary;
    auto pos = content_type.find("boundary=");
    if (pos != std::string::npos) {
      boundary = content_type.substr(pos + 9);
      if (auto semi = boundary.find(';'); semi != std::string::npos) boundary.resize(semi);
      if (boundary.size() >= 2 && boundary.front() == '"' && boundary.back() == '"')
        boundary = boundary.substr(1, boundary.size() - 2);
    }
    for (const auto& [name, part] : req.files) {
      r.body += "--" + boundary + "\r\nContent-Disposition: form-data; name=\"" + part.name + "\"";
      if (!part.filename.empty()) r.body += "; filename=\"" + part.filename + "\"";
      r.body += "\r\n";
      if (!part.content_type.empty()) r.body += "Content-Type: " + part.content_type + "\r\n";
      r.body += "\r\n" + part.content + "\r\n";
    }
    r.body += "--" + boundary + "--\r\n";
  }
  return r;
}

/// Writes a destsim::Response; `injected` names the fault kind that produced or altered it.
void write_response(const Response& r, httplib::Response& res, const char* injected) {
  res.status = r.status;
  for (const auto& [name, value] : r.headers.items()) {
    // cpp-httplib frames the message itself.
    if (iequals(name, "Content-Length") || iequals(name, "Transfer-Encoding") || iequals(name, "Connection")) continue;
    res.headers.emplace(name, value);
  }
  if (injected) res.set_header(HttpDoor::kInjectedHeader, injected);
  res.body = r.body;
}

void write_json(httplib::Response& res, int status, const nlohmann::json& body) {
  res.status = status;
  res.set_content(body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), "application/json");
}

/// Cuts the exchange short: the status line and headers (with the marker) go
/// out, then the body provider fails at once, so cpp-httplib closes the
/// connection one promised byte short. Clients see a read error.
void drop_connection(httplib::Response& res, const char* kind) {
  res.status = 500;
  res.set_header(HttpDoor::kInjectedHeader, kind);
  res.set_content_provider(1, "application/octet-stream",
                           [](std::size_t, std::size_t, httplib::DataSink&) { return false; });
}

/// 128 bits from the OS, as hex: the admin token when none is given.
std::string random_token() {
  std::random_device rd;  // determinism-ok: a secret for the real-mode admin surface, never part of a run
  std::string out;
  const char* hex = "0123456789abcdef";
  for (int i = 0; i < 8; ++i) {
    auto v = static_cast<std::uint32_t>(rd());
    for (int k = 0; k < 4; ++k, v >>= 4) out.push_back(hex[v & 0xFu]);
  }
  return out;
}

/// Loopback names a browser cannot be tricked into sending elsewhere.
bool loopback_host(std::string_view host) {
  return host == "127.0.0.1" || host == "localhost" || host == "[::1]";
}

/// Compares without an early exit, so the token cannot be guessed byte by byte.
bool same_secret(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned>(a[i] ^ b[i]);
  return diff == 0;
}

}  // namespace

struct HttpDoor::Impl {
  Impl(FakeApi& a, FaultPlan p, HttpDoorOptions o)
      : api(a), options(std::move(o)), plan(std::move(p)), rng(options.seed) {
    if (options.admin_token.empty()) options.admin_token = random_token();
  }

  void install_routes();
  void serve(const httplib::Request& req, httplib::Response& res);
  void admin(const httplib::Request& req, httplib::Response& res);
  /// Holds the current request for `d`, or until the door stops.
  void hold(Duration d);
  void watch();

  FakeApi& api;
  HttpDoorOptions options;
  RealClock clock;
  httplib::Server server;

  // The fake, the plan and the fault Rng: one request at a time.
  std::mutex api_mu;  // determinism-ok: serialises concurrent HTTP requests onto the fake
  FaultPlan plan;     // guarded by api_mu
  Rng rng;            // guarded by api_mu
  // What the fake was given to keep since the last reset (its stored state
  // grows with these): bounded by options.state_requests_max / state_bytes_max.
  std::int64_t state_requests = 0;  // guarded by api_mu
  std::int64_t state_bytes = 0;     // guarded by api_mu

  // Lifecycle. start() and stop() are serialised by life_mu; the rest by mu.
  std::mutex life_mu;              // determinism-ok: start/stop from any thread
  std::mutex log_mu;               // determinism-ok: serialises on_exchange reports
  mutable std::mutex mu;           // determinism-ok: door state shared with server threads
  std::condition_variable cv;      // determinism-ok: wakes the watchdog, holds and wait()
  bool started = false;            // guarded by mu
  bool stop_requested = false;     // guarded by mu: no new fake requests, holds end
  bool closed = false;             // guarded by mu: the listening socket is closed (or never opened)
  bool listen_returned = false;    // guarded by mu
  std::uint64_t requests = 0;      // guarded by mu
  std::int64_t in_flight = 0;      // guarded by mu: fake requests being served
  int port = 0;                    // guarded by mu
  std::thread server_thread;       // determinism-ok: cpp-httplib's accept loop
  std::thread watchdog;            // determinism-ok: enforces max_requests and max_lifetime
};

void HttpDoor::Impl::install_routes() {
  auto handler = [this](const httplib::Request& req, httplib::Response& res) { serve(req, res); };
  server.Get(".*", handler);
  server.Post(".*", handler);
  server.Put(".*", handler);
  server.Patch(".*", handler);
  server.Delete(".*", handler);
  server.Options(".*", handler);
  server.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "unknown exception";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    write_json(res, 500, {{"error", "the fake threw: " + what}});
  });
  // cpp-httplib's default also sets SO_REUSEPORT, which lets a second server
  // bind the same port and silently take half the connections: keep SO_REUSEADDR only.
  server.set_socket_options([](socket_t sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  server.set_tcp_nodelay(true);
  server.set_keep_alive_timeout(kKeepAliveSeconds);
  // Hostile clients: bodies over the limit are refused unread (413), a stalled
  // client is cut off, and enough workers serve that a few slow ones starve nobody.
  server.set_payload_max_length(static_cast<std::size_t>(options.body_bytes_max));
  server.set_read_timeout(std::chrono::duration_cast<std::chrono::microseconds>(options.read_timeout));
  const int workers = std::max(1, options.workers);
  server.new_task_queue = [workers] { return new httplib::ThreadPool(static_cast<std::size_t>(workers)); };
}

void HttpDoor::Impl::hold(Duration d) {
  if (d.count() <= 0) return;
  std::unique_lock<std::mutex> lock(mu);  // determinism-ok: a real-mode hold
  cv.wait_for(lock, d, [this] { return stop_requested; });  // latency/timeout faults really wait
}

void HttpDoor::Impl::serve(const httplib::Request& req, httplib::Response& res) {
  // What the fakes' string handling assumes: UTF-8 paths and header values.
  bool utf8 = valid_utf8(req.target) && valid_utf8(req.path);
  for (const auto& [name, value] : req.headers) utf8 = utf8 && valid_utf8(name) && valid_utf8(value);
  if (!utf8) return write_json(res, 400, {{"error", "the request line or a header is not valid UTF-8"}});
  if (req.path == "/_destsim" || starts_with(req.path, "/_destsim/")) {
    admin(req, res);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mu);  // determinism-ok: count the request
    bool over = options.max_requests > 0 && requests >= static_cast<std::uint64_t>(options.max_requests);
    if (stop_requested || over) {
      // Past its bound the door is going away: answer as a server that is gone.
      drop_connection(res, "refused");
      return;
    }
    ++requests;
    ++in_flight;
    if (options.max_requests > 0 && requests >= static_cast<std::uint64_t>(options.max_requests)) {
      cv.notify_all();  // wakes the watchdog at the request bound
    }
  }
  Request request = to_request(req);
  DoorExchange exchange;
  if (options.on_exchange) {
    exchange.arrived = std::chrono::steady_clock::now();  // determinism-ok: the black-box request log
    exchange.method = request.method;
    exchange.path = std::string(request.path_only());
    exchange.body = request.body;
    std::lock_guard<std::mutex> lock(mu);  // determinism-ok: read the count
    exchange.in_flight = in_flight;
  }
  struct Served {
    Impl& d;
    DoorExchange& ex;
    httplib::Response& res;
    ~Served() {
      {
        std::lock_guard<std::mutex> lock(d.mu);  // determinism-ok: the request is answered
        --d.in_flight;
      }
      d.cv.notify_all();  // wakes wait_quiet()
      if (d.options.on_exchange) {
        ex.answered = std::chrono::steady_clock::now();  // determinism-ok: the black-box request log
        ex.injected = res.get_header_value(HttpDoor::kInjectedHeader);
        // A cut connection (drop_connection) carries the kind, never an answer.
        const bool cut = ex.injected == "reset" || ex.injected == "timeout" || ex.injected == "refused";
        ex.status = cut ? 0 : res.status;
        ex.retry_after = res.get_header_value("Retry-After");
        std::lock_guard<std::mutex> lock(d.log_mu);  // determinism-ok: one report at a time
        d.options.on_exchange(ex);
      }
    }
  } served{*this, exchange, res};

  std::optional<FaultRule> rule;  // a copy: a PUT /_destsim/faults may replace the plan meanwhile
  Duration latency{0};
  {
    std::lock_guard<std::mutex> lock(api_mu);  // determinism-ok: the plan is shared by all requests
    FaultDecision d = plan.decide(FaultRequest::of(request), clock.now().time_since_epoch(), rng);
    latency = api.latency_for(request) + d.latency;  // the fake's own service time, then the plan's
    rule = std::move(d.action);
  }
  hold(latency);

  auto apply = [&]() {
    std::lock_guard<std::mutex> lock(api_mu);  // determinism-ok: one request at a time in the fake
    // The fake keeps what it is given; past the door's bound on that state it
    // takes nothing more (507) until /_destsim/reset, instead of growing until
    // the machine runs out of memory.
    const auto body = static_cast<std::int64_t>(request.body.size());
    if (state_requests >= options.state_requests_max || state_bytes + body > options.state_bytes_max) {
      Response full;
      full.status = 507;
      full.headers.set("Content-Type", "application/json");
      full.headers.set("X-Destsim-Limit", "state");
      nlohmann::json why = {
          {"error", "the fake's stored state reached the door's bound (" + std::to_string(state_requests) +
                        " requests, " + std::to_string(state_bytes) + " bytes of bodies since the last reset; limits " +
                        std::to_string(options.state_requests_max) + " requests, " +
                        std::to_string(options.state_bytes_max) +
                        " bytes): POST /_destsim/reset, or serve with a larger --max-state"}};
      full.body = why.dump();
      return full;
    }
    ++state_requests;
    state_bytes += body;
    return api.handle(request, clock.now());
  };
  if (!rule) {
    write_response(apply(), res, nullptr);
    return;
  }
  const char* kind = fault_kind_name(rule->kind);
  switch (rule->kind) {
    case FaultKind::respond:
      // Applied, then answered with the fault's status (as the simulator does).
      if (rule->after) (void)apply();
      write_response(injected_response(*rule, clock.unix_ms(clock.now())), res, kind);
      return;
    case FaultKind::rate_limit:
    case FaultKind::too_large:
      write_response(injected_response(*rule, clock.unix_ms(clock.now())), res, kind);
      return;
    case FaultKind::outage:
      if (rule->status == 0) {
        drop_connection(res, "refused");
        return;
      }
      if (rule->after) (void)apply();
      write_response(injected_response(*rule, clock.unix_ms(clock.now())), res, kind);
      return;
    case FaultKind::timeout:
      if (rule->after) (void)apply();
      hold(options.timeout_hold);
      drop_connection(res, kind);
      return;
    case FaultKind::reset:
      if (rule->after) (void)apply();
      drop_connection(res, kind);
      return;
    case FaultKind::garble: {
      Response r = apply();
      {
        std::lock_guard<std::mutex> lock(api_mu);  // determinism-ok: the Rng is shared
        r.body = garble_body(r.body, rng);
      }
      write_response(r, res, kind);
      return;
    }
    case FaultKind::latency:
      break;
  }
  DS_ASSERT(!"latency rules never decide a request");
}

void HttpDoor::Impl::admin(const httplib::Request& req, httplib::Response& res) {
  const std::string& p = req.path;
  const std::string& m = req.method;
  auto wrong_method = [&](const char* allowed) {
    res.set_header("Allow", allowed);
    write_json(res, 405, {{"error", m + " " + p + ": method not allowed (allowed: " + allowed + ")"}});
  };
  if (p != "/_destsim/health") {
    // A web page the user has open may reach loopback: refuse what a browser
    // sends (an Origin, a Host of a foreign name) and anything without the token.
    if (req.has_header("Origin"))
      return write_json(res, 403, {{"error", p + ": requests carrying an Origin are refused (the admin surface is "
                                              "not for web pages)"}});
    const std::string host = host_without_port(req.get_header_value("Host"));
    if (!loopback_host(host) && host != options.bind_host)
      return write_json(res, 403, {{"error", p + ": Host \"" + host + "\" is not this door's address"}});
    if (!same_secret(req.get_header_value(HttpDoor::kTokenHeader), options.admin_token))
      return write_json(res, 403, {{"error", p + ": the admin token is missing or wrong (header " +
                                              std::string(HttpDoor::kTokenHeader) + ", printed by `destsim serve`)"}});
  }
  if (p == "/_destsim/accepted") {
    if (m != "GET") return wrong_method("GET");
    nlohmann::json accepted;
    {
      std::lock_guard<std::mutex> lock(api_mu);  // determinism-ok: read the fake's state
      accepted = api.accepted();
    }
    write_json(res, 200, accepted);
  } else if (p == "/_destsim/reset") {
    if (m != "POST") return wrong_method("POST");
    {
      std::lock_guard<std::mutex> lock(api_mu);  // determinism-ok: reset the fake and the plan together
      api.reset();
      plan.reset_counters();
      state_requests = 0;
      state_bytes = 0;
    }
    res.status = 204;
  } else if (p == "/_destsim/faults") {
    if (m == "GET") {
      nlohmann::json doc;
      {
        std::lock_guard<std::mutex> lock(api_mu);  // determinism-ok: read the plan
        doc = plan.to_json();
      }
      write_json(res, 200, doc);
    } else if (m == "PUT") {
      const std::string where = "PUT /_destsim/faults";
      nlohmann::json doc = parse_json_body(req.body);
      if (doc.is_discarded()) return write_json(res, 400, {{"error", where + ": the body is not valid JSON"}});
      Result<FaultPlan> parsed = FaultPlan::from_json(doc, where);
      if (!parsed.ok()) return write_json(res, 400, {{"error", parsed.error().message}});
      Status fits = api.check_fault_plan(*parsed, where + ": ");  // the fake's own validator, as in the sim
      if (!fits.ok()) return write_json(res, 400, {{"error", fits.error().message}});
      {
        std::lock_guard<std::mutex> lock(api_mu);  // determinism-ok: replace the plan between requests
        plan = std::move(parsed).value();
      }
      res.status = 204;
    } else {
      wrong_method("GET, PUT");
    }
  } else if (p == "/_destsim/health") {
    if (m != "GET") return wrong_method("GET");
    std::string name;
    {
      std::lock_guard<std::mutex> lock(api_mu);  // determinism-ok: read the fake's name
      name = api.name();
    }
    std::uint64_t n = 0;
    {
      std::lock_guard<std::mutex> lock(mu);  // determinism-ok: read the request count
      n = requests;
    }
    write_json(res, 200, {{"ok", true}, {"fake", name}, {"requests", n}});
  } else {
    write_json(res, 404,
               {{"error", p + ": no such admin endpoint (accepted, reset, faults, health under /_destsim/)"}});
  }
}

void HttpDoor::Impl::watch() {
  std::unique_lock<std::mutex> lock(mu);  // determinism-ok: the watchdog's state
  auto done = [this] {
    return stop_requested ||
           (options.max_requests > 0 && requests >= static_cast<std::uint64_t>(options.max_requests));
  };
  if (options.max_lifetime.count() > 0) {
    auto lifetime = std::chrono::duration_cast<Steady::duration>(options.max_lifetime);
    auto deadline = Steady::now() + lifetime;  // the lifetime bound is wall time
    cv.wait_until(lock, deadline, done);  // ends at the bound or on stop()
  } else {
    cv.wait(lock, done);  // ends at the request bound or on stop()
  }
  stop_requested = true;
  lock.unlock();
  server.stop();  // closes the listening socket; listen_after_bind() returns once requests in flight end
  lock.lock();
  closed = true;
  lock.unlock();
  cv.notify_all();  // ends holds and wait()
}

HttpDoor::HttpDoor(FakeApi& api, FaultPlan plan, HttpDoorOptions options)
    : impl_(std::make_unique<Impl>(api, std::move(plan), std::move(options))) {
  impl_->install_routes();
}

HttpDoor::~HttpDoor() { stop(); }

void HttpDoor::inspect(const std::function<void(const FakeApi&)>& fn) {
  std::lock_guard<std::mutex> lock(impl_->api_mu);  // determinism-ok: between requests
  fn(impl_->api);
}

std::int64_t HttpDoor::in_flight() const {
  std::lock_guard<std::mutex> lock(impl_->mu);  // determinism-ok: read the door's state
  return impl_->in_flight;
}

bool HttpDoor::wait_quiet(Duration bound) {
  Impl& d = *impl_;
  std::unique_lock<std::mutex> lock(d.mu);  // determinism-ok: real mode
  return d.cv.wait_for(lock, bound, [&d] { return d.in_flight == 0; });  // ends when the last answer is written
}

Result<int> HttpDoor::start() {
  Impl& d = *impl_;
  // A plan the fake cannot apply is refused before anything binds (the fake's validator, as in the sim).
  DS_CHECK(d.api.check_fault_plan(d.plan, "fault plan: "));
  std::lock_guard<std::mutex> life(d.life_mu);  // determinism-ok: start/stop are serialised
  {
    std::lock_guard<std::mutex> lock(d.mu);  // determinism-ok: real mode
    if (d.stop_requested) return Error::internal("http door: start() after stop()");
    if (d.started) return Error::internal("http door: start() called twice");
    d.started = true;
  }
  const std::string where = d.options.bind_host + ":" + std::to_string(d.options.port);
  int port = -1;
  if (d.options.port == 0) {
    port = d.server.bind_to_any_port(d.options.bind_host);
  } else if (d.server.bind_to_port(d.options.bind_host, d.options.port)) {
    port = d.options.port;
  }
  auto fail = [&](std::string message) -> Error {
    {
      std::lock_guard<std::mutex> lock(d.mu);  // determinism-ok: real mode
      d.stop_requested = true;
      d.closed = true;
    }
    d.cv.notify_all();  // wakes wait()
    return Error::io("http door: " + where + ": " + message);
  };
  if (port <= 0) return fail("cannot bind (address in use or not local?)");
  {
    std::lock_guard<std::mutex> lock(d.mu);  // determinism-ok: real mode
    d.port = port;
  }
  d.server_thread = std::thread([&d] {  // determinism-ok: cpp-httplib serves on its own threads
    d.server.listen_after_bind();
    {
      std::lock_guard<std::mutex> lock(d.mu);  // determinism-ok: real mode
      d.listen_returned = true;
    }
    d.cv.notify_all();  // wakes start()
  });
  // cpp-httplib 0.11 has no wait_until_ready(): poll is_running(), bounded.
  bool running = false;
  {
    auto deadline = Steady::now() + std::chrono::duration_cast<Steady::duration>(kStartWait);  // start
    std::unique_lock<std::mutex> lock(d.mu);  // determinism-ok: real mode
    // A bounded poll of is_running().
    while (!(running = d.server.is_running()) && !d.listen_returned && Steady::now() < deadline) {
      d.cv.wait_for(lock, std::chrono::milliseconds(1));  // poll interval of the bounded start
    }
  }
  if (!running) {
    // Server::stop() is a no-op until the server runs, so stop it if it ever does.
    std::unique_lock<std::mutex> lock(d.mu);  // determinism-ok: real mode
    while (!d.listen_returned) {
      if (d.server.is_running()) d.server.stop();
      d.cv.wait_for(lock, std::chrono::milliseconds(1));  // ends when the listen loop does
    }
    lock.unlock();
    d.server_thread.join();  // listen_after_bind has returned
    return fail("the server did not start listening within " + format_duration(kStartWait));
  }
  d.watchdog = std::thread([&d] { d.watch(); });  // determinism-ok: enforces the door's bounds
  return port;
}

void HttpDoor::stop() {
  Impl& d = *impl_;
  std::lock_guard<std::mutex> life(d.life_mu);  // determinism-ok: start/stop are serialised
  {
    std::lock_guard<std::mutex> lock(d.mu);  // determinism-ok: real mode
    d.stop_requested = true;
  }
  d.cv.notify_all();  // wakes the watchdog and holds
  // start() returns only with the server running and the watchdog started (or
  // with neither), so the watchdog is the one to stop the server.
  if (d.watchdog.joinable()) d.watchdog.join();  // the watchdog exits once stop_requested
  // Bounded by the requests in flight and the keep-alive timeout.
  if (d.server_thread.joinable()) d.server_thread.join();  // joins the server thread
  {
    std::lock_guard<std::mutex> lock(d.mu);  // determinism-ok: real mode
    d.closed = true;
  }
  d.cv.notify_all();  // wakes wait()
}

void HttpDoor::wait() {
  Impl& d = *impl_;
  std::unique_lock<std::mutex> lock(d.mu);  // determinism-ok: blocks the caller until the door stops
  d.cv.wait(lock, [&d] { return d.closed; });  // woken by the watchdog or stop()
}

int HttpDoor::port() const {
  std::lock_guard<std::mutex> lock(impl_->mu);  // determinism-ok: real mode
  return impl_->port;
}

std::string HttpDoor::url() const {
  std::string host = impl_->options.bind_host;
  if (host == "0.0.0.0" || host.empty()) host = "127.0.0.1";
  if (host == "::") host = "::1";
  if (host.find(':') != std::string::npos) host = "[" + host + "]";  // an IPv6 literal
  return "http://" + host + ":" + std::to_string(port());
}

const std::string& HttpDoor::admin_token() const { return impl_->options.admin_token; }

std::uint64_t HttpDoor::requests() const {
  std::lock_guard<std::mutex> lock(impl_->mu);  // determinism-ok: real mode
  return impl_->requests;
}

}  // namespace destsim
