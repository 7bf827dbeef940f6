// sftp_wire.h — SFTP v3 packets on the wire (draft-ietf-secsh-filexfer-02),
// decoded and encoded by the SFTP server door itself.
//
// libssh 0.10's server-side SFTP parser reads every name as a C string (a name
// is silently cut at its first NUL) and hands out handles from a table with an
// off-by-one bound. The door therefore frames, parses and answers SFTP packets
// on its own over the raw channel bytes; the same code is driven without a
// socket by the fuzz target (fuzz/fuzz_sftp.cpp). Nothing here touches the
// fake's tree: this file only turns bytes into requests and replies into bytes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace destsim {

/// The SFTP v3 packet types and status codes the door uses (the values of libssh's sftp.h).
namespace sftp_wire {
inline constexpr std::uint8_t kInit = 1, kVersion = 2, kOpen = 3, kClose = 4, kRead = 5, kWrite = 6, kLstat = 7,
                              kFstat = 8, kSetstat = 9, kFsetstat = 10, kOpendir = 11, kReaddir = 12,
                              kRemove = 13, kMkdir = 14, kRmdir = 15, kRealpath = 16, kStat = 17, kRename = 18,
                              kReadlink = 19, kSymlink = 20, kStatus = 101, kHandle = 102, kData = 103,
                              kName = 104, kAttrs = 105, kExtended = 200;
inline constexpr std::uint32_t kOk = 0, kEof = 1, kNoSuchFile = 2, kPermissionDenied = 3, kFailure = 4,
                               kBadMessage = 5, kOpUnsupported = 8;
inline constexpr std::uint32_t kAttrSize = 0x1, kAttrUidGid = 0x2, kAttrPermissions = 0x4, kAttrAcModTime = 0x8,
                               kAttrExtended = 0x80000000u;
inline constexpr std::uint32_t kOpenRead = 0x1, kOpenWrite = 0x2, kOpenAppend = 0x4, kOpenCreate = 0x8,
                               kOpenTruncate = 0x10, kOpenExclusive = 0x20;
/// The largest packet taken (OpenSSH's sftp-server bound); a longer one ends the session.
inline constexpr std::uint32_t kPacketBytesMax = 256 * 1024;
}  // namespace sftp_wire

/// A file's attributes as SFTP v3 carries them; `flags` says which are present.
struct SftpAttrs {
  std::uint32_t flags = 0;
  std::uint64_t size = 0;
  std::uint32_t uid = 0, gid = 0;
  std::uint32_t permissions = 0;
  std::uint32_t atime = 0, mtime = 0;
  std::uint32_t extended_count = 0;  // extended pairs are parsed and dropped
};

/// One decoded client request. Strings keep every byte (a NUL included).
struct SftpRequest {
  std::uint8_t type = 0;
  std::uint32_t id = 0;
  std::uint32_t version = 0;  // INIT
  std::string path;           // the (first) path of OPEN, STAT, RENAME, … and posix-rename
  std::string path2;          // the second path of RENAME, SYMLINK and posix-rename
  std::string handle;
  std::string data;  // WRITE
  std::uint64_t offset = 0;
  std::uint32_t length = 0;  // READ
  std::uint32_t pflags = 0;  // OPEN
  SftpAttrs attrs;           // OPEN, MKDIR, SETSTAT, FSETSTAT
  std::string extension;     // EXTENDED: its name
};

/// A packet that does not decode: the id when it could be read (so a STATUS can
/// answer it), and what was wrong.
struct SftpDecodeError {
  std::optional<std::uint32_t> id;
  std::string message;
};

/// Decodes one packet's body (`type` already read; for all but INIT the body
/// starts with the request id). Types the door does not know decode to their
/// id only. Never reads past `body`.
bool decode_sftp_request(std::uint8_t type, std::string_view body, SftpRequest& out, SftpDecodeError& error);

/// Appends SFTP packets (uint32 length, type, fields) to a byte string.
class SftpReplyWriter {
 public:
  void version(std::uint32_t version, const std::vector<std::pair<std::string, std::string>>& extensions);
  void status(std::uint32_t id, std::uint32_t code, std::string_view message);
  void handle(std::uint32_t id, std::string_view handle);
  void data(std::uint32_t id, std::string_view data);
  void attrs(std::uint32_t id, const SftpAttrs& a);
  struct Name {
    std::string name, long_name;
    SftpAttrs attrs;
  };
  void names(std::uint32_t id, const std::vector<Name>& names);

  std::string& bytes() { return out_; }

 private:
  void begin(std::uint8_t type);
  void end();
  void u32(std::uint32_t v);
  void u64(std::uint64_t v);
  void str(std::string_view s);
  void put_attrs(const SftpAttrs& a);

  std::string out_;
  std::size_t start_ = 0;
};

/// Splits a byte stream into packets: feed bytes, take whole packets.
class SftpFramer {
 public:
  void feed(std::string_view bytes) { buf_.append(bytes); }
  enum class Take { packet, need_more, too_large, empty_packet };
  /// The next whole packet's type and body.
  Take next(std::uint8_t& type, std::string& body);
  /// The length announced by the packet that was too large.
  std::uint32_t announced() const { return announced_; }

 private:
  std::string buf_;
  std::size_t at_ = 0;
  std::uint32_t announced_ = 0;
};

/// The first byte of `name` that SFTP names may not carry (0x00–0x1F, 0x7F),
/// or npos.
std::size_t control_char_at(std::string_view name);

}  // namespace destsim
