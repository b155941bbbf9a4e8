#pragma once

/// @file
/// @brief The two clocks of the library: `workers::clock`, the wall clock of the
/// stamps a person reads, and `workers::steady_clock`, the clock of durations,
/// deadlines and timers. A table reads both through its `time_source`
/// (`table_options::clock`), so that tests can run them by hand.

#include <workers/detail/config.hpp>

#include <chrono>
#include <ctime>

WORKERS_BEGIN_NAMESPACE

/// @brief Wall-clock time stamps, read from the coarse real-time clock: the
/// time points of `status`, `pending_requests`, `current_request`,
/// `request_status::pushed`, events, and Octez's RPC encodings.
///
/// `CLOCK_REALTIME_COARSE` costs about a third of `system_clock::now()`; its
/// resolution is the kernel tick (1 to 4 ms), which is what introspection needs.
/// The time points are `system_clock` ones. A wall clock follows the system
/// time, which may be set forward or back, so the library never measures a
/// duration on it: durations are `steady_clock` ones. Its `time_point` is
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

/// @brief The clock of durations, deadlines and timers: `std::chrono::steady_clock`
/// (monotonic, sub-microsecond resolution). The spans of `request_status`, the
/// metrics' histograms, queue ages (`queue_alarms::max_age`) and the idle
/// timeout (`launch_options::timeout`) are measured on it.
using steady_clock = std::chrono::steady_clock;

WORKERS_END_NAMESPACE
