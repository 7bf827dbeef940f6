// sftp_fake.h — a stateful fake SFTP server (issue #5), and its sim door.
//
// One model of a remote file system (RemoteFs, remote_fs.h) with two doors:
// the in-process door here (`sim_transport`: a FileTransport running in the
// loop's virtual time) and a real SSH/SFTP server on libssh (fakes/doors/sftp_server.h,
// `destsim serve sftp`). Both doors take faults from the same FaultPlan.
//
// ---------------------------------------------------------------- CONTRACT
// Operations (FaultRule::method; also the names in deny rules):
//   connect  mkdir  put  rename  remove  list  get
// (the real server also matches rmdir, stat and realpath). FaultRule::host is
// "sftp"; FaultRule::path is the remote path as the client gave it (for
// `rename`, the source; for `connect`, "/").
//
// Login (`sim_transport`'s `login`, from DestinationEntry::file_login):
//   {"user": "...", "password": "..."}  or  {"user": "...", "private_key": "<key text or a file path>"}
// A wrong password, a key not authorised for the user, an unknown user or a
// login without user/credential → auth_failed. With no `users` option the
// server is open: any non-empty user with a non-empty password or a readable
// private key logs in.
//
// Every operation but connect needs a session: without one it fails at once
// with `disconnected` ("not connected"). connect() while connected is a no-op.
// Each operation takes `latency` of virtual time (one round trip), plus the
// fault plan's latency; for `put` the fault latency is paid per 32 KiB chunk
// (a slow disk), so slow writes scale with the file.
//
// Fault rules (fakes/fault_plan.h), first deciding rule wins:
//   latency     slower operation (added to `latency`; per chunk for put)
//   respond     the server answers an SFTP status instead of doing the operation:
//                 2 → no_such_file, 3 → permission_denied, 14 → no_space,
//                 6/7 (no connection / connection lost) → disconnected,
//                 any other (1, 4, 5, 8, …) → failure;
//               on `connect` any respond → auth_failed. The session stays up.
//   reset       disconnect. "before": nothing is done. "after": the operation is
//               done and its answer lost — except `put`, where "after" leaves a
//               partial file of the first half of the bytes (disconnect
//               mid-upload). The session is gone: the next operation needs connect().
//   timeout     no answer: FileError timeout after `timeout` of virtual time
//               ("after": the operation was done). The session is dropped too
//               (as the real client closes it so a late answer is never taken
//               for the next one).
//   outage      every matching operation fails `disconnected` ("connection
//               refused"); an established session is dropped.
//   too_large   `put` of more than max_body bytes → failure ("file too large").
//   garble      only on `put` (the stored bytes are corrupted: a faulty disk)
//               or `get` (the returned bytes are corrupted).
//   rate_limit  has no SFTP meaning: rejected (check_sftp_fault_plan), and an
//               operation it decides fails `failure` naming the rule.
// Model errors (not faults): quota exceeded → no_space (a partial file stays);
// a deny rule → permission_denied; a path climbing above the root with ".." →
// permission_denied; a missing file or directory → no_such_file; an existing
// directory where a file is wanted (or the reverse) → failure.
//
// The oracle (Fake::applied):
//   - a key starting with '/' is a final path: how many times a *complete*
//     file was committed there (a put that wrote every byte, or a rename of
//     such a file onto it). Partial files never count.
//   - a key "sftp.row#<hash>" (destinations/sftp/file_format.h row_effect_key)
//     counts the rows with that key in every file in place now: files whose
//     name does not start with '.', ending in .csv, .jsonl or .json (optionally
//     .gz, inflated). CSV row = the non-empty cells keyed by header; JSONL row =
//     the line's JSON object; key = oracle_key("sftp.row", row).
// ------------------------------------------------------------------------
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "fakes/fake_api.h"
#include "fakes/fault_plan.h"
#include "fakes/sftp/remote_fs.h"
#include "framework/file_transport.h"
#include "framework/result.h"
#include "framework/rng.h"
#include "framework/time.h"

struct ssh_key_struct;  // libssh's ssh_key, for key_authorized

namespace destsim {

struct SftpUser {
  std::string name;
  std::string password;                      // empty: no password login
  std::vector<std::string> authorized_keys;  // OpenSSH public key lines ("ssh-ed25519 AAAA… comment")
};

struct SftpFakeOptions {
  /// Who may log in; empty = any user with a password or a private key.
  std::vector<SftpUser> users;
  /// The file system's quota and deny rules.
  RemoteFsOptions fs;
  /// Directories and files present at the start (and after reset()).
  std::vector<std::string> dirs;
  std::map<std::string, std::string> files;  // path → content
  /// The common "latency" option (fakes/fake_options.h): added to every operation.
  Duration latency{0};

  /// Reads options from JSON; errors name `where` and the key:
  ///   {"users": [{"name": "u", "password": "p"} | {"name": "u", "authorized_keys": ["ssh-ed25519 …"]}],
  ///    "quota_bytes": 1000000 | "1MB",
  ///    "deny": [{"ops": ["put", "rename"], "path": "/readonly/*"}],
  ///    "dirs": ["/exports"], "files": {"/exports/old.csv": "a,b\r\n"}, "latency": "5ms"}
  static Result<SftpFakeOptions> from_json(const nlohmann::json& j, const std::string& where);
};

/// What a fault plan decided for one SFTP operation (both doors).
struct SftpFault {
  enum class Action { none, fail, disconnect, timeout, refuse, too_large, garble, unsupported };
  Action action = Action::none;
  bool after = false;      // reset/timeout: the operation is done first
  int status = 0;          // fail: the SFTP status code
  Duration latency{0};     // added delay (per chunk for put)
  int rule = -1;           // the deciding rule, or -1
  std::string rule_text;   // its description, for messages
};

/// Decides the faults of one operation. `bytes` is the size of a put.
SftpFault decide_sftp_fault(FaultPlan& plan, std::string_view op, std::string_view path, std::size_t bytes,
                            Duration since_start, Rng& rng);
/// The FileError kind of an SFTP status code (see the contract above).
FileError::Kind sftp_status_kind(int status);
/// Fails on a rule the SFTP doors cannot apply (rate_limit, garble on other
/// operations than put/get, a method that is no SFTP operation, a respond
/// status outside 1..31 and 100..599), naming the JSON path `where`/<i>/<key>
/// (Fake::check_fault_plan's convention) and why.
Status check_sftp_fault_plan(const FaultPlan& plan, std::string_view where);

/// The public key lines of an authorized_keys file text (comments and blank
/// lines skipped); an error names `where` and the line.
Result<std::vector<std::string>> parse_authorized_keys(std::string_view text, std::string_view where);
/// True when `private_key` (key text "-----BEGIN …" or a file path) is the
/// private half of one of `authorized_keys`.
bool private_key_matches(std::string_view private_key, const std::vector<std::string>& authorized_keys);
/// True when libssh's `key` (an ssh_key) has the public half of one of `authorized_keys`.
bool key_authorized(ssh_key_struct* key, const std::vector<std::string>& authorized_keys);

/// The oracle keys of the rows of one file (see the contract); empty for a
/// file the oracle does not read. `name` is the file's base name.
std::vector<std::string> sftp_row_keys(std::string_view name, std::string_view content);
/// The same rows' hashes: each key is "sftp.row#" + hex16(hash).
std::vector<std::uint64_t> sftp_row_hashes(std::string_view name, std::string_view content);

/// What a fake server accepted: complete files committed, per-operation
/// counts, logins. Shared by the sim door and the real server.
class SftpLedger {
 public:
  /// A put/close that wrote a whole file at `path`.
  void committed(const std::string& path, std::int64_t bytes, std::string_view via);
  /// A file at `path` that is not a complete upload (partial, or truncated).
  void incomplete(const std::string& path);
  /// A successful rename: a complete source commits at `to`.
  void renamed(const std::string& from, const std::string& to, std::int64_t bytes);
  void removed(const std::string& path);
  void count(std::string_view what) { ++counts_[std::string(what)]; }
  std::int64_t commits_at(const std::string& path) const;
  nlohmann::json to_json() const;
  void clear();

 private:
  std::set<std::string> complete_;                // files in place that were written whole
  std::map<std::string, std::int64_t> commits_;   // final path → complete files committed there
  std::vector<nlohmann::json> log_;               // every commit in order
  std::map<std::string, std::int64_t> counts_;
};

class SftpFake final : public FileFake {
 public:
  explicit SftpFake(SftpFakeOptions options = {});

  std::string name() const override { return "sftp"; }
  /// {"files": {path: {"bytes", "commits"}}, "dirs": [...], "commits": [{"path",
  ///  "bytes", "via"}], "counts": {op or outcome: n}, "used_bytes": n}
  nlohmann::json accepted() const override;
  void reset() override;
  std::int64_t applied(const std::string& key) const override;
  /// Operations (Fake::control): set_password {user, password}, write_file
  /// {path, content}, remove PATH, set_quota SIZE|null, deny {ops?, path}.
  Status control(const JsonIn& op, Time now) override;
  std::string control_ops() const override { return "set_password, write_file, remove, set_quota, deny"; }
  std::unique_ptr<FileTransport> sim_transport(Loop& loop, FaultPlan* plan, Duration latency, Duration timeout,
                                               const nlohmann::json& login) override;
  /// check_sftp_fault_plan: the SFTP doors' rules.
  Status check_fault_plan(const FaultPlan& plan, std::string_view where) const override;

  /// Checks a login (see the contract): ok, or auth_failed naming why.
  FileResult<bool> authenticate(const nlohmann::json& login) const;

  RemoteFs& fs() { return *fs_; }
  const RemoteFs& fs() const { return *fs_; }
  SftpLedger& ledger() { return ledger_; }
  const SftpFakeOptions& options() const { return options_; }

 private:
  void seed_tree();

  SftpFakeOptions options_;
  std::unique_ptr<RemoteFs> fs_;
  SftpLedger ledger_;
  // Row-key index over the files in place, rebuilt when the tree changed.
  mutable std::uint64_t rows_version_ = ~std::uint64_t{0};
  mutable std::map<std::uint64_t, std::int64_t> rows_;  // row hash (sftp_row_hashes) → copies in place
};

}  // namespace destsim
