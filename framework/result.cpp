#include "framework/result.h"

namespace destsim {

const char* error_code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::bad_input: return "bad_input";
    case ErrorCode::not_found: return "not_found";
    case ErrorCode::io: return "io";
    case ErrorCode::step_bound: return "step_bound";
    case ErrorCode::hang: return "hang";
    case ErrorCode::internal: return "internal";
    case ErrorCode::transport: return "transport";
  }
  return "unknown";
}

int exit_code_of(const Error& e) {
  switch (e.code) {
    case ErrorCode::bad_input:
    case ErrorCode::not_found:
    case ErrorCode::io: return kExitUsage;
    case ErrorCode::step_bound:
    case ErrorCode::hang: return kExitFailed;
    case ErrorCode::internal:
    case ErrorCode::transport: return kExitInternal;
  }
  return kExitInternal;
}

}  // namespace destsim
