#pragma once
// Always-on assertions for programmer errors (broken invariants). Bad input is never
// asserted on: it is a validation result. A failed assertion prints where and why, then
// aborts, so that a simulator seed or a crash report points at the broken rule.

#include <cstdio>
#include <cstdlib>

namespace vsr::detail {

/// Called by a failed assertion, before it aborts, when set. The simulator sets it to throw,
/// so that a broken invariant ends the run as a failure it reports (with the replay command)
/// instead of ending the test process; nothing else sets it. A handler that returns lets
/// the abort go on.
inline void (*assertion_handler)(const char* message) = nullptr;

[[noreturn]] inline void assert_failed(const char* expr, const char* file, int line,
                                       const char* why) {
  char message[512];
  std::snprintf(message, sizeof message, "assertion failed: %s (%s:%d)%s%s", expr, file, line,
                why[0] != '\0' ? ": " : "", why);
  if (assertion_handler != nullptr) assertion_handler(message);
  std::fprintf(stderr, "vsr: %s\n", message);
  std::fflush(stderr);
  std::abort();
}

}  // namespace vsr::detail

/// Aborts with file and line when `cond` is false. Always on, also in release builds.
#define VSR_ASSERT(cond)                                           \
  do {                                                             \
    if (!(cond)) [[unlikely]] {                                    \
      ::vsr::detail::assert_failed(#cond, __FILE__, __LINE__, ""); \
    }                                                              \
  } while (false)

/// Like VSR_ASSERT, with a fixed explanation string saying which rule broke.
#define VSR_ASSERT_MSG(cond, why)                                   \
  do {                                                              \
    if (!(cond)) [[unlikely]] {                                     \
      ::vsr::detail::assert_failed(#cond, __FILE__, __LINE__, why); \
    }                                                               \
  } while (false)
