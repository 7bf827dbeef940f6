#include "fakes/doors/sftp_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <libssh/libssh.h>
#include <libssh/server.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <fstream>
#include <list>
#include <map>
#include <mutex>
#include <sstream>
#include <system_error>
#include <thread>

#include "fakes/doors/sftp_wire.h"

// The message-based server API (ssh_message_auth_password, …) is marked
// deprecated in favour of callbacks; it keeps each session a plain loop (login,
// then the channel's bytes through SessionLoop, which parses SFTP itself).
#pragma clang diagnostic ignored "-Wdeprecated-declarations"
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

namespace destsim {

namespace {

using namespace sftp_wire;

constexpr std::uint32_t kNoSpaceOnFilesystem = 14;  // SSH_FX_NO_SPACE_ON_FILESYSTEM (filexfer v5+, OpenSSH-compatible)
constexpr int kReaddirBatch = 64;
// A READ answers at most this much (a client must take short reads; OpenSSH asks for 32 KiB).
constexpr std::uint32_t kReadBytesMax = 64 * 1024;
// Open handles per session: a client that never closes runs out, not the server.
constexpr std::size_t kHandlesMax = 256;
// Failed logins from an address are forgotten after this long without another.
constexpr auto kAuthFailureMemory = std::chrono::minutes(10);
constexpr std::size_t kAuthFailureAddressesMax = 4096;

std::uint32_t status_of(const FileError& e) {
  switch (e.kind) {
    case FileError::Kind::no_such_file: return kNoSuchFile;
    case FileError::Kind::permission_denied: return kPermissionDenied;
    case FileError::Kind::no_space: return kNoSpaceOnFilesystem;
    case FileError::Kind::invalid_path: return kNoSuchFile;
    default: return kFailure;
  }
}

// The status an injected `respond` rule answers: an SFTP code as is, an HTTP-style code mapped.
std::uint32_t injected_status(int status) {
  if (status >= 1 && status <= 31) return static_cast<std::uint32_t>(status);
  FileError e;
  e.kind = sftp_status_kind(status);
  return status_of(e);
}

std::string long_name(const std::string& name, const RemoteStat& st, const std::string& owner) {
  char perms[11] = "----------";
  perms[0] = st.directory ? 'd' : '-';
  const char* rwx = "rwxrwxrwx";
  for (int i = 0; i < 9; ++i)
    if (st.permissions & (1u << (8 - i))) perms[1 + i] = rwx[i];
  const CivilTime c = civil_from_unix_ms(st.mtime_s * 1000);
  static const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  char when[32];
  std::snprintf(when, sizeof(when), "%s %2d %02d:%02d", kMonths[(c.month + 11) % 12], c.day, c.hour, c.minute);
  char line[512];
  std::snprintf(line, sizeof(line), "%s    1 %-8s %-8s %12lld %s %s", perms, owner.c_str(), owner.c_str(),
                static_cast<long long>(st.size), when, name.c_str());
  return line;
}

SftpAttrs attrs_of(const RemoteStat& st) {
  SftpAttrs a;
  a.flags = kAttrSize | kAttrPermissions | kAttrAcModTime;
  a.size = static_cast<std::uint64_t>(st.size);
  a.permissions = st.permissions;
  a.atime = a.mtime = static_cast<std::uint32_t>(st.mtime_s);
  return a;
}

// A name for a message: control bytes shown as \xNN.
std::string printable(std::string_view name) {
  std::string out;
  for (char c : name) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      char hex[8];
      std::snprintf(hex, sizeof(hex), "\\x%02x", u);
      out += hex;
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

// ---------------------------------------------------------------- state

struct SftpServer::Impl {
  SftpServerOptions o;
  std::unique_ptr<RemoteFs> fs;
  std::vector<std::string> authorized;
  ssh_bind bind = nullptr;

  // Shared by the session threads: the model, the ledger, the plan and its Rng.
  // Recursive: a reply helper may count into the ledger while an operation holds the lock.
  std::recursive_mutex mu;  // the real server's sessions run on threads
  SftpLedger ledger;
  Rng rng{1};
  std::chrono::steady_clock::time_point started;  // determinism-ok: fault windows in real time

  // The tree on disk as the host sees it (realpath of root; empty in memory): SETSTAT changes it there.
  std::string disk_root;
  bool prepared = false;

  // Sessions and stopping.
  using Clock = std::chrono::steady_clock;  // determinism-ok: real mode (login deadlines, failure memory)
  struct Session {
    std::thread thread;  // determinism-ok: one thread per real session
    int fd = -1;         // guarded by sessions_mu; -1 once the session closed its socket
    bool done = false;   // guarded by sessions_mu
    bool authed = false;           // guarded by sessions_mu; counts toward max_sessions
    bool login_timed_out = false;  // guarded by sessions_mu
    Clock::time_point login_deadline;
    std::string peer;  // the client's address, for the failed-login delay
  };
  std::mutex sessions_mu;  // determinism-ok: guards the session list
  std::condition_variable stop_cv;  // determinism-ok: wakes interruptible delays on stop()
  std::list<std::unique_ptr<Session>> sessions;
  std::int64_t finished = 0;
  int authed_sessions = 0;  // guarded by sessions_mu
  bool stopping = false;  // guarded by sessions_mu
  std::thread acceptor;   // determinism-ok: the accept loop

  // Failed logins per client address (guarded by sessions_mu): reconnecting does not reset the delay.
  struct AuthFailures {
    int count = 0;
    Clock::time_point last;
  };
  std::map<std::string, AuthFailures> auth_failures;

  bool stop_requested() {
    std::lock_guard<std::mutex> lock(sessions_mu);  // determinism-ok: real mode
    return stopping;
  }

  // A real delay that ends early when the server stops.
  void delay(Duration d) {
    if (d.count() <= 0) return;
    std::unique_lock<std::mutex> lock(sessions_mu);  // determinism-ok: real mode
    stop_cv.wait_for(lock, d, [&] { return stopping; });  // real latency, interruptible
  }

  // Records one failed attempt from `peer` and returns how long to wait before answering it.
  Duration auth_failure_delay(const std::string& peer) {
    std::lock_guard<std::mutex> lock(sessions_mu);  // determinism-ok: real mode
    const auto now = Clock::now();  // determinism-ok: real mode (failure memory)
    if (auth_failures.size() >= kAuthFailureAddressesMax) {
      // Many addresses failing: forget the stale ones; if none is stale, start over rather than grow.
      std::erase_if(auth_failures, [&](const auto& kv) { return now - kv.second.last > kAuthFailureMemory; });
      // None stale: forget the one that failed longest ago (clearing all
      // would let a client wipe its own delay from many addresses).
      while (auth_failures.size() >= kAuthFailureAddressesMax) {
        auto oldest = auth_failures.begin();
        for (auto it = auth_failures.begin(); it != auth_failures.end(); ++it)
          if (it->second.last < oldest->second.last) oldest = it;
        auth_failures.erase(oldest);
      }
    }
    AuthFailures& f = auth_failures[peer];
    if (f.count > 0 && now - f.last > kAuthFailureMemory) f.count = 0;
    ++f.count;
    f.last = now;
    Duration d = o.auth_failure_delay;
    for (int i = 1; i < f.count && d < o.auth_failure_delay_max; ++i) d *= 2;
    return std::min(d, o.auth_failure_delay_max);
  }

  SftpFault decide(std::string_view op, std::string_view path, std::size_t bytes) {
    std::lock_guard<std::recursive_mutex> lock(mu);
    if (!o.faults) return {};
    const auto since = std::chrono::duration_cast<Duration>(std::chrono::steady_clock::now() - started);  // determinism-ok: real mode
    SftpFault f = decide_sftp_fault(*o.faults, op, path, bytes, since, rng);
    if (f.rule >= 0) ledger.count(std::string("fault.") + fault_kind_name(o.faults->rules()[f.rule].kind));
    return f;
  }

  // A too_large rule that a WRITE ending at `end` breaks (checked per WRITE, not counted).
  const FaultRule* too_large_rule(const std::string& path, std::int64_t end) {
    std::lock_guard<std::recursive_mutex> lock(mu);
    if (!o.faults) return nullptr;
    const auto since = std::chrono::duration_cast<Duration>(std::chrono::steady_clock::now() - started);  // determinism-ok: real mode
    for (const auto& r : o.faults->rules())
      if (r.kind == FaultKind::too_large && r.matches("put", "sftp", path, static_cast<std::size_t>(end), since))
        return &r;
    return nullptr;
  }

  void accept_loop();
  void close_late_logins();
  void run_session(Session* me, ssh_session s);
  void serve_session(Session* me, ssh_session s);
  void end_session(Session* me, ssh_session s);
};

// ---------------------------------------------------------------- one session

namespace {

struct Handle {
  bool dir = false;
  std::string path;  // normalised
  bool write = false;
  bool failed = false;
  bool reset_mid_upload = false;  // reset "after" on put: cut the first WRITE in half, then close
  bool garble = false;
  Duration write_latency{0};
  std::vector<RemoteEntry> entries;
  std::size_t next = 0;
};

// One SFTP session over the fake's tree: client bytes in, answers out. Knows no
// socket: the real session loop and SftpPacketSession both feed it.
class SessionLoop {
 public:
  explicit SessionLoop(SftpServer::Impl& server) : s_{&server} {}

  enum class Next { go_on, close };

  // Answers held at once: past this, feed() stops taking packets (they wait
  // in the framer) until the caller has written what it has. 2,259 READs of
  // 29 bytes each used to build 148 MB of answers from one 64 KiB read.
  static constexpr std::size_t kPendingOutMax = 1 << 20;

  // Takes client bytes; appends the answers to `out`, at most about
  // kPendingOutMax of them; call again with no bytes while it answers (the
  // rest of what was fed is still waiting). `close` ends the session without
  // a word more.
  Next feed(std::string_view bytes, std::string& out) {
    framer_.feed(bytes);
    Next next = Next::go_on;
    std::uint8_t type = 0;
    std::string body;
    while (next == Next::go_on && w_.bytes().size() < kPendingOutMax) {
      const auto take = framer_.next(type, body);
      if (take == SftpFramer::Take::need_more) break;
      if (take != SftpFramer::Take::packet) {  // a length over the bound, or no type byte: the stream is lost
        s_.ledger_count("error.bad_packet");
        next = Next::close;
        break;
      }
      if (hung_) continue;  // a server that stopped answering reads and drops everything
      next = packet(type, body);
    }
    out += w_.bytes();
    w_.bytes().clear();
    return next;
  }

 private:
  Next packet(std::uint8_t type, const std::string& body) {
    SftpRequest q;
    SftpDecodeError e;
    const bool ok = decode_sftp_request(type, body, q, e);
    if (!initialised_) {
      // The first packet must be INIT; anything else is not an SFTP client.
      if (type != kInit || !ok) return Next::close;
      initialised_ = true;
      w_.version(3, {{"posix-rename@openssh.com", "1"}});
      return Next::go_on;
    }
    if (type == kInit) return Next::close;  // a second INIT: the client lost track
    if (!ok) {
      s_.ledger_count("error.bad_message");
      if (!e.id) return Next::close;  // no id to answer
      w_.status(*e.id, kBadMessage, e.message);
      return Next::go_on;
    }
    return handle(q);
  }

  static const char* op_name(std::uint8_t type) {
    switch (type) {
      case kOpen: return "open";
      case kLstat: return "lstat";
      case kStat: return "stat";
      case kSetstat: return "setstat";
      case kOpendir: return "opendir";
      case kRemove: return "remove";
      case kMkdir: return "mkdir";
      case kRmdir: return "rmdir";
      case kRealpath: return "realpath";
      case kRename: return "rename";
      case kReadlink: return "readlink";
      case kSymlink: return "symlink";
      default: return "request";
    }
  }

  // Names with NUL or control bytes are refused whole: a NUL would cut the name
  // short on disk, and a control byte is never what a connector meant to write.
  bool bad_name(const SftpRequest& q) {
    for (const std::string* name : {&q.path, &q.path2}) {
      const std::size_t at = control_char_at(*name);
      if (at == std::string::npos) continue;
      char what[96];
      std::snprintf(what, sizeof(what), "byte %zu is 0x%02x; names with 0x00-0x1F or 0x7F are refused", at,
                    static_cast<unsigned>(static_cast<unsigned char>((*name)[at])));
      s_.ledger_count("error.invalid_name");
      w_.status(q.id, kFailure, std::string(op_name(q.type)) + " \"" + printable(*name) + "\": " + what);
      return true;
    }
    return false;
  }

  Next handle(const SftpRequest& q) {
    if (bad_name(q)) return Next::go_on;
    switch (q.type) {
      case kOpen: return open(q);
      case kClose: return close(q);
      case kRead: return read(q);
      case kWrite: return write(q);
      case kLstat:
      case kStat: return stat(q, q.path);
      case kSetstat: return setstat(q, q.path);
      case kFstat:
      case kFsetstat: {
        Handle* h = handle_of(q);
        if (!h) return bad_handle(q);
        return q.type == kFsetstat ? setstat(q, h->path) : stat(q, h->path);
      }
      case kOpendir: return opendir(q);
      case kReaddir: return readdir(q);
      case kRemove: return simple(q, "remove");
      case kMkdir: return simple(q, "mkdir");
      case kRmdir: return simple(q, "rmdir");
      case kRealpath: return realpath(q);
      case kRename: return rename(q, false);
      case kExtended:
        if (q.extension == "posix-rename@openssh.com") return rename(q, true);
        s_.ledger_count("unsupported");
        w_.status(q.id, kOpUnsupported, "extension not supported: " + printable(q.extension));
        return Next::go_on;
      default:
        s_.ledger_count("unsupported");
        w_.status(q.id, kOpUnsupported, "operation not supported by destsim's SFTP fake (no links)");
        return Next::go_on;
    }
  }

  // --- helpers

  Handle* handle_of(const SftpRequest& q) {
    auto it = handles_.find(q.handle);
    return it == handles_.end() ? nullptr : it->second.get();
  }
  Next bad_handle(const SftpRequest& q) {
    w_.status(q.id, kFailure, "invalid handle");
    return Next::go_on;
  }

  Next reply_error(const SftpRequest& q, const FileError& e) {
    s_.ledger_count(std::string("error.") + file_error_kind_name(e.kind));
    w_.status(q.id, status_of(e), e.message);
    return Next::go_on;
  }

  // The fault plan's say before an operation: go on, or it answered / closed / hung.
  enum class Gate { proceed, done };
  Gate before(const SftpRequest& q, const SftpFault& f, std::string_view op, const std::string& path, Next& next) {
    s_.impl_delay(f.latency);
    next = Next::go_on;
    switch (f.action) {
      case SftpFault::Action::none:
      case SftpFault::Action::garble:
        return Gate::proceed;
      case SftpFault::Action::fail:
        w_.status(q.id, injected_status(f.status), std::string(op) + " " + path + ": injected (" + f.rule_text + ")");
        return Gate::done;
      case SftpFault::Action::disconnect:
        if (f.after) return Gate::proceed;
        next = Next::close;
        return Gate::done;
      case SftpFault::Action::refuse:
        next = Next::close;
        return Gate::done;
      case SftpFault::Action::timeout:
        if (f.after) return Gate::proceed;
        hung_ = true;
        return Gate::done;
      case SftpFault::Action::too_large:
      case SftpFault::Action::unsupported:
        w_.status(q.id, kFailure,
                  std::string(op) + " " + path + ": the fault " + f.rule_text + " has no meaning for this SFTP operation");
        return Gate::done;
    }
    return Gate::proceed;
  }

  // After an operation applied: a lost answer (close / hang), or none.
  bool lost_answer(const SftpFault& f, Next& next) {
    if (f.action == SftpFault::Action::disconnect && f.after) {
      next = Next::close;
      return true;
    }
    if (f.action == SftpFault::Action::timeout && f.after) {
      hung_ = true;
      return true;
    }
    return false;
  }

  // --- operations

  Next open(const SftpRequest& q) {
    const std::uint32_t flags = q.pflags;
    const bool write = flags & (kOpenWrite | kOpenAppend | kOpenCreate | kOpenTruncate);
    const std::string& raw = q.path;
    const char* op = write ? "put" : "get";
    s_.ledger_count(op);
    SftpFault f = s_.impl_->decide(op, raw, 0);
    Next next;
    if (before(q, f, op, raw, next) == Gate::done) return next;
    auto h = std::make_unique<Handle>();
    {
      std::lock_guard<std::recursive_mutex> lock(s_.impl_->mu);
      RemoteFs& fs = *s_.impl_->fs;
      auto p = RemoteFs::normalize(raw, op);
      if (!p.ok()) return reply_error(q, p.error());
      h->path = *p;
      if (write) {
        FileResult<bool> r = true;
        if (flags & kOpenCreate) {
          r = fs.open_write(raw, flags & kOpenTruncate, flags & kOpenExclusive);
        } else {
          auto st = fs.stat(raw);
          if (!st.ok()) r = st.error();
          else if (flags & kOpenTruncate) r = fs.open_write(raw, true, false);
        }
        if (!r.ok()) return reply_error(q, r.error());
        s_.impl_->ledger.incomplete(h->path);
        h->write = true;
      } else {
        auto st = fs.stat(raw);
        if (!st.ok()) return reply_error(q, st.error());
        if (st->directory) return reply_error(q, FileError{FileError::Kind::failure, "get " + h->path + ": is a directory"});
        // A read open must pass the "get" deny rules too.
        auto probe = fs.read(raw, 0, 0);
        if (!probe.ok()) return reply_error(q, probe.error());
      }
    }
    h->write_latency = f.latency;
    h->garble = f.action == SftpFault::Action::garble;
    if (write && f.action == SftpFault::Action::disconnect && f.after) {
      h->reset_mid_upload = true;
    } else if (lost_answer(f, next)) {
      return next;
    }
    return reply_handle(q, std::move(h));
  }

  // Registers an open handle and answers with it (or FAILURE past kHandlesMax).
  Next reply_handle(const SftpRequest& q, std::unique_ptr<Handle> h) {
    if (handles_.size() >= kHandlesMax) {
      w_.status(q.id, kFailure, "too many open handles (at most " + std::to_string(kHandlesMax) + " per session)");
      return Next::go_on;
    }
    // Handles are never reused within a session: a stale handle finds nothing.
    const std::uint32_t n = next_handle_++;
    std::string key;
    for (int i = 0; i < 4; ++i) key.push_back(static_cast<char>((n >> (24 - 8 * i)) & 0xff));
    handles_[key] = std::move(h);
    w_.handle(q.id, key);
    return Next::go_on;
  }

  void drop_handle(const SftpRequest& q) { handles_.erase(q.handle); }
  static constexpr std::size_t kListedEntriesMax = 100'000;  // directory entries held open per session

  Next close(const SftpRequest& q) {
    Handle* h = handle_of(q);
    if (!h) return bad_handle(q);
    if (h->write && !h->failed) {
      if (h->reset_mid_upload) {  // an empty upload: the connection drops at its close
        drop_handle(q);
        return Next::close;
      }
      std::lock_guard<std::recursive_mutex> lock(s_.impl_->mu);
      auto st = s_.impl_->fs->stat(h->path);
      if (st.ok()) s_.impl_->ledger.committed(h->path, st->size, "put");
    }
    drop_handle(q);
    w_.status(q.id, kOk, "");
    return Next::go_on;
  }

  Next write(const SftpRequest& q) {
    Handle* h = handle_of(q);
    if (!h || !h->write) return bad_handle(q);
    s_.impl_delay(h->write_latency);
    std::string data = q.data;
    // An offset past INT64_MAX is no file position: refused before any arithmetic on it.
    if (q.offset > static_cast<std::uint64_t>(INT64_MAX) - data.size()) {
      w_.status(q.id, kFailure, "put " + h->path + ": offset " + std::to_string(q.offset) + " is out of range");
      return Next::go_on;
    }
    const auto offset = static_cast<std::int64_t>(q.offset);
    if (const FaultRule* r = s_.impl_->too_large_rule(h->path, offset + static_cast<std::int64_t>(data.size()))) {
      h->failed = true;
      s_.ledger_count("fault.too_large");
      w_.status(q.id, kFailure, "put " + h->path + ": file too large (injected, " + r->describe() + ")");
      return Next::go_on;
    }
    if (h->reset_mid_upload) {
      // Disconnect mid-upload: half of this chunk reaches the file, then the session dies.
      std::lock_guard<std::recursive_mutex> lock(s_.impl_->mu);
      (void)s_.impl_->fs->write(h->path, offset, std::string_view(data).substr(0, data.size() / 2));
      h->failed = true;
      return Next::close;
    }
    std::lock_guard<std::recursive_mutex> lock(s_.impl_->mu);
    if (h->garble && !data.empty()) data[s_.impl_->rng.below(data.size())] ^= 0x5a;
    auto r = s_.impl_->fs->write(h->path, offset, data);
    if (!r.ok()) {
      h->failed = true;
      s_.impl_->ledger.count(std::string("error.") + file_error_kind_name(r.error().kind));
      w_.status(q.id, status_of(r.error()), r.error().message);
      return Next::go_on;
    }
    w_.status(q.id, kOk, "");
    return Next::go_on;
  }

  Next read(const SftpRequest& q) {
    Handle* h = handle_of(q);
    if (!h || h->write || h->dir) return bad_handle(q);
    if (q.offset > static_cast<std::uint64_t>(INT64_MAX)) {
      w_.status(q.id, kEof, "");
      return Next::go_on;
    }
    FileResult<std::string> r = std::string();
    {
      std::lock_guard<std::recursive_mutex> lock(s_.impl_->mu);
      r = s_.impl_->fs->read(h->path, static_cast<std::int64_t>(q.offset), std::min(q.length, kReadBytesMax));
      if (r.ok() && h->garble && !r->empty()) (*r)[s_.impl_->rng.below(r->size())] ^= 0x5a;
    }
    if (!r.ok()) return reply_error(q, r.error());
    if (r->empty()) {
      w_.status(q.id, kEof, "");
      return Next::go_on;
    }
    w_.data(q.id, *r);
    return Next::go_on;
  }

  Next stat(const SftpRequest& q, const std::string& path) {
    SftpFault f = s_.impl_->decide("stat", path, 0);
    Next next;
    if (before(q, f, "stat", path, next) == Gate::done) return next;
    FileResult<RemoteStat> st = RemoteStat{};
    {
      std::lock_guard<std::recursive_mutex> lock(s_.impl_->mu);
      st = s_.impl_->fs->stat(path);
    }
    if (lost_answer(f, next)) return next;
    if (!st.ok()) return reply_error(q, st.error());
    w_.attrs(q.id, attrs_of(*st));
    return Next::go_on;
  }

  // SETSTAT/FSETSTAT: permission bits and times are applied to the file on disk
  // (a later STAT reports them); what the fake cannot keep is refused whole
  // with OP_UNSUPPORTED and nothing changes, never a success that did nothing.
  Next setstat(const SftpRequest& q, const std::string& path) {
    SftpFault f = s_.impl_->decide("stat", path, 0);
    Next next;
    if (before(q, f, "setstat", path, next) == Gate::done) return next;
    const SftpAttrs& a = q.attrs;
    FileResult<RemoteStat> st = RemoteStat{};
    FileResult<std::string> norm = std::string();
    {
      std::lock_guard<std::recursive_mutex> lock(s_.impl_->mu);
      st = s_.impl_->fs->stat(path);  // the jail and the "stat" deny rules
      // Changing a file is writing it: the "put" deny rules hold too (a
      // read-only tree stays read-only).
      if (st.ok()) norm = s_.impl_->fs->allowed(path, "put");
    }
    if (lost_answer(f, next)) return next;
    if (!st.ok()) return reply_error(q, st.error());
    if (!norm.ok()) return reply_error(q, norm.error());
    if (*norm == "/") {
      // chmod 0 on the root would lock every session out of the tree.
      s_.ledger_count("unsupported");
      w_.status(q.id, kOpUnsupported, "setstat /: the root's attributes cannot be changed");
      return Next::go_on;
    }
    std::string unsupported;
    if (a.flags & kAttrUidGid) unsupported = "the owner (uid/gid)";
    else if (a.flags & kAttrExtended) unsupported = "extended attributes";
    else if ((a.flags & kAttrPermissions) && (a.permissions & 07000)) unsupported = "setuid/setgid/sticky bits";
    else if ((a.flags & kAttrSize) && a.size != static_cast<std::uint64_t>(st->size)) unsupported = "the size (truncate)";
    else if ((a.flags & (kAttrPermissions | kAttrAcModTime)) && s_.impl_->o.in_memory)
      unsupported = "permissions or times (the in-memory tree keeps none)";
    if (!unsupported.empty()) {
      s_.ledger_count("unsupported");
      w_.status(q.id, kOpUnsupported,
                "setstat " + *norm + ": changing " + unsupported + " is not supported by destsim's SFTP fake; nothing was changed");
      return Next::go_on;
    }
    if (a.flags & (kAttrPermissions | kAttrAcModTime)) {
      std::lock_guard<std::recursive_mutex> lock(s_.impl_->mu);
      const std::string& root = s_.impl_->disk_root;
      const std::string host = *norm == "/" ? root : root == "/" ? *norm : root + *norm;
      struct stat lst;
      if (::lstat(host.c_str(), &lst) != 0 || S_ISLNK(lst.st_mode)) {
        // A link's own mode means nothing and changing its target could leave the jail.
        s_.ledger_count("unsupported");
        w_.status(q.id, kOpUnsupported, "setstat " + *norm + ": a symbolic link's attributes cannot be changed");
        return Next::go_on;
      }
      if ((a.flags & kAttrPermissions) && ::chmod(host.c_str(), a.permissions & 0777) != 0)
        return reply_error(q, FileError{FileError::Kind::failure, "setstat " + *norm + ": chmod failed: " + std::strerror(errno)});
      if (a.flags & kAttrAcModTime) {
        timespec times[2] = {{static_cast<time_t>(a.atime), 0}, {static_cast<time_t>(a.mtime), 0}};
        if (::utimensat(AT_FDCWD, host.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0)
          return reply_error(q, FileError{FileError::Kind::failure, "setstat " + *norm + ": setting times failed: " + std::strerror(errno)});
      }
    }
    s_.ledger_count("setstat");
    w_.status(q.id, kOk, "");
    return Next::go_on;
  }

  Next opendir(const SftpRequest& q) {
    const std::string& raw = q.path;
    s_.ledger_count("list");
    SftpFault f = s_.impl_->decide("list", raw, 0);
    Next next;
    if (before(q, f, "list", raw, next) == Gate::done) return next;
    auto h = std::make_unique<Handle>();
    h->dir = true;
    {
      std::lock_guard<std::recursive_mutex> lock(s_.impl_->mu);
      auto entries = s_.impl_->fs->list(raw);
      if (!entries.ok()) return reply_error(q, entries.error());
      // A listing is held in memory until its handle closes: bound what one
      // session holds (256 handles on a directory of 30,000 empty files
      // held 850 MB).
      std::size_t held = entries->size();
      for (const auto& [_, other] : handles_) held += other->entries.size();
      if (held > kListedEntriesMax) {
        s_.ledger_count("refused.listing");
        w_.status(q.id, kFailure,
                  "opendir " + raw + ": the directory listings this session holds open would pass " +
                      std::to_string(kListedEntriesMax) + " entries; close some directory handles first");
        return Next::go_on;
      }
      h->entries = std::move(entries).value();
      h->path = *RemoteFs::normalize(raw);
    }
    if (lost_answer(f, next)) return next;
    return reply_handle(q, std::move(h));
  }

  Next readdir(const SftpRequest& q) {
    Handle* h = handle_of(q);
    if (!h || !h->dir) return bad_handle(q);
    if (h->next >= h->entries.size()) {
      w_.status(q.id, kEof, "");
      return Next::go_on;
    }
    std::vector<SftpReplyWriter::Name> names;
    for (int n = 0; h->next < h->entries.size() && n < kReaddirBatch; ++h->next, ++n) {
      const RemoteEntry& e = h->entries[h->next];
      RemoteStat st;
      {
        std::lock_guard<std::recursive_mutex> lock(s_.impl_->mu);
        auto full = s_.impl_->fs->stat(h->path == "/" ? "/" + e.name : h->path + "/" + e.name);
        if (full.ok()) st = *full;
        else st = RemoteStat{e.directory, e.size, e.directory ? 040755u : 0100644u, 0};
      }
      names.push_back({e.name, long_name(e.name, st, s_.impl_->o.user), attrs_of(st)});
    }
    w_.names(q.id, names);
    return Next::go_on;
  }

  Next simple(const SftpRequest& q, const char* op) {
    const std::string& path = q.path;
    s_.ledger_count(op);
    SftpFault f = s_.impl_->decide(op, path, 0);
    Next next;
    if (before(q, f, op, path, next) == Gate::done) return next;
    FileResult<bool> r = true;
    {
      std::lock_guard<std::recursive_mutex> lock(s_.impl_->mu);
      RemoteFs& fs = *s_.impl_->fs;
      if (std::string_view(op) == "remove") {
        r = fs.remove(path);
        if (r.ok()) s_.impl_->ledger.removed(*RemoteFs::normalize(path));
      } else if (std::string_view(op) == "mkdir") {
        r = fs.mkdir(path);
      } else {
        r = fs.rmdir(path);
      }
    }
    if (lost_answer(f, next)) return next;
    if (!r.ok()) return reply_error(q, r.error());
    w_.status(q.id, kOk, "");
    return Next::go_on;
  }

  Next realpath(const SftpRequest& q) {
    const std::string& raw = q.path;
    SftpFault f = s_.impl_->decide("realpath", raw, 0);
    Next next;
    if (before(q, f, "realpath", raw, next) == Gate::done) return next;
    auto p = RemoteFs::normalize(raw.empty() ? "." : raw, "realpath");
    if (lost_answer(f, next)) return next;
    if (!p.ok()) return reply_error(q, p.error());
    w_.names(q.id, {{*p, *p, SftpAttrs{}}});
    return Next::go_on;
  }

  Next rename(const SftpRequest& q, bool overwrite) {
    const std::string& from = q.path;
    const std::string& to = q.path2;
    s_.ledger_count("rename");
    SftpFault f = s_.impl_->decide("rename", from, 0);
    Next next;
    if (before(q, f, "rename", from, next) == Gate::done) return next;
    FileResult<bool> r = true;
    {
      std::lock_guard<std::recursive_mutex> lock(s_.impl_->mu);
      r = s_.impl_->fs->rename(from, to, overwrite);
      if (r.ok()) {
        const std::string t = *RemoteFs::normalize(to);
        auto st = s_.impl_->fs->stat(t);
        s_.impl_->ledger.renamed(*RemoteFs::normalize(from), t, st.ok() ? st->size : 0);
      }
    }
    if (lost_answer(f, next)) return next;
    if (!r.ok()) return reply_error(q, r.error());
    w_.status(q.id, kOk, "");
    return Next::go_on;
  }

 public:
  // Thin access to the server for the operations above.
  struct Access {
    SftpServer::Impl* impl_;
    void ledger_count(std::string_view what) {
      std::lock_guard<std::recursive_mutex> lock(impl_->mu);
      impl_->ledger.count(what);
    }
    void impl_delay(Duration d) { impl_->delay(d); }
  };

 private:
  Access s_;
  SftpFramer framer_;
  SftpReplyWriter w_;
  bool initialised_ = false;
  std::map<std::string, std::unique_ptr<Handle>> handles_;
  std::uint32_t next_handle_ = 0;
  bool hung_ = false;
};

// Writes all of `bytes` to the channel (blocking on its window); false when the channel broke.
bool write_all(ssh_channel chan, std::string_view bytes) {
  while (!bytes.empty()) {
    const auto chunk = static_cast<std::uint32_t>(std::min<std::size_t>(bytes.size(), 1u << 20));
    const int n = ssh_channel_write(chan, bytes.data(), chunk);
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

std::string peer_address(int fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return "?";
  char text[INET6_ADDRSTRLEN] = "?";
  if (addr.ss_family == AF_INET)
    ::inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&addr)->sin_addr, text, sizeof(text));
  else if (addr.ss_family == AF_INET6)
    ::inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(&addr)->sin6_addr, text, sizeof(text));
  return text;
}

}  // namespace

struct SftpPacketSession::State {
  explicit State(SftpServer::Impl& impl) : loop(impl) {}
  SessionLoop loop;
  bool closed = false;
};

SftpPacketSession::SftpPacketSession(SftpServer& server) {
  DS_ASSERT(server.impl_->prepared);  // prepare() or start() first
  st_ = std::make_unique<State>(*server.impl_);
}

SftpPacketSession::~SftpPacketSession() = default;

std::string SftpPacketSession::feed(std::string_view bytes) {
  std::string out;
  if (st_->closed) return out;
  // Everything fed is answered (the real loop writes between the pieces).
  for (std::string_view in = bytes;; in = {}) {
    const std::size_t before = out.size();
    if (st_->loop.feed(in, out) == SessionLoop::Next::close) {
      st_->closed = true;
      break;
    }
    if (out.size() == before) break;
  }
  return out;
}

std::string SftpPacketSession::feed_once(std::string_view bytes) {
  std::string out;
  if (st_->closed) return out;
  if (st_->loop.feed(bytes, out) == SessionLoop::Next::close) st_->closed = true;
  return out;
}

bool SftpPacketSession::closed() const { return st_->closed; }

void SftpServer::Impl::end_session(Session* me, ssh_session s) {
  {
    std::lock_guard<std::mutex> lock(sessions_mu);  // determinism-ok: real mode
    me->fd = -1;
  }
  ssh_disconnect(s);
  ssh_free(s);
  std::lock_guard<std::mutex> lock(sessions_mu);  // determinism-ok: real mode
  if (me->authed) --authed_sessions;
  me->done = true;
  ++finished;
}

// A session's thread: whatever goes wrong in it (an allocation that fails)
// ends that session, never the server.
void SftpServer::Impl::run_session(Session* me, ssh_session s) {
  try {
    serve_session(me, s);
  } catch (...) {
    {
      std::lock_guard<std::recursive_mutex> lock(mu);
      ledger.count("error.session_exception");
    }
    bool done = false;
    {
      std::lock_guard<std::mutex> lock(sessions_mu);  // determinism-ok: real mode
      done = me->done;
    }
    if (!done) end_session(me, s);
  }
}

void SftpServer::Impl::serve_session(Session* me, ssh_session s) {
  auto finish = [&] { end_session(me, s); };

  // The connect fault is decided once, before the handshake.
  {
    std::lock_guard<std::recursive_mutex> lock(mu);
    ledger.count("connect");
  }
  SftpFault cf = decide("connect", "/", 0);
  if (cf.action == SftpFault::Action::refuse) {
    std::lock_guard<std::mutex> lock(sessions_mu);  // determinism-ok: real mode
    if (me->fd >= 0) ::shutdown(me->fd, SHUT_RDWR);
  }
  if (cf.action != SftpFault::Action::refuse) delay(cf.latency);
  const long idle_s = std::max<long>(1, static_cast<long>(std::chrono::duration_cast<std::chrono::seconds>(o.idle_timeout).count()));
  ssh_options_set(s, SSH_OPTIONS_TIMEOUT, &idle_s);
  if (cf.action == SftpFault::Action::refuse || stop_requested() || ssh_handle_key_exchange(s) != SSH_OK ||
      cf.action == SftpFault::Action::disconnect) {
    finish();
    return;
  }

  int methods = 0;
  if (!o.password.empty()) methods |= SSH_AUTH_METHOD_PASSWORD;
  if (!authorized.empty()) methods |= SSH_AUTH_METHOD_PUBLICKEY;
  ssh_set_auth_methods(s, methods);

  bool authed = false;
  int attempts = 0;
  ssh_channel chan = nullptr;
  bool subsystem = false;
  while (!subsystem && !stop_requested()) {
    ssh_message m = ssh_message_get(s);
    if (!m) break;
    const int type = ssh_message_type(m), sub = ssh_message_subtype(m);
    if (type == SSH_REQUEST_AUTH && !authed) {
      if (cf.action == SftpFault::Action::timeout) {  // the server never answers the login
        ssh_message_free(m);
        continue;
      }
      const char* user = ssh_message_auth_user(m);
      const bool right_user = user && o.user == user && cf.action != SftpFault::Action::fail;
      bool ok = false, pk_ok = false;
      // A failed password or a failed signature is slowed down; a public-key
      // query for an unknown key only counts as an attempt (guessing keys gains nothing).
      bool slow_down = false;
      if (sub == SSH_AUTH_METHOD_PASSWORD) {
        const char* pw = ssh_message_auth_password(m);
        ok = right_user && !o.password.empty() && pw && o.password == pw;
        ++attempts;
        slow_down = !ok;
      } else if (sub == SSH_AUTH_METHOD_PUBLICKEY) {
        const bool known = right_user && key_authorized(ssh_message_auth_pubkey(m), authorized);
        const auto state = ssh_message_auth_publickey_state(m);
        if (known && state == SSH_PUBLICKEY_STATE_VALID) {
          ok = true;
        } else if (known && state == SSH_PUBLICKEY_STATE_NONE) {
          pk_ok = true;
        } else {
          ++attempts;
          slow_down = state != SSH_PUBLICKEY_STATE_NONE;
        }
      }
      bool full = false;
      if (ok) {
        std::lock_guard<std::mutex> lock(sessions_mu);  // determinism-ok: real mode
        full = authed_sessions >= o.max_sessions;
        if (!full) {
          me->authed = true;
          ++authed_sessions;
          auth_failures.erase(me->peer);
        }
      }
      if (ok && !full) {
        ssh_message_auth_reply_success(m, 0);
        authed = true;
        std::lock_guard<std::recursive_mutex> lock(mu);
        ledger.count("login");
      } else if (pk_ok) {
        ssh_message_auth_reply_pk_ok_simple(m);
      } else {
        if (full) {
          std::lock_guard<std::recursive_mutex> lock(mu);
          ledger.count("refused.max_sessions");
        } else if (sub == SSH_AUTH_METHOD_PASSWORD || sub == SSH_AUTH_METHOD_PUBLICKEY) {
          std::lock_guard<std::recursive_mutex> lock(mu);
          ledger.count("auth_failed");
        }
        if (slow_down) delay(auth_failure_delay(me->peer));
        ssh_message_auth_set_methods(m, methods);
        ssh_message_reply_default(m);
      }
      ssh_message_free(m);
      if (full || attempts >= o.auth_attempts_max) break;
      continue;
    }
    if (authed && type == SSH_REQUEST_CHANNEL_OPEN && sub == SSH_CHANNEL_SESSION && !chan) {
      chan = ssh_message_channel_request_open_reply_accept(m);
      ssh_message_free(m);
      continue;
    }
    if (authed && chan && type == SSH_REQUEST_CHANNEL && sub == SSH_CHANNEL_REQUEST_SUBSYSTEM) {
      const char* name = ssh_message_channel_request_subsystem(m);
      if (name && std::string_view(name) == "sftp") {
        ssh_message_channel_request_reply_success(m);
        subsystem = true;
      } else {
        ssh_message_reply_default(m);
      }
      ssh_message_free(m);
      continue;
    }
    if (authed && chan && type == SSH_REQUEST_CHANNEL && sub == SSH_CHANNEL_REQUEST_ENV) {
      ssh_message_channel_request_reply_success(m);  // LANG etc.: accepted, ignored
      ssh_message_free(m);
      continue;
    }
    ssh_message_reply_default(m);
    ssh_message_free(m);
  }
  if (!subsystem) {
    finish();
    return;
  }

  {
    SessionLoop loop(*this);
    std::string out;
    std::vector<char> buf(64 * 1024);
    auto last = std::chrono::steady_clock::now();  // determinism-ok: real mode
    for (;;) {
      if (stop_requested()) break;
      const int ready = ssh_channel_poll_timeout(chan, 200, 0);
      if (ready == SSH_ERROR || ready == SSH_EOF) break;
      if (ready == 0) {
        if (std::chrono::steady_clock::now() - last > o.idle_timeout) break;  // determinism-ok: real mode
        continue;
      }
      last = std::chrono::steady_clock::now();  // determinism-ok: real mode
      const int n = ssh_channel_read_nonblocking(chan, buf.data(), static_cast<std::uint32_t>(buf.size()), 0);
      if (n < 0) break;
      if (n == 0) continue;
      out.clear();
      auto next = loop.feed(std::string_view(buf.data(), static_cast<std::size_t>(n)), out);
      bool written = true;
      // What was read is answered a bounded piece at a time, each written
      // before the next is built (a client that stops reading holds 1 MiB).
      while (!out.empty() && next == SessionLoop::Next::go_on && !stop_requested()) {
        if (!(written = write_all(chan, out))) break;
        out.clear();
        next = loop.feed({}, out);
      }
      if (!out.empty() && written && !write_all(chan, out)) break;
      if (!written || next == SessionLoop::Next::close) break;
    }
  }
  finish();
}

// Closes the connections that have not logged in by their deadline (called by the accept loop).
void SftpServer::Impl::close_late_logins() {
  // The ledger is counted before the socket closes, so a client that sees the close sees the count.
  // Lock order: mu, then sessions_mu (as everywhere both are held).
  std::lock_guard<std::recursive_mutex> ledger_lock(mu);
  std::lock_guard<std::mutex> lock(sessions_mu);  // determinism-ok: real mode
  const auto now = Clock::now();  // determinism-ok: real mode (login deadlines)
  for (auto& s : sessions) {
    if (s->done || s->authed || s->login_timed_out || s->fd < 0 || now < s->login_deadline) continue;
    ledger.count("login_timeout");
    ::shutdown(s->fd, SHUT_RDWR);  // wakes the session's blocked read; it then finishes
    s->login_timed_out = true;
  }
}

void SftpServer::Impl::accept_loop() {
  const int lfd = ssh_bind_get_fd(bind);
  for (;;) {
    if (stop_requested()) return;
    pollfd p{lfd, POLLIN, 0};
    const int ready = ::poll(&p, 1, 100);
    {
      // Reap finished sessions.
      std::lock_guard<std::mutex> lock(sessions_mu);  // determinism-ok: real mode
      for (auto it = sessions.begin(); it != sessions.end();) {
        if ((*it)->done) {
          (*it)->thread.join();
          it = sessions.erase(it);
        } else {
          ++it;
        }
      }
    }
    close_late_logins();
    if (ready <= 0 || !(p.revents & POLLIN)) continue;
    ssh_session s = ssh_new();
    if (!s) continue;
    if (ssh_bind_accept(bind, s) != SSH_OK) {
      ssh_free(s);
      continue;
    }
    {
      std::lock_guard<std::recursive_mutex> ledger_lock(mu);  // counted before the close is seen
      std::lock_guard<std::mutex> lock(sessions_mu);  // determinism-ok: real mode
      // Only connections still logging in count here; logged-in sessions are bounded at login (max_sessions).
      const auto pending = std::count_if(sessions.begin(), sessions.end(),
                                         [](const auto& x) { return !x->done && !x->authed; });
      if (!stopping && pending >= o.max_unauthenticated) {
        // Full of connections still logging in: the one waiting longest makes
        // room (as OpenSSH's MaxStartups drops), so silent connections opened
        // again and again cannot keep a real login out. Twice the bound is
        // the hard limit on threads.
        Session* oldest = nullptr;
        for (auto& x : sessions)
          if (!x->done && !x->authed && !x->login_timed_out && x->fd >= 0 &&
              (!oldest || x->login_deadline < oldest->login_deadline))
            oldest = x.get();
        if (oldest && pending < 2 * o.max_unauthenticated) {
          ledger.count("evicted.max_unauthenticated");
          ::shutdown(oldest->fd, SHUT_RDWR);  // its session ends as a late login does
          oldest->login_timed_out = true;
        } else {
          ledger.count("refused.max_unauthenticated");
          ssh_free(s);  // over the bound: closed at once
          ++finished;
          continue;
        }
      }
      if (stopping) {
        ssh_free(s);
        ++finished;
        continue;
      }
    }
    std::lock_guard<std::mutex> lock(sessions_mu);  // determinism-ok: real mode
    auto session = std::make_unique<Session>();
    session->fd = ssh_get_fd(s);
    session->peer = peer_address(session->fd);
    session->login_deadline = Clock::now() + o.login_timeout;  // determinism-ok: real mode (login deadline)
    int nodelay = 1;  // each SFTP status answers a waiting client: don't let Nagle hold it
    ::setsockopt(session->fd, IPPROTO_TCP, TCP_NODELAY, &nodelay, sizeof nodelay);
    Session* raw = session.get();
    sessions.push_back(std::move(session));
    try {
      raw->thread = std::thread([this, raw, s] { run_session(raw, s); });  // determinism-ok: one thread per real session
    } catch (const std::system_error&) {
      // No thread for it (the system's limit): this connection is closed, the server goes on.
      sessions.pop_back();
      ssh_free(s);
      ++finished;
    }
  }
}

// ---------------------------------------------------------------- SftpServer

SftpServer::SftpServer(SftpServerOptions options) : impl_(std::make_unique<Impl>()) { impl_->o = std::move(options); }

SftpServer::~SftpServer() { stop(); }

namespace {

Result<ssh_key> load_or_make_host_key(const std::string& file) {
  ssh_key key = nullptr;
  struct stat st;
  if (!file.empty() && ::stat(file.c_str(), &st) == 0) {
    if (ssh_pki_import_privkey_file(file.c_str(), nullptr, nullptr, nullptr, &key) != SSH_OK)
      return Error::bad_input("--host-key " + file + ": not an OpenSSH private key libssh can read");
    return key;
  }
  if (ssh_pki_generate(SSH_KEYTYPE_ED25519, 0, &key) != SSH_OK) return Error::internal("cannot generate an ed25519 host key");
  if (!file.empty()) {
    if (ssh_pki_export_privkey_file(key, nullptr, nullptr, nullptr, file.c_str()) != SSH_OK) {
      ssh_key_free(key);
      return Error::io("--host-key " + file + ": cannot write the generated host key there");
    }
    ::chmod(file.c_str(), 0600);
  }
  return key;
}

}  // namespace

Status SftpServer::prepare() {
  Impl& m = *impl_;
  if (m.prepared) return Status::success();
  if (m.o.root.empty() && !m.o.in_memory) return Error::bad_input("--root: required (the directory served as \"/\")");
  if (m.o.user.empty()) return Error::bad_input("--user: required");
  if (m.o.password.empty() && m.o.authorized_keys_file.empty())
    return Error::bad_input("give --password or --authorized-keys (or both): no one could log in");
  if (m.o.port < 0 || m.o.port > 65535) return Error::bad_input("--port: expected 0..65535, got " + std::to_string(m.o.port));
  if (m.o.max_sessions < 1 || m.o.max_sessions > 10000)
    return Error::bad_input("max_sessions: expected 1..10000, got " + std::to_string(m.o.max_sessions));
  if (m.o.max_unauthenticated < 1 || m.o.max_unauthenticated > 10000)
    return Error::bad_input("max_unauthenticated: expected 1..10000, got " + std::to_string(m.o.max_unauthenticated));
  if (m.o.login_timeout <= Duration::zero())
    return Error::bad_input("login_timeout: expected a duration above 0, got " + format_duration(m.o.login_timeout));
  if (m.o.auth_attempts_max < 1 || m.o.auth_attempts_max > 100)
    return Error::bad_input("auth_attempts_max: expected 1..100, got " + std::to_string(m.o.auth_attempts_max));
  if (m.o.auth_failure_delay < Duration::zero() || m.o.auth_failure_delay_max < m.o.auth_failure_delay)
    return Error::bad_input("auth_failure_delay: expected 0 <= auth_failure_delay <= auth_failure_delay_max, got " +
                            format_duration(m.o.auth_failure_delay) + " and " + format_duration(m.o.auth_failure_delay_max));
  if (m.o.faults) DS_CHECK(check_sftp_fault_plan(*m.o.faults, "--faults: "));
  if (!m.o.authorized_keys_file.empty()) {
    std::ifstream in(m.o.authorized_keys_file);
    if (!in) return Error::io("--authorized-keys " + m.o.authorized_keys_file + ": cannot be read");
    std::stringstream ss;
    ss << in.rdbuf();
    DS_TRY(m.authorized, parse_authorized_keys(ss.str(), "--authorized-keys " + m.o.authorized_keys_file));
    if (m.authorized.empty())
      return Error::bad_input("--authorized-keys " + m.o.authorized_keys_file + ": no public key in the file");
  }
  if (m.o.in_memory) {
    m.fs = RemoteFs::in_memory(m.o.fs);
  } else {
    DS_TRY(m.fs, RemoteFs::on_disk(m.o.root, m.o.fs));
    char resolved[PATH_MAX];
    if (!::realpath(m.o.root.c_str(), resolved)) return Error::io("--root " + m.o.root + ": cannot be resolved");
    m.disk_root = resolved;
  }
  m.rng = Rng(m.o.seed);
  m.started = std::chrono::steady_clock::now();  // determinism-ok: real mode
  m.prepared = true;
  return Status::success();
}

Status SftpServer::start() {
  Impl& m = *impl_;
  DS_ASSERT(!m.bind);
  DS_CHECK(prepare());

  DS_TRY(ssh_key key, load_or_make_host_key(m.o.host_key_file));
  unsigned char* hash = nullptr;
  size_t hlen = 0;
  if (ssh_get_publickey_hash(key, SSH_PUBLICKEY_HASH_SHA256, &hash, &hlen) == SSH_OK) {
    char* fp = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash, hlen);
    if (fp) {
      fingerprint_ = fp;
      ssh_string_free_char(fp);
    }
    ssh_clean_pubkey_hash(&hash);
  }

  m.bind = ssh_bind_new();
  bool process_config = false;
  ssh_bind_options_set(m.bind, SSH_BIND_OPTIONS_PROCESS_CONFIG, &process_config);
  ssh_bind_options_set(m.bind, SSH_BIND_OPTIONS_BINDADDR, m.o.bind.c_str());
  int port = m.o.port;
  ssh_bind_options_set(m.bind, SSH_BIND_OPTIONS_BINDPORT, &port);
  if (ssh_bind_options_set(m.bind, SSH_BIND_OPTIONS_IMPORT_KEY, key) != SSH_OK) {  // the bind owns the key now
    const std::string why = ssh_get_error(m.bind);
    ssh_bind_free(m.bind);
    m.bind = nullptr;
    return Error::internal("cannot use the host key: " + why);
  }
  if (ssh_bind_listen(m.bind) != SSH_OK) {
    const std::string why = ssh_get_error(m.bind);
    ssh_bind_free(m.bind);
    m.bind = nullptr;
    return Error::io("--port " + std::to_string(m.o.port) + ": cannot listen on " + m.o.bind + ": " + why);
  }
  sockaddr_in addr{};
  socklen_t alen = sizeof(addr);
  if (::getsockname(ssh_bind_get_fd(m.bind), reinterpret_cast<sockaddr*>(&addr), &alen) == 0) port_ = ntohs(addr.sin_port);
  m.started = std::chrono::steady_clock::now();  // determinism-ok: real mode
  m.acceptor = std::thread([&m] { m.accept_loop(); });  // determinism-ok: the real server's accept loop
  return Status::success();
}

void SftpServer::stop() {
  Impl& m = *impl_;
  {
    std::lock_guard<std::mutex> lock(m.sessions_mu);  // determinism-ok: real mode
    if (m.stopping) return;
    m.stopping = true;
    for (auto& s : m.sessions)
      if (s->fd >= 0) ::shutdown(s->fd, SHUT_RDWR);  // wakes a session blocked in a read
  }
  m.stop_cv.notify_all();
  if (m.acceptor.joinable()) m.acceptor.join();
  std::list<std::unique_ptr<Impl::Session>> sessions;
  {
    std::lock_guard<std::mutex> lock(m.sessions_mu);  // determinism-ok: real mode
    sessions.swap(m.sessions);
  }
  for (auto& s : sessions)
    if (s->thread.joinable()) s->thread.join();
  if (m.bind) {
    ssh_bind_free(m.bind);
    m.bind = nullptr;
  }
}

std::int64_t SftpServer::sessions_finished() const {
  std::lock_guard<std::mutex> lock(impl_->sessions_mu);  // determinism-ok: real mode
  return impl_->finished;
}

nlohmann::json SftpServer::accepted() const {
  std::lock_guard<std::recursive_mutex> lock(impl_->mu);
  nlohmann::json out = impl_->ledger.to_json();
  out["used_bytes"] = impl_->fs ? impl_->fs->used_bytes() : 0;
  return out;
}

std::int64_t SftpServer::applied(const std::string& path) const {
  std::lock_guard<std::recursive_mutex> lock(impl_->mu);
  return impl_->ledger.commits_at(path);
}

std::vector<std::string> SftpServer::paths() const {
  std::lock_guard<std::recursive_mutex> lock(impl_->mu);
  if (!impl_->fs) return {};
  std::vector<std::string> out = impl_->fs->all_dirs();
  for (auto& f : impl_->fs->all_files()) out.push_back(std::move(f));
  return out;
}

}  // namespace destsim
