#pragma once

/// @file
/// @brief `launch_options`: a worker's idle timeout, queue alarms, watchdog and reply mode.

#include <workers/clock.hpp>
#include <workers/detail/config.hpp>
#include <workers/supervision.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>

WORKERS_BEGIN_NAMESPACE

/// @brief Queue alarms, checked with hysteresis: `queue_high` is emitted (and
/// counted in `worker_metrics::queue_alarms`) once when the queue reaches
/// `high` requests or the request taken had waited `max_age` or more; then
/// `queue_normal` once, when a take leaves `low` or fewer waiting and the
/// request taken waited less than `max_age`. Lengths are checked at each push
/// and take, ages at each take.
struct queue_alarms {
  std::size_t high = 0;  ///< length, in requests, that raises the alarm; 0: no length alarm
  std::size_t low = 0;   ///< length, in requests, at or under which it falls; at most `high`
  /// Wait of the request being taken (its take time minus its push time,
  /// measured on `workers::steady_clock` or the table's `time_source`) that
  /// raises the alarm (at `max_age` and over); none: no age alarm.
  std::optional<clock::duration> max_age = std::nullopt;
};

/// @brief A worker's watchdog: budgets for each request's handling, measured
/// from its take (`request_status::treated`) on the worker's steady clock (the
/// table's `time_source`, else `workers::steady_clock`) until its handler and
/// its hooks (`on_completion`, `on_error`) have returned.
///
/// - `slow`: at the budget, event `request_slow` (warning) and
///   `worker_metrics::slow`, once per request.
/// - `stuck`: at the budget, event `request_stuck` (error) and
///   `worker_metrics::stuck`; an awaitable handler in flight is cancelled
///   through Asio cancellation (terminal), as a caller's cancellation of a
///   `cancels_with_caller` request does: what it returns then goes to its
///   callers, what it throws too (as `handler_exception`), without crashing
///   the worker. If it has still not returned `grace` later, the worker
///   crashes (close cause `handler_exception`) with the crash error
///   `stuck: <view> ran <n> ms, <m> ms past its stuck budget, and did not return
///   <g> ms after it was cancelled`; its close waits for the handler to return
///   (no C++ coroutine can be destroyed while it waits), what is queued is
///   answered `closed` at once.
///
/// A plain (non-awaitable) handler cannot be interrupted, and blocks the
/// worker's strand while it runs, so no timer of that strand can fire: its
/// `request_slow` and `request_stuck` come when it returns (`returned` set),
/// and it is not cancelled and does not crash the worker (its result reached
/// its callers). Offload such work, or make the handler awaitable.
struct watchdog_budgets {
  /// Handling time at which a request is reported slow; none: never.
  std::optional<std::chrono::steady_clock::duration> slow = std::nullopt;
  /// Handling time at which a request is stuck; none: never.
  std::optional<std::chrono::steady_clock::duration> stuck = std::nullopt;
  /// Time a stuck awaitable handler has to return once cancelled.
  std::chrono::steady_clock::duration grace = std::chrono::seconds(1);
};

/// @brief How a worker completes the callers of the requests it handles.
///
/// Asio's own channels offer both: `try_send` posts the receiver's completion,
/// `try_send_via_dispatch` dispatches it.
enum class reply_mode : std::uint8_t {
  /// The default: each caller's completion is posted to its associated
  /// executor, never run inside the worker. The worker goes on with its next
  /// request at once; the caller runs on a later turn of its executor.
  post,
  /// Each caller's completion is dispatched to its associated executor (as
  /// `asio::dispatch`): if that executor may run it on the worker's thread
  /// (an `io_context`'s executor, when the worker runs on that `io_context`;
  /// or a strand already running there), the caller resumes inside the
  /// worker's call stack, before the worker's `on_completion`, and the worker's
  /// next request waits until the caller suspends or returns. Applies to the
  /// answers of handled requests (their value or `request_error`); answers at
  /// close, refusals and cancellations are posted as in `post`.
  ///
  /// Hazards of a caller resumed inline: it runs on the worker's strand, so
  /// `state(w)` and `strand().running_in_this_thread()` succeed in it as if it
  /// were the worker (the state is between two requests, not being changed);
  /// `shutdown`/`trigger_shutdown`
  /// from it start the close at once, and the request that was just answered
  /// has been handled, the ones queued behind it are answered `closed`; a
  /// caller that blocks (a `future::get()`, a lock held by another thread
  /// waiting for this worker) blocks the worker. An exception thrown by the
  /// caller's completion handler does not unwind the worker: it is rethrown
  /// from a function posted to the caller's executor, so it leaves that
  /// executor's `run()` as an exception from a posted handler would.
  dispatch,
};

/// @brief Options of `launch`.
struct launch_options {
  /// @brief When set, `on_no_request` runs each time the worker has been idle
  /// (nothing to take) this long (upstream's `?timeout`), measured from the
  /// last request taken (or the last `on_no_request`): a wake-up that takes
  /// nothing (a dropbox merge that empties the slot, a request skipped because
  /// its caller gave up) does not restart it. Steady time: a timer of the
  /// table's `time_source` (Asio's `steady_timer` by default) on the worker's
  /// strand, cancelled at the close.
  std::optional<std::chrono::steady_clock::duration> timeout = std::nullopt;
  /// @brief When set, the queue's alarms (see `queue_alarms`).
  /// @throws std::invalid_argument from `launch` if `low > high`.
  std::optional<queue_alarms> alarms = std::nullopt;
  /// @brief How callers of handled requests are completed (see `reply_mode`).
  reply_mode reply = reply_mode::post;
  /// @brief When set, the watchdog's budgets (see `watchdog_budgets`).
  /// @throws std::invalid_argument from `launch` if a budget is not positive
  /// or the grace negative.
  std::optional<watchdog_budgets> watchdog = std::nullopt;
  /// @brief Whether and how the worker is restarted when it ends (see
  /// `restart_options`, supervision.hpp); the default, `temporary`, never.
  /// @throws std::invalid_argument from `launch` if `period` is not positive,
  /// or the backoff's `min` is negative or above `max`, or its jitter outside [0, 1].
  restart_options restart = {};
};

WORKERS_END_NAMESPACE
