#include <gtest/gtest.h>

#include "base/clock.h"
#include "base/error.h"

namespace tpb {
namespace {

TEST(Error, CheckThrowsWithConditionValuesAndPlace) {
  const int got = 3, want = 4;
  try {
    TPB_CHECK(got == want, "got {} but wanted {}", got, want);
    FAIL() << "TPB_CHECK did not throw";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("got == want"), std::string::npos) << what;
    EXPECT_NE(what.find("got 3 but wanted 4"), std::string::npos) << what;
    EXPECT_NE(what.find("error_test.cpp:"), std::string::npos) << what;
  }
}

TEST(Error, CheckPassesSilently) { EXPECT_NO_THROW(TPB_CHECK(1 + 1 == 2, "never")); }

TEST(Error, UsageErrorIsAnError) {
  EXPECT_THROW(usage_error("bad --tp {}", 3), UsageError);
  EXPECT_THROW(usage_error("bad --tp {}", 3), Error);
}

TEST(Clock, MonotonicAndNanoseconds) {
  const int64_t a = now_ns();
  const int64_t b = now_ns();
  EXPECT_LE(a, b);
  EXPECT_GT(a, 0);
  EXPECT_DOUBLE_EQ(seconds_between(0, 1'500'000'000), 1.5);
}

}  // namespace
}  // namespace tpb
