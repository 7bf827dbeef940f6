#include "fakes/doors/sftp_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>

// sftp.h declares the server calls (sftp_server_new, …) only under WITH_SERVER.
#ifndef WITH_SERVER
#define WITH_SERVER
#endif
#include <libssh/libssh.h>
#include <libssh/server.h>
#include <libssh/sftp.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <fstream>
#include <list>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

// The message-based server API (ssh_message_auth_password, …) is marked
// deprecated in favour of callbacks; it is the one libssh 0.10 documents for
// pairing with sftp_get_client_message, and it keeps each session a plain loop.
#pragma clang diagnostic ignored "-Wdeprecated-declarations"
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

namespace destsim {

namespace {

constexpr std::uint32_t kNoSpaceOnFilesystem = 14;  // SSH_FX_NO_SPACE_ON_FILESYSTEM (filexfer v5+, OpenSSH-compatible)
constexpr int kAuthAttemptsMax = 6;
constexpr int kReaddirBatch = 64;

std::uint32_t status_of(const FileError& e) {
  switch (e.kind) {
    case FileError::Kind::no_such_file: return SSH_FX_NO_SUCH_FILE;
    case FileError::Kind::permission_denied: return SSH_FX_PERMISSION_DENIED;
    case FileError::Kind::no_space: return kNoSpaceOnFilesystem;
    case FileError::Kind::invalid_path: return SSH_FX_NO_SUCH_FILE;
    default: return SSH_FX_FAILURE;
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

sftp_attributes_struct attrs_of(const RemoteStat& st) {
  sftp_attributes_struct a;
  std::memset(&a, 0, sizeof(a));
  a.flags = SSH_FILEXFER_ATTR_SIZE | SSH_FILEXFER_ATTR_PERMISSIONS | SSH_FILEXFER_ATTR_ACMODTIME;
  a.type = st.directory ? SSH_FILEXFER_TYPE_DIRECTORY : SSH_FILEXFER_TYPE_REGULAR;
  a.size = static_cast<std::uint64_t>(st.size);
  a.permissions = st.permissions;
  a.atime = a.mtime = static_cast<std::uint32_t>(st.mtime_s);
  a.atime64 = a.mtime64 = static_cast<std::uint64_t>(st.mtime_s);
  return a;
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

  // Sessions and stopping.
  struct Session {
    std::thread thread;  // determinism-ok: one thread per real session
    int fd = -1;         // guarded by sessions_mu; -1 once the session closed its socket
    bool done = false;   // guarded by sessions_mu
  };
  std::mutex sessions_mu;  // determinism-ok: guards the session list
  std::condition_variable stop_cv;  // determinism-ok: wakes interruptible delays on stop()
  std::list<std::unique_ptr<Session>> sessions;
  std::int64_t finished = 0;
  bool stopping = false;  // guarded by sessions_mu
  std::thread acceptor;   // determinism-ok: the accept loop

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
  void run_session(Session* me, ssh_session s);
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

class SessionLoop {
 public:
  SessionLoop(SftpServer::Impl& server, sftp_session sftp) : s_{&server}, sftp_(sftp) {}
  ~SessionLoop() {
    for (auto& [ptr, h] : handles_) sftp_handle_remove(sftp_, ptr);
  }

  enum class Next { go_on, close };

  // Handles one client message; `close` ends the session without a word.
  Next handle(sftp_client_message msg) {
    if (hung_) return Next::go_on;  // a server that stopped answering reads and drops everything
    const int type = sftp_client_message_get_type(msg);
    switch (type) {
      case SSH_FXP_OPEN: return open(msg);
      case SSH_FXP_CLOSE: return close(msg);
      case SSH_FXP_READ: return read(msg);
      case SSH_FXP_WRITE: return write(msg);
      case SSH_FXP_LSTAT:
      case SSH_FXP_STAT: return stat(msg, "stat", filename(msg), false);
      case SSH_FXP_SETSTAT: return stat(msg, "stat", filename(msg), true);
      case SSH_FXP_FSTAT:
      case SSH_FXP_FSETSTAT: {
        Handle* h = handle_of(msg);
        if (!h) return bad_handle(msg);
        return stat(msg, "stat", h->path, type == SSH_FXP_FSETSTAT);
      }
      case SSH_FXP_OPENDIR: return opendir(msg);
      case SSH_FXP_READDIR: return readdir(msg);
      case SSH_FXP_REMOVE: return simple(msg, "remove", filename(msg));
      case SSH_FXP_MKDIR: return simple(msg, "mkdir", filename(msg));
      case SSH_FXP_RMDIR: return simple(msg, "rmdir", filename(msg));
      case SSH_FXP_REALPATH: return realpath(msg);
      case SSH_FXP_RENAME: return rename(msg, filename(msg), data_text(msg), false);
      case SSH_FXP_EXTENDED: {
        const char* sub = sftp_client_message_get_submessage(msg);
        if (sub && std::string_view(sub) == "posix-rename@openssh.com") {
          std::string from, to;
          if (!extended_paths(msg, from, to)) {
            sftp_reply_status(msg, SSH_FX_BAD_MESSAGE, "posix-rename@openssh.com: expected two paths");
            return Next::go_on;
          }
          return rename(msg, from, to, true);
        }
        s_.ledger_count("unsupported");
        sftp_reply_status(msg, SSH_FX_OP_UNSUPPORTED,
                          ("extension not supported: " + std::string(sub ? sub : "(none)")).c_str());
        return Next::go_on;
      }
      default:
        s_.ledger_count("unsupported");
        sftp_reply_status(msg, SSH_FX_OP_UNSUPPORTED, "operation not supported by destsim's SFTP fake (no links)");
        return Next::go_on;
    }
  }

 private:
  // --- helpers

  static std::string filename(sftp_client_message msg) {
    const char* f = sftp_client_message_get_filename(msg);
    return f ? f : "";
  }
  static std::string data_text(sftp_client_message msg) {
    const char* d = sftp_client_message_get_data(msg);
    return d ? d : "";
  }

  // posix-rename@openssh.com carries two strings after the extension name.
  static bool extended_paths(sftp_client_message msg, std::string& from, std::string& to) {
    if (msg->filename && msg->data) {
      from = msg->filename;
      to.assign(static_cast<const char*>(ssh_string_data(msg->data)), ssh_string_len(msg->data));
      return true;
    }
    // Older parsers leave them in the raw message: id, name, path, path.
    if (!msg->complete_message) return false;
    const auto* p = static_cast<const unsigned char*>(ssh_buffer_get(msg->complete_message));
    const std::size_t n = ssh_buffer_get_len(msg->complete_message);
    std::size_t at = 0;
    auto u32 = [&](std::uint32_t& v) {
      if (at + 4 > n) return false;
      v = (std::uint32_t(p[at]) << 24) | (std::uint32_t(p[at + 1]) << 16) | (std::uint32_t(p[at + 2]) << 8) | p[at + 3];
      at += 4;
      return true;
    };
    auto str = [&](std::string& s) {
      std::uint32_t len = 0;
      if (!u32(len) || at + len > n) return false;
      s.assign(reinterpret_cast<const char*>(p + at), len);
      at += len;
      return true;
    };
    std::uint32_t id = 0;
    std::string name;
    // The buffer may or may not start with the packet type byte.
    if (n > 0 && p[0] == SSH_FXP_EXTENDED) at = 1;
    return u32(id) && str(name) && str(from) && str(to);
  }

  Handle* handle_of(sftp_client_message msg) {
    if (!msg->handle) return nullptr;
    void* ptr = sftp_handle(sftp_, msg->handle);
    auto it = handles_.find(ptr);
    return it == handles_.end() ? nullptr : it->second.get();
  }
  Next bad_handle(sftp_client_message msg) {
    sftp_reply_status(msg, SSH_FX_FAILURE, "invalid handle");
    return Next::go_on;
  }

  Next reply_error(sftp_client_message msg, const FileError& e) {
    s_.ledger_count(std::string("error.") + file_error_kind_name(e.kind));
    sftp_reply_status(msg, status_of(e), e.message.c_str());
    return Next::go_on;
  }

  // The fault plan's say before an operation: go on, or it answered / closed / hung.
  enum class Gate { proceed, done };
  Gate before(sftp_client_message msg, const SftpFault& f, std::string_view op, const std::string& path, Next& next) {
    s_.impl_delay(f.latency);
    next = Next::go_on;
    switch (f.action) {
      case SftpFault::Action::none:
      case SftpFault::Action::garble:
        return Gate::proceed;
      case SftpFault::Action::fail:
        sftp_reply_status(msg, injected_status(f.status),
                          (std::string(op) + " " + path + ": injected (" + f.rule_text + ")").c_str());
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
        sftp_reply_status(msg, SSH_FX_FAILURE,
                          (std::string(op) + " " + path + ": the fault " + f.rule_text +
                           " has no meaning for this SFTP operation")
                              .c_str());
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

  Next open(sftp_client_message msg) {
    const std::uint32_t flags = sftp_client_message_get_flags(msg);
    const bool write = flags & (SSH_FXF_WRITE | SSH_FXF_APPEND | SSH_FXF_CREAT | SSH_FXF_TRUNC);
    const std::string raw = filename(msg);
    const char* op = write ? "put" : "get";
    s_.ledger_count(op);
    SftpFault f = s_.impl_->decide(op, raw, 0);
    Next next;
    if (before(msg, f, op, raw, next) == Gate::done) return next;
    auto h = std::make_unique<Handle>();
    {
      std::lock_guard<std::recursive_mutex> lock(s_.impl_->mu);
      RemoteFs& fs = *s_.impl_->fs;
      auto p = RemoteFs::normalize(raw, op);
      if (!p.ok()) return reply_error(msg, p.error());
      h->path = *p;
      if (write) {
        FileResult<bool> r = true;
        if (flags & SSH_FXF_CREAT) {
          r = fs.open_write(raw, flags & SSH_FXF_TRUNC, flags & SSH_FXF_EXCL);
        } else {
          auto st = fs.stat(raw);
          if (!st.ok()) r = st.error();
          else if (flags & SSH_FXF_TRUNC) r = fs.open_write(raw, true, false);
        }
        if (!r.ok()) return reply_error(msg, r.error());
        s_.impl_->ledger.incomplete(h->path);
        h->write = true;
      } else {
        auto st = fs.stat(raw);
        if (!st.ok()) return reply_error(msg, st.error());
        if (st->directory) return reply_error(msg, FileError{FileError::Kind::failure, "get " + h->path + ": is a directory"});
        // A read open must pass the "get" deny rules too.
        auto probe = fs.read(raw, 0, 0);
        if (!probe.ok()) return reply_error(msg, probe.error());
      }
    }
    h->write_latency = f.latency;
    h->garble = f.action == SftpFault::Action::garble;
    if (write && f.action == SftpFault::Action::disconnect && f.after) {
      h->reset_mid_upload = true;
    } else if (lost_answer(f, next)) {
      return next;
    }
    return reply_handle(msg, std::move(h));
  }

  // Registers an open handle and answers with it (or FAILURE when libssh has no slot left).
  Next reply_handle(sftp_client_message msg, std::unique_ptr<Handle> h) {
    Handle* raw_h = h.get();
    ssh_string hs = sftp_handle_alloc(sftp_, raw_h);
    if (!hs) {
      sftp_reply_status(msg, SSH_FX_FAILURE, "too many open handles");
      return Next::go_on;
    }
    handles_[raw_h] = std::move(h);
    sftp_reply_handle(msg, hs);
    ssh_string_free(hs);
    return Next::go_on;
  }

  Next close(sftp_client_message msg) {
    Handle* h = handle_of(msg);
    if (!h) return bad_handle(msg);
    if (h->write && !h->failed) {
      if (h->reset_mid_upload) {  // an empty upload: the connection drops at its close
        drop_handle(h);
        return Next::close;
      }
      std::lock_guard<std::recursive_mutex> lock(s_.impl_->mu);
      auto st = s_.impl_->fs->stat(h->path);
      if (st.ok()) s_.impl_->ledger.committed(h->path, st->size, "put");
    }
    drop_handle(h);
    sftp_reply_status(msg, SSH_FX_OK, nullptr);
    return Next::go_on;
  }

  void drop_handle(Handle* h) {
    sftp_handle_remove(sftp_, h);
    handles_.erase(h);
  }

  Next write(sftp_client_message msg) {
    Handle* h = handle_of(msg);
    if (!h || !h->write) return bad_handle(msg);
    s_.impl_delay(h->write_latency);
    std::string data;
    if (msg->data) data.assign(static_cast<const char*>(ssh_string_data(msg->data)), ssh_string_len(msg->data));
    const auto offset = static_cast<std::int64_t>(msg->offset);
    if (const FaultRule* r = s_.impl_->too_large_rule(h->path, offset + static_cast<std::int64_t>(data.size()))) {
      h->failed = true;
      s_.ledger_count("fault.too_large");
      sftp_reply_status(msg, SSH_FX_FAILURE,
                        ("put " + h->path + ": file too large (injected, " + r->describe() + ")").c_str());
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
      sftp_reply_status(msg, status_of(r.error()), r.error().message.c_str());
      return Next::go_on;
    }
    sftp_reply_status(msg, SSH_FX_OK, nullptr);
    return Next::go_on;
  }

  Next read(sftp_client_message msg) {
    Handle* h = handle_of(msg);
    if (!h || h->write || h->dir) return bad_handle(msg);
    FileResult<std::string> r = std::string();
    {
      std::lock_guard<std::recursive_mutex> lock(s_.impl_->mu);
      r = s_.impl_->fs->read(h->path, static_cast<std::int64_t>(msg->offset), msg->len);
      if (r.ok() && h->garble && !r->empty()) (*r)[s_.impl_->rng.below(r->size())] ^= 0x5a;
    }
    if (!r.ok()) return reply_error(msg, r.error());
    if (r->empty()) {
      sftp_reply_status(msg, SSH_FX_EOF, nullptr);
      return Next::go_on;
    }
    sftp_reply_data(msg, r->data(), static_cast<int>(r->size()));
    return Next::go_on;
  }

  Next stat(sftp_client_message msg, const char* op, const std::string& path, bool set) {
    SftpFault f = s_.impl_->decide(op, path, 0);
    Next next;
    if (before(msg, f, op, path, next) == Gate::done) return next;
    FileResult<RemoteStat> st = RemoteStat{};
    {
      std::lock_guard<std::recursive_mutex> lock(s_.impl_->mu);
      st = s_.impl_->fs->stat(path);
    }
    if (lost_answer(f, next)) return next;
    if (!st.ok()) return reply_error(msg, st.error());
    if (set) {
      sftp_reply_status(msg, SSH_FX_OK, nullptr);  // attributes are accepted and ignored
      return Next::go_on;
    }
    sftp_attributes_struct a = attrs_of(*st);
    sftp_reply_attr(msg, &a);
    return Next::go_on;
  }

  Next opendir(sftp_client_message msg) {
    const std::string raw = filename(msg);
    s_.ledger_count("list");
    SftpFault f = s_.impl_->decide("list", raw, 0);
    Next next;
    if (before(msg, f, "list", raw, next) == Gate::done) return next;
    auto h = std::make_unique<Handle>();
    h->dir = true;
    {
      std::lock_guard<std::recursive_mutex> lock(s_.impl_->mu);
      auto entries = s_.impl_->fs->list(raw);
      if (!entries.ok()) return reply_error(msg, entries.error());
      h->entries = std::move(entries).value();
      h->path = *RemoteFs::normalize(raw);
    }
    if (lost_answer(f, next)) return next;
    return reply_handle(msg, std::move(h));
  }

  Next readdir(sftp_client_message msg) {
    Handle* h = handle_of(msg);
    if (!h || !h->dir) return bad_handle(msg);
    if (h->next >= h->entries.size()) {
      sftp_reply_status(msg, SSH_FX_EOF, nullptr);
      return Next::go_on;
    }
    int n = 0;
    for (; h->next < h->entries.size() && n < kReaddirBatch; ++h->next, ++n) {
      const RemoteEntry& e = h->entries[h->next];
      RemoteStat st;
      {
        std::lock_guard<std::recursive_mutex> lock(s_.impl_->mu);
        auto full = s_.impl_->fs->stat(h->path == "/" ? "/" + e.name : h->path + "/" + e.name);
        if (full.ok()) st = *full;
        else st = RemoteStat{e.directory, e.size, e.directory ? 040755u : 0100644u, 0};
      }
      sftp_attributes_struct a = attrs_of(st);
      const std::string ln = long_name(e.name, st, s_.impl_->o.user);
      sftp_reply_names_add(msg, e.name.c_str(), ln.c_str(), &a);
    }
    sftp_reply_names(msg);
    return Next::go_on;
  }

  Next simple(sftp_client_message msg, const char* op, const std::string& path) {
    s_.ledger_count(op);
    SftpFault f = s_.impl_->decide(op, path, 0);
    Next next;
    if (before(msg, f, op, path, next) == Gate::done) return next;
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
    if (!r.ok()) return reply_error(msg, r.error());
    sftp_reply_status(msg, SSH_FX_OK, nullptr);
    return Next::go_on;
  }

  Next realpath(sftp_client_message msg) {
    const std::string raw = filename(msg);
    SftpFault f = s_.impl_->decide("realpath", raw, 0);
    Next next;
    if (before(msg, f, "realpath", raw, next) == Gate::done) return next;
    auto p = RemoteFs::normalize(raw.empty() ? "." : raw, "realpath");
    if (lost_answer(f, next)) return next;
    if (!p.ok()) return reply_error(msg, p.error());
    sftp_attributes_struct a;
    std::memset(&a, 0, sizeof(a));
    sftp_reply_name(msg, p->c_str(), &a);
    return Next::go_on;
  }

  Next rename(sftp_client_message msg, const std::string& from, const std::string& to, bool overwrite) {
    s_.ledger_count("rename");
    SftpFault f = s_.impl_->decide("rename", from, 0);
    Next next;
    if (before(msg, f, "rename", from, next) == Gate::done) return next;
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
    if (!r.ok()) return reply_error(msg, r.error());
    sftp_reply_status(msg, SSH_FX_OK, nullptr);
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
  sftp_session sftp_;
  std::map<void*, std::unique_ptr<Handle>> handles_;
  bool hung_ = false;
};

}  // namespace

void SftpServer::Impl::run_session(Session* me, ssh_session s) {
  auto finish = [&] {
    {
      std::lock_guard<std::mutex> lock(sessions_mu);  // determinism-ok: real mode
      me->fd = -1;
    }
    ssh_disconnect(s);
    ssh_free(s);
    std::lock_guard<std::mutex> lock(sessions_mu);  // determinism-ok: real mode
    me->done = true;
    ++finished;
  };

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
      if (sub == SSH_AUTH_METHOD_PASSWORD) {
        const char* pw = ssh_message_auth_password(m);
        ok = right_user && !o.password.empty() && pw && o.password == pw;
        ++attempts;
      } else if (sub == SSH_AUTH_METHOD_PUBLICKEY) {
        const bool known = right_user && key_authorized(ssh_message_auth_pubkey(m), authorized);
        const auto state = ssh_message_auth_publickey_state(m);
        if (known && state == SSH_PUBLICKEY_STATE_VALID) ok = true;
        else if (known && state == SSH_PUBLICKEY_STATE_NONE) pk_ok = true;
        else ++attempts;
      }
      if (ok) {
        ssh_message_auth_reply_success(m, 0);
        authed = true;
        std::lock_guard<std::recursive_mutex> lock(mu);
        ledger.count("login");
      } else if (pk_ok) {
        ssh_message_auth_reply_pk_ok_simple(m);
      } else {
        if (sub == SSH_AUTH_METHOD_PASSWORD || sub == SSH_AUTH_METHOD_PUBLICKEY) {
          std::lock_guard<std::recursive_mutex> lock(mu);
          ledger.count("auth_failed");
        }
        ssh_message_auth_set_methods(m, methods);
        ssh_message_reply_default(m);
      }
      ssh_message_free(m);
      if (attempts >= kAuthAttemptsMax) break;
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

  sftp_session sftp = sftp_server_new(s, chan);
  if (!sftp || sftp_server_init(sftp) != 0) {
    if (sftp) sftp_server_free(sftp);
    finish();
    return;
  }
  {
    SessionLoop loop(*this, sftp);
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
      sftp_client_message msg = sftp_get_client_message(sftp);
      if (!msg) break;
      const auto next = loop.handle(msg);
      sftp_client_message_free(msg);
      if (next == SessionLoop::Next::close) break;
    }
  }
  sftp_server_free(sftp);
  finish();
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
    if (ready <= 0 || !(p.revents & POLLIN)) continue;
    ssh_session s = ssh_new();
    if (!s) continue;
    if (ssh_bind_accept(bind, s) != SSH_OK) {
      ssh_free(s);
      continue;
    }
    std::lock_guard<std::mutex> lock(sessions_mu);  // determinism-ok: real mode
    if (stopping || static_cast<int>(sessions.size()) >= o.max_sessions) {
      ssh_free(s);  // over the bound: closed at once
      ++finished;
      continue;
    }
    auto session = std::make_unique<Session>();
    session->fd = ssh_get_fd(s);
    int nodelay = 1;  // each SFTP status answers a waiting client: don't let Nagle hold it
    ::setsockopt(session->fd, IPPROTO_TCP, TCP_NODELAY, &nodelay, sizeof nodelay);
    Session* raw = session.get();
    sessions.push_back(std::move(session));
    raw->thread = std::thread([this, raw, s] { run_session(raw, s); });  // determinism-ok: one thread per real session
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

Status SftpServer::start() {
  Impl& m = *impl_;
  DS_ASSERT(!m.bind);
  if (m.o.root.empty()) return Error::bad_input("--root: required (the directory served as \"/\")");
  if (m.o.user.empty()) return Error::bad_input("--user: required");
  if (m.o.password.empty() && m.o.authorized_keys_file.empty())
    return Error::bad_input("give --password or --authorized-keys (or both): no one could log in");
  if (m.o.port < 0 || m.o.port > 65535) return Error::bad_input("--port: expected 0..65535, got " + std::to_string(m.o.port));
  if (m.o.max_sessions < 1) return Error::bad_input("max_sessions: expected at least 1");
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
  DS_TRY(m.fs, RemoteFs::on_disk(m.o.root, m.o.fs));
  m.rng = Rng(m.o.seed);

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

}  // namespace destsim
