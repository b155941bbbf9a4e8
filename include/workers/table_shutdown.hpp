#pragma once

/// @file
/// @brief Shutting a whole table down: `shutdown_all`, and `shutdown_guard`,
/// which does it when its scope ends. The modes and the report are in
/// `<workers/shutdown_report.hpp>`; one worker's shutdown in
/// `<workers/lifecycle_operations.hpp>`.

#include <workers/detail/access.hpp>
#include <workers/detail/config.hpp>
#include <workers/detail/lifecycle_initiations.hpp>
#include <workers/detail/waiter_op.hpp>
#include <workers/error.hpp>
#include <workers/lifecycle_operations.hpp>
#include <workers/shutdown_report.hpp>
#include <workers/table.hpp>
#include <workers/worker_handle.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/system_executor.hpp>

#include <cstddef>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

WORKERS_BEGIN_NAMESPACE
namespace detail {

// Shuts every worker of a table down at once; the last to close answers the
// caller with the sum of their reports.
template <class Def, class Kind>
class initiate_shutdown_all {
 public:
  initiate_shutdown_all(std::vector<worker<Def, Kind>> workers, shutdown_mode mode,
                        steady_clock::duration deadline)
      : workers_(std::move(workers)), mode_(mode), deadline_(deadline) {}

  template <class Handler>
  void operator()(Handler&& handler) const {
    // A handler without an executor completes on the first worker's strand,
    // or (no worker) on the system executor, as Asio's `post(token)` does.
    boost::asio::any_io_executor ex = boost::asio::system_executor();
    if (!workers_.empty()) ex = access::core(workers_.front()).executor();
    auto io_ex = [ex] { return ex; };
    waiter_ptr caller = make_waiter<report_value>(std::forward<Handler>(handler), io_ex,
                                                  {effects_kept, effects_kept});
    shutdown_report none{mode_, mode_, 0, 0, false, false, {}, 0};
    if (workers_.empty()) {
      typed<report_value>(caller)->answer({error_code{}, none});
      return;
    }
    auto gather = std::make_shared<gathered>(std::move(caller), none, workers_.size());
    for (const auto& w : workers_)
      initiate_shutdown<Def, Kind, true>(access::core_ptr(w), mode_, deadline_)(
          [gather](error_code, shutdown_report r) { gather->add(r); });
  }

 private:
  struct gathered {
    gathered(waiter_ptr c, shutdown_report r, std::size_t n)
        : caller(std::move(c)), total(r), left(n) {}
    void add(const shutdown_report& r) {
      {
        std::lock_guard lock(mutex);
        total += r;
        if (--left != 0) return;
      }
      typed<report_value>(caller)->answer({error_code{}, total});
    }
    waiter_ptr caller;
    std::mutex mutex;
    shutdown_report total;
    std::size_t left;
  };

  std::vector<worker<Def, Kind>> workers_;
  shutdown_mode mode_;
  steady_clock::duration deadline_;
};

}  // namespace detail

/// @brief Shuts every live worker of `t` down at once, each as
/// `shutdown(w, mode, deadline)` would, and completes when the last has
/// closed, with their reports summed (`shutdown_report::operator+=`:
/// `workers` says how many).
///
/// The workers are those live when it is called (launching ones included:
/// a launch that a shutdown meets fails with `errc::closed` unless
/// `on_launch` had returned; its worker still closes and counts). Workers
/// launched afterwards are not shut down. An empty table completes at once
/// (posted) with `workers == 0`.
///
/// Completion signature: `void(error_code, shutdown_report)`, an empty error.
/// A handler without an associated executor completes on the first worker's
/// strand (on the system executor if the table was empty). Per-operation
/// cancellation: terminal and partial; completes with `operation_aborted` and
/// an empty report, the workers go on closing. Thread safety: any thread.
/// Typical use: in a `signal_set`'s handler on SIGTERM (see the README).
template <
    class Def, class Kind,
    boost::asio::completion_token_for<void(error_code, shutdown_report)> Token = default_token>
auto shutdown_all(const table<Def, Kind>& t, shutdown_mode mode, steady_clock::duration deadline,
                  Token&& token = default_token()) {
  std::vector<worker<Def, Kind>> workers;
  for (auto& [name, w] : list(t)) workers.push_back(std::move(w));
  return boost::asio::async_initiate<Token, void(error_code, shutdown_report)>(
      detail::initiate_shutdown_all<Def, Kind>(std::move(workers), mode, deadline), token);
}
/// @brief `shutdown_all(t, mode, no_deadline, token)`.
template <
    class Def, class Kind,
    boost::asio::completion_token_for<void(error_code, shutdown_report)> Token = default_token>
auto shutdown_all(const table<Def, Kind>& t, shutdown_mode mode, Token&& token = default_token()) {
  return shutdown_all(t, mode, no_deadline, std::forward<Token>(token));
}

/// @brief The owner of a table's workers: when it goes out of scope (by an
/// exception too), it starts shutting down every worker still live in the
/// table, as `trigger_shutdown(w, mode, deadline)`.
///
/// Its point: workers count as outstanding work of their execution context,
/// so an `io_context::run()` with live workers does not return. A program
/// that launches workers and then fails before it runs the context (a port
/// it cannot bind) would otherwise hang in `run()`; with a guard made right
/// after the table, the workers close as the exception leaves the scope,
/// and `run()` returns once they have. It does not wait (a destructor
/// cannot): the close runs when the context runs.
///
/// ```
/// auto t = workers::create_table<shard, workers::queue<>>(io.get_executor());
/// workers::shutdown_guard guard(t);
/// launch_shards(t);
/// bind_port();  // throws: the shards close, and
/// io.run();     // ...this is never reached; had it been, it would return once they closed
/// ```
///
/// Not copyable; movable (the moved-from guard does nothing). `release()`
/// disarms it. Thread safety: as a table handle; its destructor never throws.
template <class Def, class Kind>
class shutdown_guard {
 public:
  /// @brief Owns `t`'s workers: they are shut down in `mode` (with `deadline`,
  /// from the guard's end) when the guard ends.
  explicit shutdown_guard(table<Def, Kind> t, shutdown_mode mode = shutdown_mode::abort,
                          steady_clock::duration deadline = no_deadline) noexcept
      : table_(std::move(t)), mode_(mode), deadline_(deadline) {}
  shutdown_guard(const shutdown_guard&) = delete;
  shutdown_guard& operator=(const shutdown_guard&) = delete;
  /// @brief Takes `other`'s table over; `other` then does nothing.
  shutdown_guard(shutdown_guard&& other) noexcept
      : table_(other.table_),
        mode_(other.mode_),
        deadline_(other.deadline_),
        armed_(std::exchange(other.armed_, false)) {}
  shutdown_guard& operator=(shutdown_guard&&) = delete;

  /// @brief Shuts the table's live workers down (unless released).
  ~shutdown_guard() {
    if (!armed_) return;
    try {
      for (auto& [name, w] : list(table_)) trigger_shutdown(w, mode_, deadline_);
    } catch (...) {  // out of memory listing the workers: nothing else can be done here
    }
  }

  /// @brief The guard no longer shuts anything down.
  void release() noexcept { armed_ = false; }
  /// @brief The table it owns.
  const table<Def, Kind>& get_table() const noexcept { return table_; }

 private:
  table<Def, Kind> table_;
  shutdown_mode mode_;
  steady_clock::duration deadline_;
  bool armed_ = true;
};

WORKERS_END_NAMESPACE
