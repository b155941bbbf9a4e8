#pragma once

/// @file
/// @brief Testing workers without waiting: `testing::manual_clock`, a
/// `time_source` whose time moves only when told to, and `testing::run_until_idle`
/// / `testing::run_for`, which run an `io_context` until nothing is ready.
///
/// A table created with `table_options{.clock = clock}` stamps, measures and
/// times its workers on `clock`: idle timeouts (`on_no_request`), queue ages
/// (`queue_alarms::max_age`), request times and metrics' histograms all follow
/// `clock.advance(d)`, so a test asserts them exactly, without sleeping:
/// @code
/// auto clock = std::make_shared<workers::testing::manual_clock>();
/// auto table = group::create_table(workers::infinite_queue{}, {.clock = clock});
/// // launch with launch_options{.timeout = 40ms}, then:
/// workers::testing::run_for(io, *clock, 100ms);  // on_no_request ran twice: at 40 and 80 ms
/// @endcode

#include <workers/clock.hpp>
#include <workers/detail/config.hpp>
#include <workers/time_source.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

WORKERS_BEGIN_NAMESPACE
namespace testing {

/// @brief A `time_source` whose clocks move only through `advance` (and
/// `set_wall`), and whose timers fire when `advance` reaches them
/// (Seastar's `manual_clock`, Akka's `ManualTime`).
///
/// Both clocks start at fixed points: the wall clock at `wall_start`, the
/// steady clock at its epoch plus one hour. Thread safety: any thread.
class manual_clock final : public time_source {
 public:
  /// @brief 2026-01-01T00:00:00Z, the default start of the wall clock.
  static constexpr clock::time_point default_wall_start =
      clock::time_point(std::chrono::sys_days(std::chrono::year(2026) / 1 / 1).time_since_epoch());

  /// @brief A clock at `wall_start` on the wall clock.
  explicit manual_clock(clock::time_point wall_start = default_wall_start)
      : state_(std::make_shared<state>(wall_start)) {}

  /// @brief The wall clock: `wall_start`, plus every `advance`, or what `set_wall` set.
  clock::time_point wall_now() noexcept override {
    std::lock_guard lock(state_->mutex);
    return state_->wall;
  }
  /// @brief The steady clock: its start plus every `advance`.
  steady_clock::time_point steady_now() noexcept override {
    std::lock_guard lock(state_->mutex);
    return state_->steady;
  }
  /// @brief A timer that fires when `advance` reaches its deadline.
  std::unique_ptr<timer> make_timer(const boost::asio::any_io_executor& ex) override {
    return std::make_unique<manual_timer>(state_, ex);
  }

  /// @brief Moves both clocks forward by `d` (at least 0), then fires every
  /// timer due by then: each `due` is posted to its timer's executor, in
  /// deadline order (ties in the order they were armed). Timers armed by those
  /// functions, once they run, wait for the next `advance` (see `run_for`).
  void advance(steady_clock::duration d) {
    std::vector<std::pair<boost::asio::any_io_executor, std::function<void()>>> fired;
    {
      std::lock_guard lock(state_->mutex);
      if (d > steady_clock::duration::zero()) {
        state_->steady += d;
        state_->wall += std::chrono::duration_cast<clock::duration>(d);
      }
      auto& waits = state_->waits;
      while (!waits.empty() && waits.begin()->first.first <= state_->steady) {
        auto node = waits.extract(waits.begin());
        fired.emplace_back(std::move(node.mapped().ex), std::move(node.mapped().due));
        state_->armed.erase(node.mapped().owner);
      }
    }
    for (auto& [ex, due] : fired) boost::asio::post(ex, std::move(due));
  }

  /// @brief Sets the wall clock alone, as a step of the system time would: the
  /// steady clock, and so every duration and timer, does not move.
  void set_wall(clock::time_point t) {
    std::lock_guard lock(state_->mutex);
    state_->wall = t;
  }

  /// @brief How many timers wait.
  std::size_t pending_timers() const {
    std::lock_guard lock(state_->mutex);
    return state_->waits.size();
  }
  /// @brief The deadline of the next timer to fire, if any.
  std::optional<steady_clock::time_point> next_deadline() const {
    std::lock_guard lock(state_->mutex);
    if (state_->waits.empty()) return std::nullopt;
    return state_->waits.begin()->first.first;
  }

 private:
  using key = std::pair<steady_clock::time_point, std::uint64_t>;  // deadline, then arming order
  struct wait {
    boost::asio::any_io_executor ex;
    std::function<void()> due;
    const void* owner;
  };
  struct state {
    explicit state(clock::time_point w) : wall(w) {}
    mutable std::mutex mutex;
    steady_clock::time_point steady = steady_clock::time_point(std::chrono::hours(1));
    clock::time_point wall;
    std::uint64_t serial = 0;
    std::map<key, wait> waits;
    std::map<const void*, key> armed;  // each timer's wait, if any
  };

  class manual_timer final : public timer {
   public:
    manual_timer(std::shared_ptr<state> s, boost::asio::any_io_executor ex)
        : state_(std::move(s)), ex_(std::move(ex)) {}
    ~manual_timer() override { cancel(); }
    void wait_until(steady_clock::time_point at, std::function<void()> due) override {
      {
        std::lock_guard lock(state_->mutex);
        drop_locked();
        if (at > state_->steady) {
          const key k{at, ++state_->serial};
          state_->waits.emplace(k, wait{ex_, std::move(due), this});
          state_->armed.emplace(this, k);
          return;
        }
      }
      boost::asio::post(ex_, std::move(due));  // due already
    }
    void cancel() noexcept override {
      std::lock_guard lock(state_->mutex);
      drop_locked();
    }

   private:
    void drop_locked() noexcept {
      auto it = state_->armed.find(this);
      if (it == state_->armed.end()) return;
      state_->waits.erase(it->second);
      state_->armed.erase(it);
    }
    std::shared_ptr<state> state_;
    boost::asio::any_io_executor ex_;
  };

  std::shared_ptr<state> state_;
};

/// @brief Runs `io` until no handler is ready (it polls, restarting it, until a
/// poll runs none), on the calling thread; returns how many handlers ran.
/// Waiting operations (a parked worker, a timer) do not keep it running.
inline std::size_t run_until_idle(boost::asio::io_context& io) {
  std::size_t total = 0;
  for (;;) {
    io.restart();
    const std::size_t ran = io.poll();
    total += ran;
    if (ran == 0) return total;
  }
}

/// @brief Runs `io` for `d` of `clock`'s time: from one due timer to the next,
/// it advances the clock to that timer's deadline and runs `io` until idle, so
/// that timers armed on the way (a periodic idle timeout) fire too; then it
/// advances to the end of `d` and runs `io` until idle once more.
inline void run_for(boost::asio::io_context& io, manual_clock& clock, steady_clock::duration d) {
  const steady_clock::time_point end = clock.steady_now() + d;
  run_until_idle(io);
  for (;;) {
    const auto next = clock.next_deadline();
    const steady_clock::time_point now = clock.steady_now();
    if (!next || *next > end) {
      clock.advance(end - now);
      run_until_idle(io);
      return;
    }
    clock.advance(*next - now);
    run_until_idle(io);
  }
}

}  // namespace testing
WORKERS_END_NAMESPACE
