// real_http_transport.h — the real HTTP door out: cpp-httplib on worker threads.
//
// cpp-httplib's client is synchronous, so requests run on a small pool of worker
// threads. The loop thread marks each send with `loop.begin_external()` and
// parks the sending coroutine on a `Completion`; the worker posts the result
// back with `loop.post_external()`, where it is set and `end_external()` is
// called, so the coroutine resumes on the loop thread and `run_until_idle()`
// waits for requests in flight. Requests, responses and errors are traced with
// the same events as SimTransport ("http.request", "http.response",
// "http.error"), so a real run's trace reads like a simulated one.
//
// Errors map to `TransportError` kinds: refused connect → connection_refused
// (not applied); a connect timeout → timeout (not applied: nothing was sent);
// a read timeout → timeout (maybe applied); a connection closed or failed
// mid-exchange → connection_reset (maybe applied); anything else → other. A
// response cut short by destsim's own HTTP door carries the header
// `X-Destsim-Injected: reset|timeout|refused`, which is reported as that kind
// with `injected` set, so a fault plan means the same through both doors.
//
// Lifetime: destroy the transport before its loop. The destructor fails queued
// requests, aborts the ones in flight and joins the workers.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "framework/http.h"
#include "framework/loop.h"
#include "framework/sync.h"

namespace httplib {
class Client;
}

namespace destsim {

struct HttpTransportOptions {
  /// host → base URL, e.g. {"api.iterable.com", "http://127.0.0.1:8080"}; hosts
  /// not listed go to "https://" + host. The Host header stays the request's host.
  std::map<std::string, std::string> routes;
  Duration connect_timeout = std::chrono::seconds(5);
  /// Per read (and per write) on the socket.
  Duration read_timeout = std::chrono::seconds(30);
  /// Worker threads, i.e. requests that may be in flight at once (at least 1).
  int workers = 4;
};

class HttpTransport final : public Transport {
 public:
  HttpTransport(Loop& loop, HttpTransportOptions options);
  /// Fails queued requests, aborts those in flight, joins the workers.
  ~HttpTransport() override;
  HttpTransport(const HttpTransport&) = delete;
  HttpTransport& operator=(const HttpTransport&) = delete;

  /// Sends `request` on a worker thread; resumes on the loop thread.
  Task<HttpResult> send(Request request) override;

  /// The base URL requests for `host` go to.
  std::string base_url(const std::string& host) const;

 private:
  struct Job {
    Request request;
    std::string base_url;
    /// Set on the loop thread with the result (see complete() in the .cpp).
    Completion<HttpResult> completion;
  };
  struct Worker;

  void run_worker(Worker* worker);
  /// The worker's keep-alive client for `base`, or nullptr if cpp-httplib cannot use it.
  httplib::Client* client_for(Worker& worker, const std::string& base);

  Loop& loop_;
  HttpTransportOptions options_;
  std::uint64_t next_id_ = 0;  // loop thread only

  std::mutex mu_;               // determinism-ok: hands jobs to worker threads
  std::condition_variable cv_;  // determinism-ok: wakes idle workers
  std::deque<Job> queue_;       // guarded by mu_
  bool stopping_ = false;       // guarded by mu_
  std::vector<std::unique_ptr<Worker>> workers_;
};

}  // namespace destsim
