// libssh_file_transport.h — the real SFTP door out: a libssh client session.
//
// libssh's SFTP calls block, and a libssh session must not be used from two
// threads at once, so one worker thread owns the session and runs every
// operation in order. libssh 0.10's blocking SFTP calls wait for a reply
// without end, so a watchdog thread shuts the socket down when one call (one
// request and its reply) outlives `op_timeout` (`connect_timeout` for connect
// and login); the call then fails as a timeout. The loop thread marks each call with
// `loop.begin_external()` and parks the calling coroutine on a `Completion`;
// the worker posts the result back with `loop.post_external()` (the pattern of
// HttpTransport). It needs a real clock: on a virtual clock the loop refuses to
// wait for an external operation.
//
// Error mapping (FileError kinds):
//   - connection refused, a dropped session, SSH_FX_NO_CONNECTION/CONNECTION_LOST
//     → disconnected; an operation that lasted the whole timeout → timeout.
//     Either way the session is closed and the next call of connect() opens a
//     new one (a reply arriving after a timeout must not be read as the answer
//     to the next request);
//   - password/key refused, or a host key the policy does not trust → auth_failed;
//   - SSH_FX_NO_SUCH_FILE → no_such_file, SSH_FX_PERMISSION_DENIED →
//     permission_denied, status 14 (SSH_FX_NO_SPACE_ON_FILESYSTEM, which
//     destsim's server sends for a full quota) → no_space, anything else → failure
//     (OpenSSH's sftp-server reports a full disk as a plain SSH_FX_FAILURE, which
//     cannot be told apart from other failures).
//
// rename() replaces the target atomically with the `posix-rename@openssh.com`
// extension when the server offers it. libssh 0.10 has no call for it (and no
// generic extended request), so the request is written on the SFTP session's own
// channel and its status read back here — safe because the session is used by
// this one thread only and no other request is outstanding. A server without
// the extension gets SSH_FXP_RENAME, and when that fails because the target
// exists, remove-then-rename: not atomic (a reader may briefly find no file),
// but never a partial one.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "framework/file_transport.h"
#include "framework/loop.h"

namespace destsim {

/// The session's options, and the client's own.
struct LibsshOptions : FileSessionOptions {
  /// Bytes per SFTP write request.
  std::size_t write_chunk_bytes = 32 * 1024;
};

class LibsshFileTransport final : public FileTransport {
 public:
  LibsshFileTransport(Loop& loop, LibsshOptions options);
  /// Fails queued calls, aborts the one in flight (shuts the socket down) and
  /// joins the worker.
  ~LibsshFileTransport() override;
  LibsshFileTransport(const LibsshFileTransport&) = delete;
  LibsshFileTransport& operator=(const LibsshFileTransport&) = delete;

  Task<FileResult<bool>> connect() override;
  void disconnect() override;
  bool connected() const override { return connected_; }
  Task<FileResult<bool>> mkdir_p(std::string path) override;
  Task<FileResult<bool>> put(std::string path, std::string data) override;
  Task<FileResult<bool>> rename(std::string from, std::string to) override;
  Task<FileResult<bool>> remove(std::string path) override;
  Task<FileResult<std::vector<RemoteEntry>>> list(std::string path) override;
  Task<FileResult<std::string>> get(std::string path) override;

  /// Whether the current session's server offers posix-rename@openssh.com
  /// (known after connect()).
  bool atomic_rename() const { return atomic_rename_; }

  struct Session;  // the libssh state, worker thread only

 private:
  struct Job {
    std::function<void()> run;     // on the worker thread
    std::function<void()> cancel;  // when the transport shuts down first
  };
  template <class T>
  Task<FileResult<T>> submit(const char* op, std::string path, std::function<FileResult<T>()> fn);
  void enqueue(Job job);
  void run_worker();

  Loop& loop_;
  LibsshOptions options_;
  std::unique_ptr<Session> session_;  // used by the worker thread only
  bool connected_ = false;            // loop thread's view
  bool atomic_rename_ = false;        // loop thread's view

  std::mutex mu_;               // determinism-ok: hands calls to the worker
  std::condition_variable cv_;  // determinism-ok: wakes the worker
  std::deque<Job> queue_;       // guarded by mu_
  bool stopping_ = false;       // guarded by mu_
  struct Socket;                    // the session's socket, to abort a blocked call at shutdown
  std::unique_ptr<Socket> socket_;
  std::thread worker_;          // determinism-ok: libssh blocks
  std::thread watchdog_;        // determinism-ok: ends calls that outlive op_timeout
};

/// A DeliveryContext::open_files that opens LibsshFileTransport sessions on `loop`.
FileSessionOpener libssh_session_opener(Loop& loop);

}  // namespace destsim
