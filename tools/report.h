// report.h — how every destsim command ends on an error: the message on
// stderr after "destsim: ", and the exit code of its kind (framework/result.h).
#pragma once

#include <cstdio>

#include "framework/result.h"

namespace destsim {

inline int report(const Error& e) {
  std::fprintf(stderr, "destsim: %s\n", e.message.c_str());
  return exit_code_of(e);
}

}  // namespace destsim
