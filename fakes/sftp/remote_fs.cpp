#include "fakes/sftp/remote_fs.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <map>
#include <system_error>

#include "fakes/fault_plan.h"
#include "framework/text.h"

namespace destsim {

bool is_sftp_operation(std::string_view op) {
  for (const char* o : kSftpOperations)
    if (op == o) return true;
  return false;
}

bool SftpDenyRule::matches(std::string_view op, std::string_view p) const {
  if (!ops.empty() && std::find(ops.begin(), ops.end(), op) == ops.end()) return false;
  return glob_match(path, p);
}

namespace {

std::string parent_of(const std::string& p) {
  auto slash = p.rfind('/');
  if (slash == 0 || slash == std::string::npos) return "/";
  return p.substr(0, slash);
}

std::string join(const std::string& dir, std::string_view name) {
  return dir == "/" ? "/" + std::string(name) : dir + "/" + std::string(name);
}

// True if `p` is `dir` or lies under it.
bool is_within(const std::string& p, const std::string& dir) {
  if (dir == "/") return true;
  return p == dir || (p.size() > dir.size() && p.compare(0, dir.size(), dir) == 0 && p[dir.size()] == '/');
}

}  // namespace

FileError RemoteFs::error(FileError::Kind kind, std::string_view op, std::string_view path, std::string_view what) {
  FileError e;
  e.kind = kind;
  e.message = std::string(op) + " " + std::string(path) + ": " + std::string(what);
  return e;
}

FileResult<std::string> RemoteFs::normalize(std::string_view path, std::string_view op) {
  if (path.find('\0') != std::string_view::npos)
    return error(FileError::Kind::invalid_path, op, "(path)", "a path may not contain a NUL byte");
  std::vector<std::string_view> segs;
  for (const std::string_view seg : split(path, '/')) {
    if (seg == "..") {
      if (segs.empty())
        return error(FileError::Kind::permission_denied, op, path, "\"..\" would leave the root (refused by the jail)");
      segs.pop_back();
    } else if (!seg.empty() && seg != ".") {
      segs.push_back(seg);
    }
  }
  std::string out;
  for (auto s : segs) {
    out.push_back('/');
    out.append(s);
  }
  if (out.empty()) out = "/";
  return out;
}

FileResult<std::string> RemoteFs::checked(std::string_view path, std::string_view op) {
  DS_TRY(std::string p, normalize(path, op));
  for (const auto& rule : options_.deny)
    if (rule.matches(op, p)) return error(FileError::Kind::permission_denied, op, p, "permission denied");
  DS_TRY(bool jailed, check_jail(p, op));
  (void)jailed;
  return p;
}

FileResult<RemoteStat> RemoteFs::stat(std::string_view path) {
  DS_TRY(std::string p, checked(path, "stat"));
  return do_stat(p, "stat");
}

FileResult<bool> RemoteFs::mkdir(std::string_view path) {
  DS_TRY(std::string p, checked(path, "mkdir"));
  if (p == "/") return error(FileError::Kind::failure, "mkdir", p, "already exists");
  const std::string parent = parent_of(p);
  auto ps = do_stat(parent, "mkdir");
  if (!ps.ok()) return error(FileError::Kind::no_such_file, "mkdir", p, "no such directory " + parent);
  if (!ps->directory) return error(FileError::Kind::failure, "mkdir", p, parent + " is not a directory");
  if (do_stat(p, "mkdir").ok()) return error(FileError::Kind::failure, "mkdir", p, "already exists");
  DS_TRY(bool made, do_mkdir(p));
  (void)made;
  ++version_;
  return true;
}

FileResult<bool> RemoteFs::mkdir_p(std::string_view path) {
  DS_TRY(std::string p, checked(path, "mkdir"));
  std::string prefix;
  for (const std::string_view seg : split(p, '/')) {
    if (seg.empty()) continue;  // the root ("/a/b" splits as "", "a", "b")
    prefix.append("/").append(seg);
    DS_TRY(std::string q, checked(prefix, "mkdir"));
    auto st = do_stat(q, "mkdir");
    if (st.ok()) {
      if (!st->directory) return error(FileError::Kind::failure, "mkdir", p, q + " is a file, not a directory");
      continue;
    }
    if (st.error().kind != FileError::Kind::no_such_file) return st.error();
    DS_TRY(bool made, do_mkdir(q));
    (void)made;
    ++version_;
  }
  return true;
}

FileResult<bool> RemoteFs::rmdir(std::string_view path) {
  DS_TRY(std::string p, checked(path, "rmdir"));
  if (p == "/") return error(FileError::Kind::permission_denied, "rmdir", p, "the root cannot be removed");
  DS_TRY(RemoteStat st, do_stat(p, "rmdir"));
  if (!st.directory) return error(FileError::Kind::failure, "rmdir", p, "not a directory");
  DS_TRY(auto entries, do_list(p));
  if (!entries.empty()) return error(FileError::Kind::failure, "rmdir", p, "directory not empty");
  DS_TRY(bool gone, do_rmdir(p));
  (void)gone;
  ++version_;
  return true;
}

FileResult<bool> RemoteFs::open_write(std::string_view path, bool truncate, bool exclusive) {
  DS_TRY(std::string p, checked(path, "put"));
  if (p == "/") return error(FileError::Kind::failure, "put", p, "is a directory");
  const std::string parent = parent_of(p);
  auto ps = do_stat(parent, "put");
  if (!ps.ok()) return error(FileError::Kind::no_such_file, "put", p, "no such directory " + parent);
  if (!ps->directory) return error(FileError::Kind::failure, "put", p, parent + " is not a directory");
  auto st = do_stat(p, "put");
  if (st.ok()) {
    if (st->directory) return error(FileError::Kind::failure, "put", p, "is a directory");
    if (exclusive) return error(FileError::Kind::failure, "put", p, "already exists (exclusive create)");
    if (truncate) {
      DS_TRY(bool made, do_create(p, true));
      (void)made;
      used_ -= st->size;
      ++version_;
    }
    return true;
  }
  if (st.error().kind != FileError::Kind::no_such_file) return st.error();
  DS_TRY(bool made, do_create(p, false));
  (void)made;
  ++version_;
  return true;
}

FileResult<bool> RemoteFs::write(std::string_view path, std::int64_t offset, std::string_view data) {
  DS_TRY(std::string p, checked(path, "put"));
  if (offset < 0) return error(FileError::Kind::failure, "put", p, "negative offset");
  DS_TRY(RemoteStat st, do_stat(p, "put"));
  if (st.directory) return error(FileError::Kind::failure, "put", p, "is a directory");
  const auto len = static_cast<std::int64_t>(data.size());
  std::int64_t n = len;
  bool full = false;
  if (options_.quota_bytes) {
    const std::int64_t room = std::max<std::int64_t>(0, *options_.quota_bytes - used_);
    // Bytes up to the current end cost nothing; beyond it, the room is what is left.
    const std::int64_t limit_end = st.size + room;
    if (offset + len > limit_end) {
      full = true;
      n = std::max<std::int64_t>(0, limit_end - offset);
    }
  }
  if (n > 0) {
    DS_TRY(bool wrote, do_write(p, offset, data.substr(0, static_cast<std::size_t>(n))));
    (void)wrote;
    used_ += std::max<std::int64_t>(0, offset + n - st.size);
    ++version_;
  }
  if (full)
    return error(FileError::Kind::no_space, "put", p,
                 "no space left: quota of " + std::to_string(*options_.quota_bytes) + " bytes reached after " +
                     std::to_string(n) + " of " + std::to_string(len) + " bytes");
  return true;
}

FileResult<std::string> RemoteFs::read(std::string_view path, std::int64_t offset, std::int64_t max_bytes) {
  DS_TRY(std::string p, checked(path, "get"));
  DS_TRY(RemoteStat st, do_stat(p, "get"));
  if (st.directory) return error(FileError::Kind::failure, "get", p, "is a directory");
  if (offset < 0 || max_bytes < 0) return error(FileError::Kind::failure, "get", p, "negative offset or length");
  if (offset >= st.size) return std::string();
  return do_read(p, offset, std::min(max_bytes, st.size - offset));
}

FileResult<std::string> RemoteFs::read_all(std::string_view path) {
  DS_TRY(std::string p, checked(path, "get"));
  DS_TRY(RemoteStat st, do_stat(p, "get"));
  if (st.directory) return error(FileError::Kind::failure, "get", p, "is a directory");
  return do_read(p, 0, st.size);
}

FileResult<bool> RemoteFs::put(std::string_view path, std::string_view data) {
  DS_TRY(bool opened, open_write(path, true, false));
  (void)opened;
  return write(path, 0, data);
}

FileResult<bool> RemoteFs::remove(std::string_view path) {
  DS_TRY(std::string p, checked(path, "remove"));
  DS_TRY(RemoteStat st, do_stat(p, "remove"));
  if (st.directory) return error(FileError::Kind::failure, "remove", p, "is a directory (use rmdir)");
  DS_TRY(bool gone, do_remove(p));
  (void)gone;
  used_ -= st.size;
  ++version_;
  return true;
}

FileResult<bool> RemoteFs::rename(std::string_view from, std::string_view to, bool overwrite) {
  DS_TRY(std::string f, checked(from, "rename"));
  DS_TRY(std::string t, checked(to, "rename"));
  if (f == "/" || t == "/") return error(FileError::Kind::permission_denied, "rename", f, "the root cannot be renamed");
  DS_TRY(RemoteStat fs, do_stat(f, "rename"));
  const std::string parent = parent_of(t);
  auto ps = do_stat(parent, "rename");
  if (!ps.ok()) return error(FileError::Kind::no_such_file, "rename", t, "no such directory " + parent);
  if (!ps->directory) return error(FileError::Kind::failure, "rename", t, parent + " is not a directory");
  if (f == t) return true;
  if (fs.directory && is_within(t, f))
    return error(FileError::Kind::failure, "rename", f, "cannot move a directory into itself (" + t + ")");
  auto ts = do_stat(t, "rename");
  std::int64_t replaced = 0;
  if (ts.ok()) {
    if (ts->directory) return error(FileError::Kind::failure, "rename", t, "the target is a directory");
    if (fs.directory) return error(FileError::Kind::failure, "rename", t, "the target exists and is not a directory");
    if (!overwrite) return error(FileError::Kind::failure, "rename", t, "the target exists (SFTP v3 rename does not replace)");
    replaced = ts->size;
  }
  DS_TRY(bool moved, do_rename(f, t));
  (void)moved;
  used_ -= replaced;
  ++version_;
  return true;
}

FileResult<std::vector<RemoteEntry>> RemoteFs::list(std::string_view path) {
  DS_TRY(std::string p, checked(path, "list"));
  DS_TRY(RemoteStat st, do_stat(p, "list"));
  if (!st.directory) return error(FileError::Kind::failure, "list", p, "not a directory");
  DS_TRY(auto entries, do_list(p));
  std::sort(entries.begin(), entries.end(), [](const RemoteEntry& a, const RemoteEntry& b) { return a.name < b.name; });
  return entries;
}

std::vector<std::string> RemoteFs::walk(bool directories) {
  std::vector<std::string> out;
  std::vector<std::string> stack = {"/"};
  while (!stack.empty()) {
    std::string dir = std::move(stack.back());
    stack.pop_back();
    auto entries = do_list(dir);
    if (!entries.ok()) continue;
    for (const auto& e : *entries) {
      if (e.directory) stack.push_back(join(dir, e.name));
      if (e.directory == directories) out.push_back(join(dir, e.name));
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> RemoteFs::all_files() { return walk(false); }

std::vector<std::string> RemoteFs::all_dirs() { return walk(true); }

// ---------------------------------------------------------------- in memory

namespace {

class MemoryFs final : public RemoteFs {
 public:
  explicit MemoryFs(RemoteFsOptions o) : RemoteFs(std::move(o)) { nodes_["/"] = Node{true, {}}; }

  Status clear() override {
    nodes_.clear();
    nodes_["/"] = Node{true, {}};
    used_ = 0;
    ++version_;
    return Status::success();
  }

 protected:
  struct Node {
    bool directory = false;
    std::string data;
  };

  FileResult<RemoteStat> do_stat(const std::string& p, std::string_view op) override {
    auto it = nodes_.find(p);
    if (it == nodes_.end()) {
      // A missing path under a file reads as "not a directory", which SFTP reports as no such file too.
      return error(FileError::Kind::no_such_file, op, p, "no such file or directory");
    }
    RemoteStat st;
    st.directory = it->second.directory;
    st.size = st.directory ? 0 : static_cast<std::int64_t>(it->second.data.size());
    st.permissions = st.directory ? (S_IFDIR | 0755) : (S_IFREG | 0644);
    return st;
  }
  FileResult<bool> do_mkdir(const std::string& p) override {
    nodes_[p] = Node{true, {}};
    return true;
  }
  FileResult<bool> do_rmdir(const std::string& p) override {
    nodes_.erase(p);
    return true;
  }
  FileResult<bool> do_create(const std::string& p, bool truncate) override {
    auto& n = nodes_[p];
    n.directory = false;
    if (truncate) n.data.clear();
    return true;
  }
  FileResult<bool> do_write(const std::string& p, std::int64_t offset, std::string_view data) override {
    auto& d = nodes_.at(p).data;
    const auto end = static_cast<std::size_t>(offset) + data.size();
    if (d.size() < end) d.resize(end, '\0');
    d.replace(static_cast<std::size_t>(offset), data.size(), data);
    return true;
  }
  FileResult<std::string> do_read(const std::string& p, std::int64_t offset, std::int64_t max_bytes) override {
    const auto& d = nodes_.at(p).data;
    return d.substr(static_cast<std::size_t>(offset), static_cast<std::size_t>(max_bytes));
  }
  FileResult<bool> do_remove(const std::string& p) override {
    nodes_.erase(p);
    return true;
  }
  FileResult<bool> do_rename(const std::string& from, const std::string& to) override {
    // Move the node and, for a directory, everything under it.
    std::vector<std::pair<std::string, Node>> moved;
    const std::string prefix = from + "/";
    for (auto it = nodes_.lower_bound(from); it != nodes_.end();) {
      if (it->first == from || it->first.compare(0, prefix.size(), prefix) == 0) {
        moved.emplace_back(to + it->first.substr(from.size()), std::move(it->second));
        it = nodes_.erase(it);
      } else if (it->first.compare(0, from.size(), from) == 0) {
        ++it;  // a sibling such as "/a.b" sorts between "/a" and "/a/"
      } else {
        break;
      }
    }
    for (auto& [k, n] : moved) nodes_[k] = std::move(n);
    return true;
  }
  FileResult<std::vector<RemoteEntry>> do_list(const std::string& p) override {
    std::vector<RemoteEntry> out;
    const std::string prefix = p == "/" ? "/" : p + "/";
    for (auto it = nodes_.lower_bound(prefix); it != nodes_.end(); ++it) {
      if (it->first.compare(0, prefix.size(), prefix) != 0) break;
      std::string_view rest = std::string_view(it->first).substr(prefix.size());
      if (rest.empty() || rest.find('/') != std::string_view::npos) continue;
      out.push_back(RemoteEntry{std::string(rest), it->second.directory,
                                it->second.directory ? 0 : static_cast<std::int64_t>(it->second.data.size())});
    }
    return out;
  }

 private:
  std::map<std::string, Node> nodes_;
};

// ---------------------------------------------------------------- on disk

FileError::Kind kind_of_errno(int err) {
  switch (err) {
    case ENOENT:
    case ENOTDIR: return FileError::Kind::no_such_file;
    case EACCES:
    case EPERM:
    case EROFS: return FileError::Kind::permission_denied;
    case ENOSPC:
    case EDQUOT: return FileError::Kind::no_space;
    default: return FileError::Kind::failure;
  }
}

std::string errno_text(int err) { return std::generic_category().message(err); }

// Closes a descriptor when it goes out of scope.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

class DiskFs final : public RemoteFs {
 public:
  DiskFs(std::string root, RemoteFsOptions o) : RemoteFs(std::move(o)), root_(std::move(root)) {}

  Status init() {
    std::int64_t total = 0;
    DS_CHECK(sum_sizes(root_, total));
    used_ = total;
    return Status::success();
  }

  Status clear() override { return Error::bad_input("the on-disk file system " + root_ + " is never cleared"); }

 protected:
  std::string host(const std::string& p) const { return p == "/" ? root_ : root_ + p; }

  FileError fail_errno(std::string_view op, const std::string& p, int err) const {
    return error(kind_of_errno(err), op, p, errno_text(err));
  }

  FileResult<bool> check_jail(const std::string& p, std::string_view op) override {
    // Find the longest existing prefix and resolve it: it must stay under the root.
    std::string probe = p;
    for (;;) {
      struct stat st;
      if (::lstat(host(probe).c_str(), &st) == 0) {
        char resolved[PATH_MAX];
        if (!::realpath(host(probe).c_str(), resolved))
          return error(FileError::Kind::permission_denied, op, p,
                       "a symbolic link that does not resolve inside the root (refused by the jail)");
        std::string r(resolved);
        if (root_ != "/" && !(r == root_ || (r.size() > root_.size() && r.compare(0, root_.size(), root_) == 0 && r[root_.size()] == '/')))
          return error(FileError::Kind::permission_denied, op, p,
                       "a symbolic link leads outside the root (refused by the jail)");
        return true;
      }
      if (probe == "/") return true;
      probe = parent_of(probe);
    }
  }

  FileResult<RemoteStat> do_stat(const std::string& p, std::string_view op) override {
    struct stat st;
    if (::stat(host(p).c_str(), &st) != 0) return fail_errno(op, p, errno);
    RemoteStat out;
    out.directory = S_ISDIR(st.st_mode);
    out.size = S_ISREG(st.st_mode) ? static_cast<std::int64_t>(st.st_size) : 0;
    out.permissions = static_cast<std::uint32_t>(st.st_mode);
    out.mtime_s = static_cast<std::int64_t>(st.st_mtim.tv_sec);
    return out;
  }
  FileResult<bool> do_mkdir(const std::string& p) override {
    if (::mkdir(host(p).c_str(), 0755) != 0) return fail_errno("mkdir", p, errno);
    return true;
  }
  FileResult<bool> do_rmdir(const std::string& p) override {
    if (::rmdir(host(p).c_str()) != 0) return fail_errno("rmdir", p, errno);
    return true;
  }
  FileResult<bool> do_create(const std::string& p, bool truncate) override {
    Fd f{::open(host(p).c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | (truncate ? O_TRUNC : 0), 0644)};
    if (f.fd < 0) return fail_errno("put", p, errno);
    return true;
  }
  FileResult<bool> do_write(const std::string& p, std::int64_t offset, std::string_view data) override {
    Fd f{::open(host(p).c_str(), O_WRONLY | O_CLOEXEC)};
    if (f.fd < 0) return fail_errno("put", p, errno);
    std::size_t done = 0;
    while (done < data.size()) {
      ssize_t n = ::pwrite(f.fd, data.data() + done, data.size() - done, static_cast<off_t>(offset + done));
      if (n < 0) {
        if (errno == EINTR) continue;
        return fail_errno("put", p, errno);
      }
      done += static_cast<std::size_t>(n);
    }
    return true;
  }
  FileResult<std::string> do_read(const std::string& p, std::int64_t offset, std::int64_t max_bytes) override {
    Fd f{::open(host(p).c_str(), O_RDONLY | O_CLOEXEC)};
    if (f.fd < 0) return fail_errno("get", p, errno);
    std::string out(static_cast<std::size_t>(max_bytes), '\0');
    std::size_t done = 0;
    while (done < out.size()) {
      ssize_t n = ::pread(f.fd, out.data() + done, out.size() - done, static_cast<off_t>(offset + done));
      if (n < 0) {
        if (errno == EINTR) continue;
        return fail_errno("get", p, errno);
      }
      if (n == 0) break;
      done += static_cast<std::size_t>(n);
    }
    out.resize(done);
    return out;
  }
  FileResult<bool> do_remove(const std::string& p) override {
    if (::unlink(host(p).c_str()) != 0) return fail_errno("remove", p, errno);
    return true;
  }
  FileResult<bool> do_rename(const std::string& from, const std::string& to) override {
    if (::rename(host(from).c_str(), host(to).c_str()) != 0) return fail_errno("rename", from, errno);
    return true;
  }
  FileResult<std::vector<RemoteEntry>> do_list(const std::string& p) override {
    DIR* d = ::opendir(host(p).c_str());
    if (!d) return fail_errno("list", p, errno);
    std::vector<RemoteEntry> out;
    while (dirent* e = ::readdir(d)) {
      std::string name = e->d_name;
      if (name == "." || name == "..") continue;
      RemoteEntry r;
      r.name = name;
      struct stat st;
      const std::string hp = host(join(p, name));
      if (::lstat(hp.c_str(), &st) == 0) {
        if (S_ISLNK(st.st_mode)) {
          // A link is listed as what it points to when that stays inside; otherwise as a file of size 0.
          if (check_jail(join(p, name), "list").ok() && ::stat(hp.c_str(), &st) == 0) {
            r.directory = S_ISDIR(st.st_mode);
            r.size = S_ISREG(st.st_mode) ? static_cast<std::int64_t>(st.st_size) : 0;
          }
        } else {
          r.directory = S_ISDIR(st.st_mode);
          r.size = S_ISREG(st.st_mode) ? static_cast<std::int64_t>(st.st_size) : 0;
        }
      }
      out.push_back(std::move(r));
    }
    ::closedir(d);
    return out;
  }

 private:
  static Status sum_sizes(const std::string& dir, std::int64_t& total) {
    DIR* d = ::opendir(dir.c_str());
    if (!d) return Error::io(dir + ": cannot read the directory: " + errno_text(errno));
    std::vector<std::string> subdirs;
    while (dirent* e = ::readdir(d)) {
      std::string name = e->d_name;
      if (name == "." || name == "..") continue;
      struct stat st;
      const std::string hp = dir + "/" + name;
      if (::lstat(hp.c_str(), &st) != 0) continue;
      if (S_ISREG(st.st_mode)) total += static_cast<std::int64_t>(st.st_size);
      else if (S_ISDIR(st.st_mode)) subdirs.push_back(hp);
    }
    ::closedir(d);
    for (const auto& s : subdirs) DS_CHECK(sum_sizes(s, total));
    return Status::success();
  }

  std::string root_;
};

}  // namespace

std::unique_ptr<RemoteFs> RemoteFs::in_memory(RemoteFsOptions options) {
  return std::make_unique<MemoryFs>(std::move(options));
}

Result<std::unique_ptr<RemoteFs>> RemoteFs::on_disk(const std::string& root, RemoteFsOptions options) {
  char resolved[PATH_MAX];
  if (!::realpath(root.c_str(), resolved)) return Error::io("--root " + root + ": " + errno_text(errno));
  struct stat st;
  if (::stat(resolved, &st) != 0 || !S_ISDIR(st.st_mode)) return Error::bad_input("--root " + root + ": not a directory");
  auto fs = std::make_unique<DiskFs>(resolved, std::move(options));
  DS_CHECK(fs->init());
  return std::unique_ptr<RemoteFs>(std::move(fs));
}

}  // namespace destsim
