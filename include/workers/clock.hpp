#pragma once

/// @file
/// @brief The clock of request and status timestamps.

#include <workers/detail/attributes.hpp>

#include <chrono>
#include <ctime>

namespace workers {

/// @brief Wall-clock time stamps, read from the coarse real-time clock.
///
/// Every push is stamped, so the stamp must be cheap: `CLOCK_REALTIME_COARSE`
/// costs about a third of `system_clock::now()`. Its resolution is the kernel
/// tick (1 to 4 ms), which is what introspection needs; durations shorter than
/// a tick read as zero. The time points are `system_clock` ones.
struct clock {
  using duration = std::chrono::system_clock::duration;
  using rep = duration::rep;
  using period = duration::period;
  using time_point = std::chrono::system_clock::time_point;
  static constexpr bool is_steady = false;

  WORKERS_ALWAYS_INLINE static time_point now() noexcept {
#if defined(CLOCK_REALTIME_COARSE)
    timespec ts;
    ::clock_gettime(CLOCK_REALTIME_COARSE, &ts);
    return time_point(std::chrono::duration_cast<duration>(std::chrono::seconds(ts.tv_sec) +
                                                           std::chrono::nanoseconds(ts.tv_nsec)));
#else
    return std::chrono::system_clock::now();
#endif
  }
};

}  // namespace workers
