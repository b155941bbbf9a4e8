#pragma once

/// @file
/// @brief `launch_options`: a worker's idle timeout and queue alarms.

#include <workers/clock.hpp>

#include <chrono>
#include <cstddef>
#include <optional>

namespace workers::inline v0 {

/// @brief Queue alarms, checked with hysteresis: `queue_high` is emitted (and
/// counted in `worker_metrics::queue_alarms`) once when the queue reaches
/// `high` requests or the request taken had waited `max_age` or more; then
/// `queue_normal` once, when a take leaves `low` or fewer waiting and the
/// request taken waited less than `max_age`. Lengths are checked at each push
/// and take, ages at each take.
struct queue_alarms {
  std::size_t high = 0;  ///< length, in requests, that raises the alarm; 0: no length alarm
  std::size_t low = 0;   ///< length, in requests, at or under which it falls; at most `high`
  /// Wait of the request being taken (its take time minus its push time, both
  /// `workers::clock` stamps: wall clock, kernel-tick resolution) that raises
  /// the alarm; none: no age alarm.
  std::optional<clock::duration> max_age = std::nullopt;
};

/// @brief Options of `launch`.
struct launch_options {
  /// @brief When set, `on_no_request` runs each time the worker has been idle
  /// (nothing to take) this long (upstream's `?timeout`). Steady time: an
  /// `asio::steady_timer` on the worker's strand, armed when the worker goes
  /// idle and cancelled by the next request or the close.
  std::optional<std::chrono::steady_clock::duration> timeout = std::nullopt;
  /// @brief When set, the queue's alarms (see `queue_alarms`).
  /// @throws std::invalid_argument from `launch` if `low > high`.
  std::optional<queue_alarms> alarms = std::nullopt;
};

}  // namespace workers::inline v0
