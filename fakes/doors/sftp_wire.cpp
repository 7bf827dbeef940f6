#include "fakes/doors/sftp_wire.h"

#include "framework/result.h"

namespace destsim {

using namespace sftp_wire;

namespace {

// Reads big-endian fields from a body; every read checks the bytes left.
class Reader {
 public:
  explicit Reader(std::string_view b) : b_(b) {}
  bool u8(std::uint8_t& v) {
    if (b_.size() - at_ < 1) return false;
    v = static_cast<std::uint8_t>(b_[at_++]);
    return true;
  }
  bool u32(std::uint32_t& v) {
    if (b_.size() - at_ < 4) return false;
    v = 0;
    for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<std::uint8_t>(b_[at_++]);
    return true;
  }
  bool u64(std::uint64_t& v) {
    std::uint32_t hi = 0, lo = 0;
    if (!u32(hi) || !u32(lo)) return false;
    v = (std::uint64_t{hi} << 32) | lo;
    return true;
  }
  bool str(std::string& s) {
    std::uint32_t len = 0;
    if (!u32(len) || b_.size() - at_ < len) return false;
    s.assign(b_.data() + at_, len);
    at_ += len;
    return true;
  }
  bool attrs(SftpAttrs& a) {
    if (!u32(a.flags)) return false;
    if ((a.flags & kAttrSize) && !u64(a.size)) return false;
    if ((a.flags & kAttrUidGid) && !(u32(a.uid) && u32(a.gid))) return false;
    if ((a.flags & kAttrPermissions) && !u32(a.permissions)) return false;
    if ((a.flags & kAttrAcModTime) && !(u32(a.atime) && u32(a.mtime))) return false;
    if (a.flags & kAttrExtended) {
      if (!u32(a.extended_count)) return false;
      // Each pair is at least 8 bytes: a count beyond what is left is a lie, not a loop.
      if (a.extended_count > (b_.size() - at_) / 8) return false;
      std::string type, data;
      for (std::uint32_t i = 0; i < a.extended_count; ++i)
        if (!str(type) || !str(data)) return false;
    }
    return true;
  }

 private:
  std::string_view b_;
  std::size_t at_ = 0;
};

const char* type_name(std::uint8_t type) {
  switch (type) {
    case kInit: return "INIT";
    case kOpen: return "OPEN";
    case kClose: return "CLOSE";
    case kRead: return "READ";
    case kWrite: return "WRITE";
    case kLstat: return "LSTAT";
    case kFstat: return "FSTAT";
    case kSetstat: return "SETSTAT";
    case kFsetstat: return "FSETSTAT";
    case kOpendir: return "OPENDIR";
    case kReaddir: return "READDIR";
    case kRemove: return "REMOVE";
    case kMkdir: return "MKDIR";
    case kRmdir: return "RMDIR";
    case kRealpath: return "REALPATH";
    case kStat: return "STAT";
    case kRename: return "RENAME";
    case kReadlink: return "READLINK";
    case kSymlink: return "SYMLINK";
    case kExtended: return "EXTENDED";
    default: return "packet";
  }
}

}  // namespace

bool decode_sftp_request(std::uint8_t type, std::string_view body, SftpRequest& out, SftpDecodeError& error) {
  out = SftpRequest{};
  out.type = type;
  error = SftpDecodeError{};
  Reader r(body);
  auto bad = [&](const char* what) {
    error.message = std::string(type_name(type)) + ": malformed packet (expected " + what + ")";
    return false;
  };
  if (type == kInit) return r.u32(out.version) || bad("a version");
  if (!r.u32(out.id)) return bad("a request id");
  error.id = out.id;
  switch (type) {
    case kOpen:
      return (r.str(out.path) && r.u32(out.pflags) && r.attrs(out.attrs)) || bad("filename, pflags, attrs");
    case kClose:
    case kReaddir:
    case kFstat:
      return r.str(out.handle) || bad("a handle");
    case kRead:
      return (r.str(out.handle) && r.u64(out.offset) && r.u32(out.length)) || bad("handle, offset, length");
    case kWrite:
      return (r.str(out.handle) && r.u64(out.offset) && r.str(out.data)) || bad("handle, offset, data");
    case kLstat:
    case kStat:
    case kOpendir:
    case kRemove:
    case kRmdir:
    case kRealpath:
    case kReadlink:
      return r.str(out.path) || bad("a path");
    case kSetstat:
    case kMkdir:
      return (r.str(out.path) && r.attrs(out.attrs)) || bad("path, attrs");
    case kFsetstat:
      return (r.str(out.handle) && r.attrs(out.attrs)) || bad("handle, attrs");
    case kRename:
    case kSymlink:
      return (r.str(out.path) && r.str(out.path2)) || bad("two paths");
    case kExtended:
      if (!r.str(out.extension)) return bad("an extension name");
      if (out.extension == "posix-rename@openssh.com")
        return (r.str(out.path) && r.str(out.path2)) || bad("two paths after posix-rename@openssh.com");
      return true;  // the rest of an unknown extension is not read
    default:
      return true;  // answered OP_UNSUPPORTED by its id
  }
}

void SftpReplyWriter::begin(std::uint8_t type) {
  start_ = out_.size();
  u32(0);  // the length, set by end()
  out_.push_back(static_cast<char>(type));
}

void SftpReplyWriter::end() {
  const std::size_t len = out_.size() - start_ - 4;
  DS_ASSERT(len <= 0xffffffffu);
  for (int i = 0; i < 4; ++i) out_[start_ + i] = static_cast<char>((len >> (24 - 8 * i)) & 0xff);
}

void SftpReplyWriter::u32(std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out_.push_back(static_cast<char>((v >> (24 - 8 * i)) & 0xff));
}

void SftpReplyWriter::u64(std::uint64_t v) {
  u32(static_cast<std::uint32_t>(v >> 32));
  u32(static_cast<std::uint32_t>(v));
}

void SftpReplyWriter::str(std::string_view s) {
  DS_ASSERT(s.size() <= 0xffffffffu);
  u32(static_cast<std::uint32_t>(s.size()));
  out_.append(s);
}

void SftpReplyWriter::put_attrs(const SftpAttrs& a) {
  // Extended pairs are never sent: the door keeps none.
  u32(a.flags & ~kAttrExtended);
  if (a.flags & kAttrSize) u64(a.size);
  if (a.flags & kAttrUidGid) {
    u32(a.uid);
    u32(a.gid);
  }
  if (a.flags & kAttrPermissions) u32(a.permissions);
  if (a.flags & kAttrAcModTime) {
    u32(a.atime);
    u32(a.mtime);
  }
}

void SftpReplyWriter::version(std::uint32_t version, const std::vector<std::pair<std::string, std::string>>& extensions) {
  begin(kVersion);
  u32(version);
  for (const auto& [name, data] : extensions) {
    str(name);
    str(data);
  }
  end();
}

void SftpReplyWriter::status(std::uint32_t id, std::uint32_t code, std::string_view message) {
  begin(kStatus);
  u32(id);
  u32(code);
  str(message);
  str("");  // language tag
  end();
}

void SftpReplyWriter::handle(std::uint32_t id, std::string_view handle) {
  begin(kHandle);
  u32(id);
  str(handle);
  end();
}

void SftpReplyWriter::data(std::uint32_t id, std::string_view data) {
  begin(kData);
  u32(id);
  str(data);
  end();
}

void SftpReplyWriter::attrs(std::uint32_t id, const SftpAttrs& a) {
  begin(kAttrs);
  u32(id);
  put_attrs(a);
  end();
}

void SftpReplyWriter::names(std::uint32_t id, const std::vector<Name>& names) {
  begin(kName);
  u32(id);
  u32(static_cast<std::uint32_t>(names.size()));
  for (const Name& n : names) {
    str(n.name);
    str(n.long_name);
    put_attrs(n.attrs);
  }
  end();
}

SftpFramer::Take SftpFramer::next(std::uint8_t& type, std::string& body) {
  // Drop consumed bytes now and then, not on every packet.
  if (at_ > 0 && at_ * 2 >= buf_.size()) {
    buf_.erase(0, at_);
    at_ = 0;
  }
  if (buf_.size() - at_ < 4) return Take::need_more;
  std::uint32_t len = 0;
  for (int i = 0; i < 4; ++i) len = (len << 8) | static_cast<std::uint8_t>(buf_[at_ + i]);
  if (len > kPacketBytesMax) {
    announced_ = len;
    return Take::too_large;
  }
  if (len == 0) return Take::empty_packet;  // not even a type byte
  if (buf_.size() - at_ - 4 < len) return Take::need_more;
  type = static_cast<std::uint8_t>(buf_[at_ + 4]);
  body.assign(buf_, at_ + 5, len - 1);
  at_ += 4 + len;
  return Take::packet;
}

std::size_t control_char_at(std::string_view name) {
  for (std::size_t i = 0; i < name.size(); ++i) {
    const auto c = static_cast<unsigned char>(name[i]);
    if (c < 0x20 || c == 0x7f) return i;
  }
  return std::string_view::npos;
}

}  // namespace destsim
