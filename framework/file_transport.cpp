#include "framework/file_transport.h"

namespace destsim {

const char* file_error_kind_name(FileError::Kind kind) {
  switch (kind) {
    case FileError::Kind::disconnected: return "disconnected";
    case FileError::Kind::timeout: return "timeout";
    case FileError::Kind::no_space: return "no_space";
    case FileError::Kind::auth_failed: return "auth_failed";
    case FileError::Kind::permission_denied: return "permission_denied";
    case FileError::Kind::no_such_file: return "no_such_file";
    case FileError::Kind::invalid_path: return "invalid_path";
    case FileError::Kind::failure: return "failure";
  }
  return "failure";
}

const char* host_key_policy_name(HostKeyPolicy p) {
  switch (p) {
    case HostKeyPolicy::strict: return "strict";
    case HostKeyPolicy::accept_new: return "accept_new";
    case HostKeyPolicy::accept_any: return "accept_any";
  }
  return "strict";
}

Result<HostKeyPolicy> parse_host_key_policy(std::string_view text, std::string_view where) {
  if (text == "strict") return HostKeyPolicy::strict;
  if (text == "accept_new") return HostKeyPolicy::accept_new;
  if (text == "accept_any") return HostKeyPolicy::accept_any;
  return Error::bad_input(std::string(where) + ": expected \"strict\", \"accept_new\" or \"accept_any\", got \"" +
                          std::string(text) + "\"");
}

}  // namespace destsim
