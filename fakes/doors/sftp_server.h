// sftp_server.h — the SFTP fake's real door: an SSH/SFTP server on libssh.
//
// Listens on 127.0.0.1 (a free port when `port` is 0), authenticates one user
// by password and/or public key (an OpenSSH authorized_keys file), and serves
// SFTP v3 over the `sftp` subsystem. The SFTP packets are framed, parsed and
// answered by the door itself (sftp_wire.h), not by libssh's server parser,
// which cuts names at NUL: OPEN, CLOSE, READ, WRITE, LSTAT/STAT/FSTAT,
// SETSTAT/FSETSTAT, OPENDIR/READDIR, REMOVE, MKDIR, RMDIR, REALPATH, RENAME (no
// overwrite, as v3 says) and the extension posix-rename@openssh.com (atomic
// replace). READLINK, SYMLINK and other extensions answer OP_UNSUPPORTED: no
// client can make a link. A name carrying NUL or a control character
// (0x00-0x1F, 0x7F) is refused with SSH_FX_FAILURE naming the byte.
// SETSTAT honours the permission bits (0777) and the times on disk, so a later
// STAT reports them; uid/gid, setuid/setgid/sticky bits, a size change and
// extended attributes answer OP_UNSUPPORTED and change nothing.
//
// Logins: `max_sessions` bounds the *authenticated* sessions (a login beyond it
// is refused and closed); connections not yet logged in are bounded apart
// (`max_unauthenticated`) and closed after `login_timeout`, so silent TCP
// connects cannot lock a user out. Each failed password or signed-key attempt
// is answered after a delay that doubles per failure from the same address
// (`auth_failure_delay` up to `auth_failure_delay_max`; a login resets it), and
// a session closes after `auth_attempts_max` failed attempts.
//
// Every path goes through the on-disk RemoteFs (remote_fs.h) jailed under
// `root`: ".." above the root and symbolic links that lead outside are refused
// with SSH_FX_PERMISSION_DENIED; the quota answers SSH_FX_NO_SPACE_ON_FILESYSTEM
// (14). The fault plan applies with the operation names of sftp_fake.h: a
// decision is made once per operation (for an upload, at OPEN; its latency is
// then paid on every WRITE). Faults at the server:
//   connect: outage → the connection is closed before the SSH handshake;
//            respond → every authentication is refused; reset → closed after
//            the handshake; timeout → authentication is never answered.
//   respond → that SFTP status (HTTP-style codes map as in sftp_status_kind);
//   reset   → the session is closed ("after": once the operation is done; for
//             put, after half of the first WRITE's bytes are written);
//   timeout → the session stops answering (until the client leaves, the idle
//             timeout or stop());
//   outage  → the session is closed;
//   too_large → a WRITE past max_body bytes fails (SSH_FX_FAILURE); these rules
//             are checked on every WRITE and are not counted as applied;
//   garble  → put: each written chunk has one byte flipped; get: each read
//             chunk has one byte flipped (lengths are kept: offsets matter);
//   latency → a real delay (per WRITE for put).
// What the server accepted is kept in an SftpLedger: `accepted()` and
// `applied(path)` as for the sim door.
//
// Threads: one accept thread, one thread per session (threads in fakes/ live
// only in fakes/doors/, which the determinism lint exempts). `stop()` stops accepting, shuts every session
// socket down and joins all threads.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "fakes/fault_plan.h"
#include "fakes/sftp/remote_fs.h"
#include "fakes/sftp/sftp_fake.h"
#include "framework/result.h"
#include "framework/time.h"

namespace destsim {

struct SftpServerOptions {
  std::string bind = "127.0.0.1";
  int port = 0;               // 0: a free port (see SftpServer::port())
  std::string root;           // the directory served as "/" (must exist)
  std::string user;           // the one user that may log in
  std::string password;       // empty: no password login
  std::string authorized_keys_file;  // empty: no public-key login
  /// The host key (OpenSSH private key file). Missing: an ed25519 key is
  /// generated and written there on first start. Empty: an ephemeral key.
  std::string host_key_file;
  std::optional<FaultPlan> faults;
  std::uint64_t seed = 1;     // for probabilistic fault rules
  /// Authenticated sessions at once; a login beyond them is refused and closed.
  int max_sessions = 8;
  /// Connections not logged in yet; more are closed at once (they are short-lived: login_timeout).
  int max_unauthenticated = 32;
  /// A connection that has not logged in this long after connecting is closed.
  Duration login_timeout = std::chrono::seconds(10);
  /// Failed password/key attempts after which a session is closed.
  int auth_attempts_max = 6;
  /// The delay before answering a failed attempt; it doubles with each failure
  /// from the same address (up to the max) until a login from there succeeds.
  Duration auth_failure_delay = std::chrono::milliseconds(200);
  Duration auth_failure_delay_max = std::chrono::seconds(5);
  Duration idle_timeout = std::chrono::seconds(60);  // a silent session is closed
  RemoteFsOptions fs;         // quota and deny rules
  /// The tree lives in memory (root unused; SETSTAT is refused): for the fuzz
  /// target and tests that drive SftpPacketSession without a socket.
  bool in_memory = false;
};

class SftpServer {
 public:
  explicit SftpServer(SftpServerOptions options);
  ~SftpServer();  // stop()
  SftpServer(const SftpServer&) = delete;
  SftpServer& operator=(const SftpServer&) = delete;

  /// Checks the options and opens the tree, without listening (start() calls
  /// it when it was not called). Errors name the option at fault.
  Status prepare();
  /// Binds, loads or generates the host key, and starts accepting. Errors name
  /// the option at fault (root, host key, authorized keys, port).
  Status start();
  /// The port listened on (after start()).
  int port() const { return port_; }
  /// The host key's SHA256 fingerprint ("SHA256:…").
  const std::string& host_key_fingerprint() const { return fingerprint_; }
  /// Stops accepting, closes every session and joins every thread. Idempotent.
  void stop();

  /// Sessions that ended so far (authenticated or not).
  std::int64_t sessions_finished() const;
  /// What the server accepted (SftpLedger JSON + "used_bytes").
  nlohmann::json accepted() const;
  /// Complete files committed at `path` (see sftp_fake.h, the oracle).
  std::int64_t applied(const std::string& path) const;
  /// Every directory and file in the tree now (normalised paths, "/" left out).
  std::vector<std::string> paths() const;

  struct Impl;

 private:
  friend class SftpPacketSession;
  std::unique_ptr<Impl> impl_;
  int port_ = 0;
  std::string fingerprint_;
};

/// One SFTP session without a socket or SSH: the bytes a client sends on the
/// `sftp` channel in, the bytes the server answers out, over a prepare()d
/// server's tree as its logged-in user (the fault plan applies). The real
/// sessions run exactly this code; the fuzz target and tests drive it directly.
class SftpPacketSession {
 public:
  explicit SftpPacketSession(SftpServer& server);
  ~SftpPacketSession();
  SftpPacketSession(const SftpPacketSession&) = delete;
  SftpPacketSession& operator=(const SftpPacketSession&) = delete;

  /// Takes client bytes (split anywhere) and returns the server's answers.
  /// Nothing once closed().
  std::string feed(std::string_view bytes);
  /// As the real session does: takes the bytes but answers at most about
  /// 1 MiB (kPendingOutMax); call again with no bytes for the rest.
  std::string feed_once(std::string_view bytes);
  /// The session ended: a fault closed it, or the client broke the protocol
  /// (a packet before INIT, over sftp_wire::kPacketBytesMax, or without an id).
  bool closed() const;

 private:
  struct State;
  std::unique_ptr<State> st_;
};

}  // namespace destsim
