#include "framework/real/real_http_transport.h"

#include <httplib.h>

#include "framework/sync.h"

namespace destsim {

namespace {

using Steady = std::chrono::steady_clock;  // determinism-ok: measures a real request to tell a read timeout

/// The header destsim's HTTP door puts on everything a fault plan produced.
constexpr const char* kInjectedHeader = "X-Destsim-Injected";

void set_timeout(Duration d, std::function<void(time_t, time_t)> set) {
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(d).count();
  if (us < 0) us = 0;
  set(static_cast<time_t>(us / 1'000'000), static_cast<time_t>(us % 1'000'000));
}

TransportError transport_error(TransportErrorKind kind, bool maybe_applied, bool injected, std::string message) {
  return {.kind = kind, .message = std::move(message), .maybe_applied = maybe_applied, .injected = injected};
}

/// Maps a failed cpp-httplib exchange onto a transport error. `marker` is the
/// X-Destsim-Injected header of a response cut short, if one was seen.
TransportError map_error(httplib::Error error, const std::string& marker, Duration elapsed, Duration read_timeout,
                         const std::string& where) {
  std::string what = where + ": " + httplib::to_string(error);
  if (!marker.empty() && (error == httplib::Error::Read || error == httplib::Error::Write)) {
    if (marker == "refused") {
      return transport_error(TransportErrorKind::connection_refused, false, true, what + " (injected refusal)");
    }
    if (marker == "timeout") {
      return transport_error(TransportErrorKind::timeout, true, true, what + " (injected timeout)");
    }
    return transport_error(TransportErrorKind::connection_reset, true, true, what + " (injected " + marker + ")");
  }
  switch (error) {
    case httplib::Error::Connection:
      return transport_error(TransportErrorKind::connection_refused, false, false, what);
    case httplib::Error::ConnectionTimeout:
      // The connection never opened, so nothing was sent.
      return transport_error(TransportErrorKind::timeout, false, false, what + " (connect)");
    case httplib::Error::Read:
      // 0.11 reports a read timeout and a connection closed mid-response alike;
      // only a read that lasted the whole read timeout is a timeout.
      if (elapsed >= read_timeout) {
        return transport_error(TransportErrorKind::timeout, true, false, what + " (timed out)");
      }
      return transport_error(TransportErrorKind::connection_reset, true, false, what + " (connection closed)");
    case httplib::Error::Write:
      return transport_error(TransportErrorKind::connection_reset, true, false, what);
    case httplib::Error::BindIPAddress:
    case httplib::Error::SSLConnection:
    case httplib::Error::SSLLoadingCerts:
    case httplib::Error::SSLServerVerification:
    case httplib::Error::UnsupportedMultipartBoundaryChars:
      // Failed before the request was written.
      return transport_error(TransportErrorKind::other, false, false, what);
    default:
      return transport_error(TransportErrorKind::other, true, false, what);
  }
}

HttpResult perform(httplib::Client& client, const Request& request, Duration read_timeout, const std::string& base) {
  httplib::Request out;
  out.method = request.method;
  out.path = request.path.empty() ? "/" : request.path;
  bool has_host = false;
  for (const auto& [name, value] : request.headers.items()) {
    if (iequals(name, "Content-Length")) continue;  // cpp-httplib writes the true length
    if (iequals(name, "Host")) has_host = true;
    out.headers.emplace(name, value);
  }
  // The logical host, even when the route points at a loopback door.
  if (!has_host) out.headers.emplace("Host", request.host);
  out.body = request.body;
  std::string marker;
  out.response_handler = [&marker](const httplib::Response& r) {
    marker = r.get_header_value(kInjectedHeader);
    return true;
  };

  auto started = Steady::now();
  httplib::Result result = client.send(out);
  Duration elapsed = std::chrono::duration_cast<Duration>(Steady::now() - started);

  if (!result) {
    return map_error(result.error(), marker, elapsed, read_timeout,
                     request.method + " " + base + request.path);
  }
  Response response;
  response.status = result->status;
  for (const auto& [name, value] : result->headers) response.headers.add(name, value);
  response.body = std::move(result->body);
  response.injected = result->has_header(kInjectedHeader);
  return response;
}

/// Hands a result to the loop thread: the Completion is set there, and the
/// external operation begun in send() ends there.
void complete(Loop& loop, Completion<HttpResult> completion, HttpResult result) {
  std::function<void()> fn = [loop = &loop, c = std::move(completion), r = std::move(result)]() mutable {
    c.set(std::move(r));
    loop->end_external();
  };
  loop.post_external(std::move(fn));
}

}  // namespace

struct HttpTransport::Worker {
  std::thread thread;                 // determinism-ok: cpp-httplib's client blocks; real mode only
  httplib::Client* active = nullptr;  // guarded by HttpTransport::mu_
  std::map<std::string, std::unique_ptr<httplib::Client>> clients;  // by base URL; this worker's thread only
};

HttpTransport::HttpTransport(Loop& loop, HttpTransportOptions options) : loop_(loop), options_(std::move(options)) {
  DS_ASSERT(options_.workers >= 1);
  DS_ASSERT(!loop_.clock().is_virtual());
  for (int i = 0; i < options_.workers; ++i) {
    auto w = std::make_unique<Worker>();
    Worker* raw = w.get();
    workers_.push_back(std::move(w));
    raw->thread = std::thread([this, raw] { run_worker(raw); });  // determinism-ok: real mode
  }
}

HttpTransport::~HttpTransport() {
  std::deque<Job> unsent;
  {
    std::lock_guard<std::mutex> lock(mu_);  // determinism-ok: shutting the worker pool down
    stopping_ = true;
    unsent.swap(queue_);
    for (auto& w : workers_) {
      if (w->active) w->active->stop();  // aborts the exchange in flight (thread-safe in cpp-httplib)
    }
  }
  cv_.notify_all();  // wakes the workers to exit
  for (auto& job : unsent) {
    complete(loop_, std::move(job.completion),
             transport_error(TransportErrorKind::other, false, false,
                             job.request.method + " " + job.base_url + job.request.path +
                                 ": transport shut down before the request was sent"));
  }
  for (auto& w : workers_) w->thread.join();  // bounded: in-flight exchanges were aborted
}

std::string HttpTransport::base_url(const std::string& host) const {
  auto it = options_.routes.find(host);
  if (it != options_.routes.end()) return it->second;
  return "https://" + host;
}

httplib::Client* HttpTransport::client_for(Worker& worker, const std::string& base) {
  auto& slot = worker.clients[base];
  if (!slot) {
    slot = std::make_unique<httplib::Client>(base);
    if (!slot->is_valid()) return nullptr;  // an invalid Client must not be configured (it has no impl)
    set_timeout(options_.connect_timeout, [&](time_t s, time_t us) { slot->set_connection_timeout(s, us); });
    set_timeout(options_.read_timeout, [&](time_t s, time_t us) {
      slot->set_read_timeout(s, us);
      slot->set_write_timeout(s, us);
    });
    slot->set_keep_alive(true);
    slot->set_url_encode(false);  // Request::path is already a target, encoded by whoever built it
    slot->set_follow_location(false);
    slot->set_tcp_nodelay(true);  // small requests: no Nagle delay behind the headers
  }
  return slot->is_valid() ? slot.get() : nullptr;
}

void HttpTransport::run_worker(Worker* worker) {
  for (;;) {
    std::optional<Job> job;
    {
      std::unique_lock<std::mutex> lock(mu_);  // determinism-ok: waiting for work
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });  // idle worker
      if (stopping_) return;  // the destructor fails whatever is still queued
      job.emplace(std::move(queue_.front()));
      queue_.pop_front();
    }
    httplib::Client* client = client_for(*worker, job->base_url);
    HttpResult result = transport_error(TransportErrorKind::other, false, false, "");
    bool aborted = false;
    {
      std::lock_guard<std::mutex> lock(mu_);  // determinism-ok: publish the client so the destructor can abort it
      aborted = stopping_;
      if (!aborted && client) worker->active = client;
    }
    if (aborted) {
      result = transport_error(TransportErrorKind::other, false, false,
                               job->request.method + " " + job->base_url + job->request.path +
                                   ": transport shut down before the request was sent");
    } else if (!client) {
      result = transport_error(TransportErrorKind::other, false, false,
                               job->base_url + ": not a base URL cpp-httplib can use (route for host " +
                                   job->request.host + ")");
    } else {
      try {
        result = perform(*client, job->request, options_.read_timeout, job->base_url);
      } catch (const std::exception& e) {
        result = transport_error(TransportErrorKind::other, true, false,
                                 job->request.method + " " + job->base_url + job->request.path + ": " + e.what());
      }
    }
    {
      std::lock_guard<std::mutex> lock(mu_);  // determinism-ok: the exchange is over
      worker->active = nullptr;
    }
    complete(loop_, std::move(job->completion), std::move(result));
  }
}

Task<HttpResult> HttpTransport::send(Request request) {
  const std::uint64_t id = ++next_id_;
  trace_http_request(loop_.trace(), loop_.now(), id, request);

  Completion<HttpResult> done(loop_);
  loop_.begin_external();
  {
    Job job{std::move(request), "", done};
    job.base_url = base_url(job.request.host);
    std::lock_guard<std::mutex> lock(mu_);  // determinism-ok: hand the request to a worker
    DS_ASSERT(!stopping_);
    queue_.push_back(std::move(job));
  }
  cv_.notify_one();  // wakes a worker

  HttpResult result = co_await done.wait();
  trace_http_result(loop_.trace(), loop_.now(), id, result);
  co_return result;
}

}  // namespace destsim
