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

}  // namespace destsim
