#pragma once

/// @file
/// @brief The clock of request and status timestamps.

#include <workers/detail/attributes.hpp>

#include <chrono>
#include <ctime>

namespace workers::inline v0 {

/// @brief Wall-clock time stamps, read from the coarse real-time clock.
///
/// Every push is stamped, so the stamp must be cheap: `CLOCK_REALTIME_COARSE`
/// costs about a third of `system_clock::now()`. Its resolution is the kernel
/// tick (1 to 4 ms), which is what introspection needs; durations shorter than
/// a tick read as zero. The time points are `system_clock` ones.
///
/// A wall clock: it follows the system time, which may be set forward or back,
/// so a difference of two stamps is not a steady measure. Its `time_point` is
/// upstream's `Time.System.t`.
struct clock {
  /// @brief `std::chrono::system_clock::duration` (nanoseconds with libstdc++).
  using duration = std::chrono::system_clock::duration;
  /// @brief The tick count type of `duration`.
  using rep = duration::rep;
  /// @brief The tick period of `duration`, in seconds.
  using period = duration::period;
  /// @brief `std::chrono::system_clock::time_point`: time since the Unix epoch (UTC).
  using time_point = std::chrono::system_clock::time_point;
  /// @brief False: a wall clock, which may be set forward or back.
  static constexpr bool is_steady = false;

  /// @brief The wall-clock time now, read from `CLOCK_REALTIME_COARSE` where
  /// the platform has it (kernel-tick resolution), else from
  /// `std::chrono::system_clock::now()`. Any thread.
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

}  // namespace workers::inline v0
