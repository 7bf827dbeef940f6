// file_transport.h — how a file destination talks to a remote file system
// (SFTP), whichever door is behind it: the simulator's in-process door
// (fakes/sftp, virtual time, faults from the fault plan) or a real server
// (the libssh client, real mode: framework/real/libssh_file_transport.h). A
// destination never opens a real session itself: the real-mode caller hands it
// a `FileSessionOpener` (destinations/destination.h, DeliveryContext).
//
// Paths are absolute on the remote side ("/exports/dest_1/run_7/file.csv").
// Every operation answers Status: ok, or an error whose FileError kind says
// whether trying again later can help (disconnected, timeout, no_space) or not
// (auth_failed, permission_denied, no_such_file, invalid_path, failure).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "framework/result.h"
#include "framework/task.h"
#include "framework/time.h"

namespace destsim {

struct FileError {
  enum class Kind { disconnected, timeout, no_space, auth_failed, permission_denied, no_such_file, invalid_path, failure };
  Kind kind = Kind::failure;
  std::string message;  // names the operation, the path and the server's words
  /// Worth retrying later: the connection dropped, the server did not answer,
  /// or the disk was full (space may free up).
  bool transient() const { return kind == Kind::disconnected || kind == Kind::timeout || kind == Kind::no_space; }
};
const char* file_error_kind_name(FileError::Kind kind);

template <typename T>
using FileResult = Result<T, FileError>;

struct RemoteEntry {
  std::string name;  // a name in the listed directory, no slashes
  bool directory = false;
  std::int64_t size = 0;
};

class FileTransport {
 public:
  virtual ~FileTransport() = default;
  /// Opens a session (authenticates). Calling it while connected is a no-op.
  virtual Task<FileResult<bool>> connect() = 0;
  virtual void disconnect() = 0;
  virtual bool connected() const = 0;
  /// Creates a directory and its missing parents; existing ones are fine.
  virtual Task<FileResult<bool>> mkdir_p(std::string path) = 0;
  /// Writes a whole file (create or truncate), in chunks; a failure part-way
  /// may leave a partial file behind (the caller writes to a temporary name).
  virtual Task<FileResult<bool>> put(std::string path, std::string data) = 0;
  /// Renames, replacing `to` if it exists (posix-rename@openssh.com where the
  /// server offers it; otherwise remove-then-rename, which the caller accepts).
  virtual Task<FileResult<bool>> rename(std::string from, std::string to) = 0;
  virtual Task<FileResult<bool>> remove(std::string path) = 0;
  /// Lists a directory (no "." or ".."); no_such_file when it does not exist.
  virtual Task<FileResult<std::vector<RemoteEntry>>> list(std::string path) = 0;
  /// Reads a whole file (tests and verification).
  virtual Task<FileResult<std::string>> get(std::string path) = 0;
};

/// How a real file server's host key is checked.
enum class HostKeyPolicy {
  strict,      // must be in the known_hosts file
  accept_new,  // an unknown host is added to known_hosts; a changed key is refused
  accept_any,  // no check (tests against a throwaway server only)
};
const char* host_key_policy_name(HostKeyPolicy p);
/// "strict", "accept_new" or "accept_any"; an error names `where`.
Result<HostKeyPolicy> parse_host_key_policy(std::string_view text, std::string_view where);

/// Where a real-mode file session connects and how it logs in.
struct FileSessionOptions {
  std::string host = "127.0.0.1";
  int port = 22;
  std::string user;
  /// Password authentication when set; otherwise `private_key`.
  std::string password;
  /// A private key: PEM/OpenSSH text ("-----BEGIN …") or the path of a key file.
  std::string private_key;
  HostKeyPolicy host_key = HostKeyPolicy::strict;
  /// known_hosts file; empty = the client's default (~/.ssh/known_hosts).
  std::string known_hosts;
  Duration connect_timeout = std::chrono::seconds(10);
  /// Longest wait for one server reply.
  Duration op_timeout = std::chrono::seconds(30);
};

/// Opens a real-mode file session (not yet connected). The real-mode caller
/// builds one (framework/real: libssh_session_opener) and injects it.
using FileSessionOpener = std::function<std::unique_ptr<FileTransport>(FileSessionOptions options)>;

}  // namespace destsim
