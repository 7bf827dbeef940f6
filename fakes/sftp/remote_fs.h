// remote_fs.h — the model of a remote file system behind the SFTP fake.
//
// One API, two backends:
//   - in memory (the simulator's door): a tree of directories and files;
//   - on disk (the real server's door, `destsim serve sftp --root DIR`): the
//     same operations on a real directory, every path jailed under the root.
// Both share the checks that make the fake stricter than a real server:
//   - the jail: a remote path is normalised against "/" (the root); a `..` that
//     would climb above the root is refused (permission_denied), and on disk a
//     symbolic link that resolves outside the root is refused as well;
//   - deny rules: an operation on a path matching a rule's glob is refused
//     (permission_denied), e.g. a read-only tree or a write-only drop box;
//   - the quota: the bytes of all files together never exceed `quota_bytes`; a
//     write that does not fit writes what fits and fails no_space, like a disk
//     that fills up part-way through a file.
// Errors are FileError values (framework/file_transport.h) whose message names
// the operation and the remote path. Nothing here reads the clock or draws
// randomness; the caller (the sim door or the server) owns time and faults.
// The model is not thread-safe: the real server serialises calls into it.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "framework/file_transport.h"
#include "framework/result.h"

namespace destsim {

/// The operation names shared by fault rules and deny rules (both doors).
/// The first seven are FileTransport's; the last three exist only at the real
/// server (SFTP messages with no FileTransport counterpart).
inline constexpr const char* kSftpOperations[] = {"connect", "mkdir", "put",      "rename", "remove",
                                                  "list",    "get",   "rmdir",    "stat",   "realpath"};
bool is_sftp_operation(std::string_view op);

/// Refuses operation(s) on paths matching a glob ('*' matches any run of
/// characters, '/' included): permission_denied.
struct SftpDenyRule {
  std::vector<std::string> ops;  // empty = every operation
  std::string path;              // glob over the normalised path ("/readonly/*")
  bool matches(std::string_view op, std::string_view path) const;
};

struct RemoteFsOptions {
  /// Total bytes of all files; unset = unlimited.
  std::optional<std::int64_t> quota_bytes;
  std::vector<SftpDenyRule> deny;
};

struct RemoteStat {
  bool directory = false;
  std::int64_t size = 0;
  std::uint32_t permissions = 0;  // POSIX mode bits incl. the file type (S_IFDIR/S_IFREG)
  std::int64_t mtime_s = 0;       // disk backend only; 0 in memory (no clock here)
};

class RemoteFs {
 public:
  virtual ~RemoteFs() = default;

  /// An empty in-memory tree (just "/").
  static std::unique_ptr<RemoteFs> in_memory(RemoteFsOptions options = {});
  /// The directory `root` on disk (it must exist); bytes already under it count
  /// toward the quota. An error names the root.
  static Result<std::unique_ptr<RemoteFs>> on_disk(const std::string& root, RemoteFsOptions options = {});

  /// Normalises a remote path: relative paths are taken against "/", empty
  /// and "." segments are dropped, ".." removes the previous segment. A ".."
  /// above the root → permission_denied; a NUL byte → invalid_path. `op` names
  /// the operation in the error.
  static FileResult<std::string> normalize(std::string_view path, std::string_view op = "path");

  const RemoteFsOptions& options() const { return options_; }
  /// The normalised path if `op` may act on `path` (the jail and the deny
  /// rules), as every operation checks it; for operations the tree has no call
  /// for (the real server's SETSTAT checks "put": a mode change is a write).
  FileResult<std::string> allowed(std::string_view path, std::string_view op) { return checked(path, op); }
  /// Replaces the quota and deny rules (e.g. after seeding the initial tree).
  void set_options(RemoteFsOptions options) { options_ = std::move(options); }
  /// Bytes held by all files now.
  std::int64_t used_bytes() const { return used_; }
  /// Bumped by every change to the tree (for caches over its content).
  std::uint64_t version() const { return version_; }

  /// The status of a path (a symlink is not followed; one leaving the jail is refused).
  FileResult<RemoteStat> stat(std::string_view path);
  /// Creates one directory; its parent must exist; an existing path → failure.
  FileResult<bool> mkdir(std::string_view path);
  /// Creates a directory and its missing parents; existing directories are fine.
  FileResult<bool> mkdir_p(std::string_view path);
  /// Removes an empty directory.
  FileResult<bool> rmdir(std::string_view path);
  /// Opens a file for writing: creates it if missing (its directory must
  /// exist), truncates it when `truncate`, fails when `exclusive` and it exists.
  FileResult<bool> open_write(std::string_view path, bool truncate, bool exclusive);
  /// Writes `data` at `offset` of an existing file (extending it). When the
  /// quota cannot hold it all, writes the prefix that fits and fails no_space.
  FileResult<bool> write(std::string_view path, std::int64_t offset, std::string_view data);
  /// Reads up to `max_bytes` at `offset` (empty at or past the end).
  FileResult<std::string> read(std::string_view path, std::int64_t offset, std::int64_t max_bytes);
  /// A whole file.
  FileResult<std::string> read_all(std::string_view path);
  /// A whole file in one go: open_write(truncate) + write. Checked as "put".
  FileResult<bool> put(std::string_view path, std::string_view data);
  /// Removes a file (not a directory).
  FileResult<bool> remove(std::string_view path);
  /// Renames a file or directory. An existing target file is replaced when
  /// `overwrite` (posix-rename) and refused (failure) otherwise (SFTP v3
  /// RENAME); a directory target is always refused.
  FileResult<bool> rename(std::string_view from, std::string_view to, bool overwrite);
  /// A directory's entries, sorted by name (no "." or "..").
  FileResult<std::vector<RemoteEntry>> list(std::string_view path);
  /// Every file under the root, in path order: its normalised path.
  std::vector<std::string> all_files();
  /// Every directory under the root (not "/"), in name order.
  std::vector<std::string> all_dirs();
  /// Removes everything (memory backend: back to an empty "/"; disk: refused).
  virtual Status clear() = 0;

 protected:
  explicit RemoteFs(RemoteFsOptions options) : options_(std::move(options)) {}

  // Backend operations on normalised paths ("/a/b"); the checks (jail, deny
  // rules, quota) are done by the public functions before these are called.
  virtual FileResult<RemoteStat> do_stat(const std::string& p, std::string_view op) = 0;
  virtual FileResult<bool> do_mkdir(const std::string& p) = 0;
  virtual FileResult<bool> do_rmdir(const std::string& p) = 0;
  virtual FileResult<bool> do_create(const std::string& p, bool truncate) = 0;
  virtual FileResult<bool> do_write(const std::string& p, std::int64_t offset, std::string_view data) = 0;
  virtual FileResult<std::string> do_read(const std::string& p, std::int64_t offset, std::int64_t max_bytes) = 0;
  virtual FileResult<bool> do_remove(const std::string& p) = 0;
  virtual FileResult<bool> do_rename(const std::string& from, const std::string& to) = 0;
  virtual FileResult<std::vector<RemoteEntry>> do_list(const std::string& p) = 0;
  /// Disk: refuses a path whose existing part resolves outside the root.
  virtual FileResult<bool> check_jail(const std::string& p, std::string_view op) { (void)p, (void)op; return true; }

  /// Every file (or every directory but "/") under the root, sorted by path.
  std::vector<std::string> walk(bool directories);

  /// Normalise + jail + deny rules for one operation on one path.
  FileResult<std::string> checked(std::string_view path, std::string_view op);
  static FileError error(FileError::Kind kind, std::string_view op, std::string_view path, std::string_view what);

  RemoteFsOptions options_;
  std::int64_t used_ = 0;
  std::uint64_t version_ = 0;
};

}  // namespace destsim
