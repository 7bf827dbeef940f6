#include "framework/real/libssh_file_transport.h"

#include <fcntl.h>
#include <libssh/libssh.h>
#include <libssh/sftp.h>
#include <sys/socket.h>

#include <chrono>
#include <cstring>
#include <optional>

#include "framework/sync.h"
#include "framework/text.h"

namespace destsim {

namespace {

using Steady = std::chrono::steady_clock;  // determinism-ok: tells a timeout from a drop

constexpr int kNoSpaceStatus = 14;  // SSH_FX_NO_SPACE_ON_FILESYSTEM (SFTP v5+, sent by destsim's server)
constexpr const char* kPosixRename = "posix-rename@openssh.com";

FileError file_error(FileError::Kind kind, std::string message) { return FileError{kind, std::move(message)}; }

long whole_ms(Duration d) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
  return ms < 1 ? 1 : static_cast<long>(ms);
}

void put_u32(std::string& out, std::uint32_t v) {
  out.push_back(static_cast<char>((v >> 24) & 0xff));
  out.push_back(static_cast<char>((v >> 16) & 0xff));
  out.push_back(static_cast<char>((v >> 8) & 0xff));
  out.push_back(static_cast<char>(v & 0xff));
}

void put_string(std::string& out, std::string_view s) {
  put_u32(out, static_cast<std::uint32_t>(s.size()));
  out.append(s);
}

std::uint32_t get_u32(const unsigned char* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | std::uint32_t{p[3]};
}

}  // namespace

// The socket of the current session, shared with two other threads: the
// watchdog, which shuts it down when one libssh call outlives its limit
// (libssh 0.10's blocking SFTP calls wait for a reply without end, whatever
// SSH_OPTIONS_TIMEOUT says), and the thread that destroys the transport, which
// shuts it down to end a call in flight. The lock makes sure a socket is never
// shut down after libssh closed it (its number could belong to another socket).
struct LibsshFileTransport::Socket {
  std::mutex mu;                // determinism-ok: guards the fields below
  std::condition_variable cv;   // determinism-ok: wakes the watchdog
  int fd = -1;
  bool armed = false;
  bool stopping = false;
  Steady::time_point deadline{};

  void set(int f) {
    std::lock_guard<std::mutex> lock(mu);  // determinism-ok: real mode
    fd = f;
  }
  void shutdown() {
    std::lock_guard<std::mutex> lock(mu);  // determinism-ok: real mode
    if (fd >= 0) ::shutdown(fd, SHUT_RDWR);
  }
  /// The next libssh call must end within `limit`.
  void arm(Duration limit) {
    std::lock_guard<std::mutex> lock(mu);  // determinism-ok: real mode
    armed = true;
    deadline = Steady::now() + std::chrono::duration_cast<Steady::duration>(limit);
    cv.notify_one();
  }
  void disarm() {
    std::lock_guard<std::mutex> lock(mu);  // determinism-ok: real mode
    armed = false;
  }
  void stop() {
    std::lock_guard<std::mutex> lock(mu);  // determinism-ok: real mode
    stopping = true;
    cv.notify_one();
  }
  void watch() {
    std::unique_lock<std::mutex> lock(mu);  // determinism-ok: real mode
    while (!stopping) {
      if (!armed) {
        cv.wait(lock);
        continue;
      }
      cv.wait_until(lock, deadline);
      if (armed && !stopping && Steady::now() >= deadline) {
        if (fd >= 0) ::shutdown(fd, SHUT_RDWR);  // the blocked call fails; the session is closed
        armed = false;
      }
    }
  }
};

// ---------------------------------------------------------------- the session
// Everything below runs on the worker thread only.

struct LibsshFileTransport::Session {
  Session(const LibsshOptions& o, Socket& s) : opts(o), socket(s) {}
  ~Session() { close(); }

  const LibsshOptions& opts;
  Socket& socket;
  ssh_session ssh = nullptr;
  sftp_session sftp = nullptr;
  bool posix_rename = false;
  Steady::time_point started{};
  // The server's words for a status read by posix_rename_raw (ssh_get_error
  // only knows what libssh itself read).
  std::string raw_message;

  bool up() const { return ssh && sftp && ssh_is_connected(ssh); }

  void close() {
    socket.set(-1);  // before libssh closes it
    if (sftp) sftp_free(sftp);
    sftp = nullptr;
    if (ssh) {
      if (ssh_is_connected(ssh)) ssh_disconnect(ssh);
      ssh_free(ssh);
    }
    ssh = nullptr;
    posix_rename = false;
  }

  // Before each libssh call: times it, arms the watchdog, clears the last status.
  void begin() { begin_with(opts.op_timeout); }
  void begin_with(Duration limit) {
    started = Steady::now();  // timing one call
    socket.arm(limit);
    if (sftp) sftp->errnum = SSH_FX_OK;  // sftp_get_error() keeps the last status otherwise
  }

  bool lasted_timeout(Duration timeout) const {
    const auto elapsed = Steady::now() - started;  // timing one call
    return elapsed >= std::chrono::duration_cast<Steady::duration>(timeout) * 9 / 10;
  }

  std::string ssh_message() const { return ssh ? std::string(ssh_get_error(ssh)) : std::string("no session"); }

  // The error of a failed SFTP call. A status the server sent keeps the
  // session; anything else (a dropped connection, a reply that never came)
  // closes it. `release` frees the call's handles: gracefully when the session
  // lives on, and after the socket is shut down when it does not, so freeing
  // them cannot block on a server that stopped answering.
  FileError failed(const char* op, const std::string& path, const std::function<void()>& release = {}) {
    const std::string where = std::string("sftp ") + op + " " + path + ": ";
    const int status = sftp ? sftp_get_error(sftp) : SSH_FX_OK;
    std::string said = raw_message.empty() ? ssh_message() : raw_message;
    raw_message.clear();
    std::optional<FileError> kept;
    if (up()) {
      switch (status) {
        case SSH_FX_NO_SUCH_FILE:
        case SSH_FX_NO_SUCH_PATH:
          kept = file_error(FileError::Kind::no_such_file, where + "no such file (" + said + ")");
          break;
        case SSH_FX_PERMISSION_DENIED:
        case SSH_FX_WRITE_PROTECT:
          kept = file_error(FileError::Kind::permission_denied, where + "permission denied (" + said + ")");
          break;
        case kNoSpaceStatus: kept = file_error(FileError::Kind::no_space, where + "no space left (" + said + ")"); break;
        case SSH_FX_NO_CONNECTION:
        case SSH_FX_CONNECTION_LOST: break;  // the session is gone: below
        case SSH_FX_OK: break;               // no status: the call itself failed (timeout, protocol)
        default:
          kept = file_error(FileError::Kind::failure,
                            where + "failure, status " + std::to_string(status) + " (" + said + ")");
      }
    }
    if (kept) {
      if (release) release();
      return *kept;
    }
    const bool timed_out = lasted_timeout(opts.op_timeout);
    socket.shutdown();  // whatever is still in flight fails at once
    if (release) release();
    close();
    if (timed_out)
      return file_error(FileError::Kind::timeout, where + "no answer within " + format_duration(opts.op_timeout) +
                                                       " (" + said + "); session closed");
    return file_error(FileError::Kind::disconnected, where + "connection reset or lost (" + said + ")");
  }

  FileError not_connected(const char* op, const std::string& path) const {
    return file_error(FileError::Kind::disconnected, std::string("sftp ") + op + " " + path + ": not connected");
  }

  FileResult<bool> open_session() {
    if (up()) return true;
    close();
    begin_with(opts.connect_timeout);
    const std::string where = "sftp connect " + opts.user + "@" + opts.host + ":" + std::to_string(opts.port) + ": ";
    ssh = ssh_new();
    if (!ssh) return file_error(FileError::Kind::failure, where + "ssh_new failed");
    unsigned int port = static_cast<unsigned int>(opts.port);
    bool no = false;
    const long connect_ms = whole_ms(opts.connect_timeout);
    long secs = connect_ms / 1000, usecs = (connect_ms % 1000) * 1000;
    ssh_options_set(ssh, SSH_OPTIONS_HOST, opts.host.c_str());
    ssh_options_set(ssh, SSH_OPTIONS_PORT, &port);
    ssh_options_set(ssh, SSH_OPTIONS_USER, opts.user.c_str());
    ssh_options_set(ssh, SSH_OPTIONS_PROCESS_CONFIG, &no);  // ~/.ssh/config must not change what a run does
    int nodelay = 1;  // sftp_write waits for each chunk's status: Nagle would hold the next small packet
    ssh_options_set(ssh, SSH_OPTIONS_NODELAY, &nodelay);
    ssh_options_set(ssh, SSH_OPTIONS_TIMEOUT, &secs);
    ssh_options_set(ssh, SSH_OPTIONS_TIMEOUT_USEC, &usecs);
    if (!opts.known_hosts.empty()) ssh_options_set(ssh, SSH_OPTIONS_KNOWNHOSTS, opts.known_hosts.c_str());
    if (ssh_connect(ssh) != SSH_OK) {
      const bool timed_out = lasted_timeout(opts.connect_timeout);
      const std::string said = ssh_message();
      close();
      return file_error(timed_out ? FileError::Kind::timeout : FileError::Kind::disconnected,
                        where + (timed_out ? "connect timed out (" : "connection refused or dropped (") + said + ")");
    }
    socket.set(ssh_get_fd(ssh));

    if (opts.host_key != HostKeyPolicy::accept_any) {
      const ssh_known_hosts_e known = ssh_session_is_known_server(ssh);
      std::string refused;
      if (known == SSH_KNOWN_HOSTS_CHANGED || known == SSH_KNOWN_HOSTS_OTHER) {
        refused = "the server's host key changed (known_hosts has another key for this host)";
      } else if (known == SSH_KNOWN_HOSTS_UNKNOWN || known == SSH_KNOWN_HOSTS_NOT_FOUND) {
        if (opts.host_key == HostKeyPolicy::accept_new) {
          if (ssh_session_update_known_hosts(ssh) != SSH_OK) refused = "could not add the host key to known_hosts (" + ssh_message() + ")";
        } else {
          refused = "the server's host key is not in known_hosts (host_key_policy strict)";
        }
      } else if (known == SSH_KNOWN_HOSTS_ERROR) {
        refused = "host key check failed (" + ssh_message() + ")";
      }
      if (!refused.empty()) {
        close();
        return file_error(FileError::Kind::auth_failed, where + refused);
      }
    }

    int rc = SSH_AUTH_DENIED;
    if (!opts.password.empty()) {
      rc = ssh_userauth_password(ssh, nullptr, opts.password.c_str());
    } else if (!opts.private_key.empty()) {
      ssh_key key = nullptr;
      const bool text = opts.private_key.rfind("-----BEGIN", 0) == 0;
      const int imported = text ? ssh_pki_import_privkey_base64(opts.private_key.c_str(), nullptr, nullptr, nullptr, &key)
                                : ssh_pki_import_privkey_file(opts.private_key.c_str(), nullptr, nullptr, nullptr, &key);
      if (imported != SSH_OK || !key) {
        close();
        return file_error(FileError::Kind::auth_failed,
                          where + (text ? std::string("the private key could not be read")
                                        : "the private key file \"" + opts.private_key + "\" could not be read"));
      }
      rc = ssh_userauth_publickey(ssh, nullptr, key);
      ssh_key_free(key);
    } else {
      close();
      return file_error(FileError::Kind::auth_failed, where + "neither a password nor a private key is configured");
    }
    if (rc == SSH_AUTH_ERROR) {
      const std::string said = ssh_message();
      close();
      return file_error(FileError::Kind::disconnected, where + "connection lost during authentication (" + said + ")");
    }
    if (rc != SSH_AUTH_SUCCESS) {
      const std::string said = ssh_message();
      close();
      return file_error(FileError::Kind::auth_failed,
                        where + "login rejected by the server (" + (opts.password.empty() ? "key" : "password") +
                            (said.empty() ? "" : ": " + said) + ")");
    }
    // From here on one reply may take op_timeout.
    const long op_ms = whole_ms(opts.op_timeout);
    secs = op_ms / 1000;
    usecs = (op_ms % 1000) * 1000;
    ssh_options_set(ssh, SSH_OPTIONS_TIMEOUT, &secs);
    ssh_options_set(ssh, SSH_OPTIONS_TIMEOUT_USEC, &usecs);
    sftp = sftp_new(ssh);
    if (!sftp || sftp_init(sftp) != SSH_OK) {
      const std::string said = ssh_message();
      close();
      return file_error(FileError::Kind::disconnected, where + "could not start the SFTP subsystem (" + said + ")");
    }
    posix_rename = sftp_extension_supported(sftp, kPosixRename, "1") == 1;
    return true;
  }

  FileResult<bool> mkdir_p(const std::string& path) {
    if (!up()) return not_connected("mkdir", path);
    begin();
    if (sftp_attributes a = sftp_stat(sftp, path.c_str())) {
      const bool dir = a->type == SSH_FILEXFER_TYPE_DIRECTORY;
      sftp_attributes_free(a);
      if (dir) return true;
      return file_error(FileError::Kind::failure, "sftp mkdir " + path + ": exists and is not a directory");
    }
    std::string prefix;
    for (const std::string_view seg : split(path, '/')) {
      if (seg.empty()) continue;
      if (!prefix.empty() || path.starts_with('/')) prefix += '/';
      prefix += seg;
      begin();
      if (sftp_mkdir(sftp, prefix.c_str(), 0755) != SSH_OK) {
        FileError mk = failed("mkdir", prefix);
        if (!up()) return mk;
        // Exists already (v3 servers say "failure"), or a real refusal: stat tells.
        begin();
        sftp_attributes a = sftp_stat(sftp, prefix.c_str());
        const bool dir = a && a->type == SSH_FILEXFER_TYPE_DIRECTORY;
        if (a) sftp_attributes_free(a);
        if (!dir) return mk;
      }
    }
    return true;
  }

  FileResult<bool> put(const std::string& path, const std::string& data) {
    if (!up()) return not_connected("put", path);
    begin();
    sftp_file f = sftp_open(sftp, path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (!f) return failed("put", path);
    std::size_t off = 0;
    while (off < data.size()) {
      const std::size_t n = std::min(opts.write_chunk_bytes, data.size() - off);
      begin();
      const ssize_t w = sftp_write(f, data.data() + off, n);
      if (w <= 0) return failed("put", path, [f] { sftp_close(f); });
      off += static_cast<std::size_t>(w);
    }
    begin();
    if (sftp_close(f) != SSH_OK) return failed("put", path);  // sftp_close frees the handle either way
    return true;
  }

  // posix-rename@openssh.com, written on the SFTP channel (see the header).
  FileResult<bool> posix_rename_raw(const std::string& from, const std::string& to) {
    const std::uint32_t id = ++sftp->id_counter;
    std::string body;
    body.push_back(static_cast<char>(SSH_FXP_EXTENDED));
    put_u32(body, id);
    put_string(body, kPosixRename);
    put_string(body, from);
    put_string(body, to);
    std::string packet;
    put_u32(packet, static_cast<std::uint32_t>(body.size()));
    packet += body;
    const std::string what = from + " -> " + to;
    if (ssh_channel_write(sftp->channel, packet.data(), static_cast<std::uint32_t>(packet.size())) !=
        static_cast<int>(packet.size()))
      return failed("rename", what);
    auto read_exact = [&](unsigned char* dest, std::uint32_t n) {
      std::uint32_t got = 0;
      while (got < n) {
        const int r = ssh_channel_read_timeout(sftp->channel, dest + got, n - got, 0,
                                               static_cast<int>(whole_ms(opts.op_timeout)));
        if (r <= 0) return false;  // error, EOF or no answer in time
        got += static_cast<std::uint32_t>(r);
      }
      return true;
    };
    unsigned char head[4];
    if (!read_exact(head, 4)) return failed("rename", what);
    const std::uint32_t len = get_u32(head);
    if (len < 9 || len > 256 * 1024) {
      close();
      return file_error(FileError::Kind::disconnected, "sftp rename " + what + ": malformed reply (length " +
                                                           std::to_string(len) + "); session closed");
    }
    std::string reply(len, '\0');
    if (!read_exact(reinterpret_cast<unsigned char*>(reply.data()), len)) return failed("rename", what);
    const auto* p = reinterpret_cast<const unsigned char*>(reply.data());
    if (p[0] != SSH_FXP_STATUS || get_u32(p + 1) != id) {
      close();
      return file_error(FileError::Kind::disconnected,
                        "sftp rename " + what + ": unexpected reply type " + std::to_string(p[0]) + "; session closed");
    }
    const std::uint32_t code = get_u32(p + 5);
    std::string message;
    if (len >= 13) {
      const std::uint32_t mlen = get_u32(p + 9);
      if (13 + static_cast<std::uint64_t>(mlen) <= len) message.assign(reply, 13, mlen);
    }
    if (code == SSH_FX_OK) return true;
    sftp->errnum = static_cast<int>(code);
    raw_message = message.empty() ? "status " + std::to_string(code) : message;
    return failed("rename", what);
  }

  FileResult<bool> rename(const std::string& from, const std::string& to) {
    const std::string what = from + " -> " + to;
    if (!up()) return not_connected("rename", what);
    begin();
    if (posix_rename) return posix_rename_raw(from, to);
    if (sftp_rename(sftp, from.c_str(), to.c_str()) == SSH_OK) return true;
    FileError first = failed("rename", what);
    if (!up() || first.kind == FileError::Kind::no_such_file) return first;
    // SFTP v3 renames refuse an existing target: remove it, then rename.
    begin();
    sftp_attributes target = sftp_stat(sftp, to.c_str());
    if (!target) return first;
    sftp_attributes_free(target);
    begin();
    if (sftp_unlink(sftp, to.c_str()) != SSH_OK) return failed("rename (removing the old target)", to);
    begin();
    if (sftp_rename(sftp, from.c_str(), to.c_str()) != SSH_OK) return failed("rename", what);
    return true;
  }

  FileResult<bool> remove(const std::string& path) {
    if (!up()) return not_connected("remove", path);
    begin();
    if (sftp_unlink(sftp, path.c_str()) != SSH_OK) return failed("remove", path);
    return true;
  }

  FileResult<std::vector<RemoteEntry>> list(const std::string& path) {
    if (!up()) return not_connected("list", path);
    begin();
    sftp_dir dir = sftp_opendir(sftp, path.c_str());
    if (!dir) return failed("list", path);
    std::vector<RemoteEntry> out;
    while (true) {
      begin();
      sftp_attributes a = sftp_readdir(sftp, dir);
      if (!a) break;
      const std::string name = a->name ? a->name : "";
      if (name != "." && name != ".." && !name.empty())
        out.push_back(RemoteEntry{name, a->type == SSH_FILEXFER_TYPE_DIRECTORY, static_cast<std::int64_t>(a->size)});
      sftp_attributes_free(a);
    }
    if (!sftp_dir_eof(dir)) return failed("list", path, [dir] { sftp_closedir(dir); });
    sftp_closedir(dir);
    return out;
  }

  FileResult<std::string> get(const std::string& path) {
    if (!up()) return not_connected("get", path);
    begin();
    sftp_file f = sftp_open(sftp, path.c_str(), O_RDONLY, 0);
    if (!f) return failed("get", path);
    std::string out;
    std::string buf(64 * 1024, '\0');
    while (true) {
      begin();
      const ssize_t n = sftp_read(f, buf.data(), buf.size());
      if (n == 0) break;
      if (n < 0) return failed("get", path, [f] { sftp_close(f); });
      out.append(buf.data(), static_cast<std::size_t>(n));
    }
    sftp_close(f);
    return out;
  }
};

// ---------------------------------------------------------------- the door

LibsshFileTransport::LibsshFileTransport(Loop& loop, LibsshOptions options)
    : loop_(loop), options_(std::move(options)) {
  DS_ASSERT(!loop_.clock().is_virtual() && "the libssh client needs a real clock");
  DS_ASSERT(options_.write_chunk_bytes > 0);
  socket_ = std::make_unique<Socket>();
  session_ = std::make_unique<Session>(options_, *socket_);
  watchdog_ = std::thread([this] { socket_->watch(); });  // determinism-ok: call timeouts
  worker_ = std::thread([this] { run_worker(); });  // determinism-ok: libssh blocks
}

LibsshFileTransport::~LibsshFileTransport() {
  std::deque<Job> unsent;
  {
    std::lock_guard<std::mutex> lock(mu_);  // determinism-ok: shutdown
    stopping_ = true;
    unsent.swap(queue_);
  }
  // A call blocked on the network ends when its socket does.
  socket_->shutdown();
  cv_.notify_all();  // wakes the worker to exit
  for (auto& job : unsent) job.cancel();
  worker_.join();  // bounded: the socket was shut down
  session_.reset();
  socket_->stop();
  watchdog_.join();  // stopped above
}

void LibsshFileTransport::enqueue(Job job) {
  {
    std::lock_guard<std::mutex> lock(mu_);  // determinism-ok: hand a call to the worker
    DS_ASSERT(!stopping_);
    queue_.push_back(std::move(job));
  }
  cv_.notify_one();  // wakes the worker
}

void LibsshFileTransport::run_worker() {
  bool done = false;
  while (!done) {
    Job job;
    {
      std::unique_lock<std::mutex> lock(mu_);  // determinism-ok: waiting for calls
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) {
        done = true;  // stopping, and the destructor cancels anything queued later
        continue;
      }
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    job.run();
    socket_->disarm();  // an idle session has no deadline
  }
  session_->close();
}

template <class T>
Task<FileResult<T>> LibsshFileTransport::submit(const char* op, std::string path, std::function<FileResult<T>()> fn) {
  Completion<FileResult<T>> done(loop_);
  loop_.begin_external();
  Loop* loop = &loop_;
  auto deliver = [loop](Completion<FileResult<T>> c, FileResult<T> r) {
    std::function<void()> post = [loop, c = std::move(c), r = std::move(r)]() mutable {
      c.set(std::move(r));
      loop->end_external();
    };
    loop->post_external(std::move(post));
  };
  Job job;
  job.run = [deliver, c = done, fn = std::move(fn)]() mutable { deliver(std::move(c), fn()); };
  job.cancel = [deliver, c = done, what = std::string("sftp ") + op + " " + path]() mutable {
    deliver(std::move(c), FileResult<T>(file_error(FileError::Kind::disconnected, what + ": transport shut down")));
  };
  enqueue(std::move(job));
  FileResult<T> r = co_await done.wait();
  if (!r.ok() && (r.error().kind == FileError::Kind::disconnected || r.error().kind == FileError::Kind::timeout ||
                  r.error().kind == FileError::Kind::auth_failed))
    connected_ = false;
  loop_.trace()
      .event(loop_.now(), "sftp.op")
      .str("op", op)
      .str("path", path)
      .str("result", r.ok() ? "ok" : file_error_kind_name(r.error().kind));
  co_return r;
}

Task<FileResult<bool>> LibsshFileTransport::connect() {
  Session* s = session_.get();
  FileResult<bool> r = co_await submit<bool>("connect", options_.host, [s]() -> FileResult<bool> {
    return s->open_session();
  });
  if (r.ok()) {
    connected_ = true;
    // Read on the loop thread after the worker finished the call (the post
    // orders the accesses).
    atomic_rename_ = session_->posix_rename;
  }
  co_return r;
}

void LibsshFileTransport::disconnect() {
  connected_ = false;
  Session* s = session_.get();
  Loop* loop = &loop_;
  loop_.begin_external();
  Job job;
  job.run = [s, loop] {
    s->close();
    loop->post_external([loop] { loop->end_external(); });
  };
  job.cancel = [loop] { loop->post_external([loop] { loop->end_external(); }); };
  enqueue(std::move(job));
}

Task<FileResult<bool>> LibsshFileTransport::mkdir_p(std::string path) {
  Session* s = session_.get();
  co_return co_await submit<bool>("mkdir", path, [s, path]() { return s->mkdir_p(path); });
}

Task<FileResult<bool>> LibsshFileTransport::put(std::string path, std::string data) {
  Session* s = session_.get();
  auto shared = std::make_shared<std::string>(std::move(data));
  co_return co_await submit<bool>("put", path, [s, path, shared]() { return s->put(path, *shared); });
}

Task<FileResult<bool>> LibsshFileTransport::rename(std::string from, std::string to) {
  Session* s = session_.get();
  co_return co_await submit<bool>("rename", from + " -> " + to, [s, from, to]() { return s->rename(from, to); });
}

Task<FileResult<bool>> LibsshFileTransport::remove(std::string path) {
  Session* s = session_.get();
  co_return co_await submit<bool>("remove", path, [s, path]() { return s->remove(path); });
}

Task<FileResult<std::vector<RemoteEntry>>> LibsshFileTransport::list(std::string path) {
  Session* s = session_.get();
  co_return co_await submit<std::vector<RemoteEntry>>("list", path, [s, path]() { return s->list(path); });
}

Task<FileResult<std::string>> LibsshFileTransport::get(std::string path) {
  Session* s = session_.get();
  co_return co_await submit<std::string>("get", path, [s, path]() { return s->get(path); });
}

FileSessionOpener libssh_session_opener(Loop& loop) {
  return [&loop](FileSessionOptions options) -> std::unique_ptr<FileTransport> {
    LibsshOptions o;
    static_cast<FileSessionOptions&>(o) = std::move(options);
    return std::make_unique<LibsshFileTransport>(loop, std::move(o));
  };
}

}  // namespace destsim
