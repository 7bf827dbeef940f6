// result_test.cpp — the exit code every command maps an error to.
#include "framework/result.h"

#include <gtest/gtest.h>

namespace destsim {
namespace {

TEST(ExitCodeOf, UserFixableErrorsAreUsageErrorsTheRestInternal) {
  EXPECT_EQ(exit_code_of(Error::bad_input("x")), kExitUsage);
  EXPECT_EQ(exit_code_of(Error::not_found("x")), kExitUsage);
  EXPECT_EQ(exit_code_of(Error::io("x")), kExitUsage);
  EXPECT_EQ(exit_code_of(Error::internal("x")), kExitInternal);
  EXPECT_EQ(exit_code_of(Error{ErrorCode::step_bound, "x"}), kExitFailed);  // a livelock of the code under test
  EXPECT_EQ(exit_code_of(Error::hang("x")), kExitFailed);                    // a hang is a property failure (G1)
  EXPECT_EQ(exit_code_of(Error{ErrorCode::transport, "x"}), kExitInternal);
  EXPECT_EQ(kExitOk, 0);
  EXPECT_EQ(kExitFailed, 1);
  EXPECT_EQ(kExitUsage, 2);
  EXPECT_EQ(kExitInternal, 3);
}

}  // namespace
}  // namespace destsim
