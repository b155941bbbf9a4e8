#pragma once

/// @file
/// @brief Per-worker metrics, as a snapshot readable from any thread:
/// `metrics(w)` (in `<workers/worker.hpp>`) for a worker of a table created
/// with `table_options::metrics`. Names for Prometheus are in the README
/// ("Metrics") and in `<workers/prometheus.hpp>`.

#include <workers/clock.hpp>
#include <workers/detail/config.hpp>

#include <array>
#include <cstddef>
#include <cstdint>

WORKERS_BEGIN_NAMESPACE

/// @brief A histogram of durations: how many observations fell in each bucket.
struct histogram {
  /// @brief The buckets' upper bounds, in seconds (Prometheus' `le`); a last
  /// bucket, `+Inf`, follows them.
  static constexpr std::array<double, 12> bounds = {1e-6, 1e-5, 1e-4, 1e-3, 5e-3, 1e-2,
                                                    5e-2, 0.1,  0.5,  1.0,  5.0,  10.0};
  /// @brief Observations per bucket (not cumulative); the last is above every bound.
  std::array<std::uint64_t, bounds.size() + 1> buckets{};
  std::uint64_t count = 0;  ///< observations
  double sum = 0;           ///< their total, in seconds
};

/// @brief A worker's metrics at one moment. Counters count from the launch.
///
/// Durations are measured on `workers::steady_clock` (sub-microsecond
/// resolution, never negative), or on the table's `time_source` if it has one.
struct worker_metrics {
  /// Requests handled, successful or not: counted when the handler returns,
  /// before the caller is answered.
  std::uint64_t handled = 0;
  std::uint64_t failed = 0;        ///< of those, the ones that ended in a request error
  std::uint64_t crashed = 0;       ///< of those, the ones whose handling crashed the worker
  std::uint64_t dropped = 0;       ///< requests left unhandled at close (`request_dropped`)
  std::uint64_t cancelled = 0;     ///< requests whose callers all gave up (`request_cancelled`)
  std::uint64_t refused = 0;       ///< pushes refused after the close began (`request_refused`)
  std::uint64_t queue_alarms = 0;  ///< `queue_high` crossings
  std::uint64_t slow = 0;   ///< requests whose handler ran its `slow` budget (`request_slow`)
  std::uint64_t stuck = 0;  ///< requests whose handler ran its `stuck` budget (`request_stuck`)
  /// Closes whose deadline expired (`shutdown_escalated`): 0 or 1 for one worker.
  std::uint64_t shutdown_escalations = 0;
  /// Restarts begun by the worker's restart policy (`restarting`): those of
  /// all its incarnations.
  std::uint64_t restarts = 0;
  std::size_t queue_length = 0;  ///< gauge: requests waiting
  /// Gauge: the request in hand (0 or 1), from its take until the worker
  /// takes the next, parks or yields.
  std::size_t in_flight = 0;
  histogram queue_wait;  ///< treated − pushed, per request handled
  /// completed − treated, per request handled; observed when the worker next
  /// reads the clock (its next take, park, yield or close), so its count may
  /// trail `handled` by the request just answered.
  histogram service_time;
};

WORKERS_END_NAMESPACE
