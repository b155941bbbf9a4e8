#pragma once

/// @file
/// @brief `time_source`: where a table's workers read the time and wait on it.
///
/// Every time the library reads or waits on goes through one seam: the wall
/// clock of stamps (`workers::clock`), the steady clock of durations
/// (`workers::steady_clock`), and the timers of idle timeouts (and of the
/// deadlines and backoffs to come). A table created without a source
/// (`table_options::clock` empty, the default) reads the real clocks directly:
/// the seam then costs a test of a pointer. A table given a source reads it
/// instead; `workers::testing::manual_clock` is the one the library ships, for
/// tests that advance time instead of waiting for it.

#include <workers/clock.hpp>
#include <workers/detail/config.hpp>

#include <boost/asio/any_io_executor.hpp>

#include <functional>
#include <memory>

WORKERS_BEGIN_NAMESPACE

/// @brief The clocks a table's workers read and the timers they wait on.
///
/// Thread safety: every member may be called from any thread at the same time
/// (workers of one table run on their own strands).
class time_source {
 public:
  /// @brief One timer, on the source's steady clock. Made by `make_timer`,
  /// armed and cancelled on the executor it was made for (a worker's strand).
  class timer {
   public:
    virtual ~timer() = default;
    /// @brief Calls `due()` on the timer's executor once the source's steady
    /// clock reaches `at` (at once, but posted, if it has already), unless the
    /// timer is cancelled or armed again first. Replaces a wait in progress.
    virtual void wait_until(steady_clock::time_point at, std::function<void()> due) = 0;
    /// @brief The wait in progress, if any, never calls its `due`.
    virtual void cancel() noexcept = 0;
  };

  virtual ~time_source() = default;
  /// @brief The wall clock now (`workers::clock` time points).
  virtual clock::time_point wall_now() noexcept = 0;
  /// @brief The steady clock now (`workers::steady_clock` time points).
  virtual steady_clock::time_point steady_now() noexcept = 0;
  /// @brief A timer whose `due` functions run on `ex`.
  virtual std::unique_ptr<timer> make_timer(const boost::asio::any_io_executor& ex) = 0;
};

WORKERS_END_NAMESPACE
