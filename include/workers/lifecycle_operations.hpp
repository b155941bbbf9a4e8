#pragma once

/// @file
/// @brief Ending a worker and waiting for its end: `trigger_shutdown`,
/// `shutdown`, `wait_for_completion`, `is_shutting_down`, `canceler`. The
/// common rules of asynchronous operations are in `<workers/worker_handle.hpp>`.
/// Shutting a whole table down: `<workers/table_shutdown.hpp>`.

#include <workers/canceler.hpp>
#include <workers/close_reason.hpp>
#include <workers/detail/access.hpp>
#include <workers/detail/config.hpp>
#include <workers/detail/lifecycle_initiations.hpp>
#include <workers/error.hpp>
#include <workers/shutdown_report.hpp>
#include <workers/worker_handle.hpp>

#include <boost/asio/async_result.hpp>

WORKERS_BEGIN_NAMESPACE

/// @brief Starts closing the worker and returns at once (upstream's `trigger_shutdown`).
///
/// From now on pushes are refused; the handler in flight is cancelled (unless
/// this is called from it); queued callers are answered `closed`. Does nothing
/// if the close has begun already (the first cause stays the close's).
/// Thread safety: any thread.
template <class Def, class Kind>
void trigger_shutdown(const worker<Def, Kind>& w) {
  detail::access::core(w).request_close(close_cause::shutdown);
}

/// @brief Starts closing the worker in `mode`, escalating to `abort` if it has
/// not closed `deadline` from now, and returns at once.
///
/// `deadline` is measured on the worker's steady clock (its table's
/// `time_source`, else `workers::steady_clock`); `no_deadline`: none. If the
/// close has begun already, this tightens it: a stronger mode applies at once
/// (an `abort` cancels the handler in flight, a `finish_current` answers what
/// is queued `closed`), an earlier deadline replaces the later one; a weaker
/// mode or a later deadline changes nothing. See `shutdown_mode` for what
/// each mode does. Thread safety: any thread.
template <class Def, class Kind>
void trigger_shutdown(const worker<Def, Kind>& w, shutdown_mode mode,
                      steady_clock::duration deadline = no_deadline) {
  auto& c = detail::access::core(w);
  c.request_close(close_cause::shutdown, std::nullopt, c.terms_for(mode, deadline));
}

/// @brief Completes once the worker has closed, without triggering it.
///
/// Completion signature: `void(error_code)`, empty once closed (at once, but
/// posted, if it has closed already), after the canceler's hooks ran.
/// Per-operation cancellation: terminal, partial and total; completes with
/// `operation_aborted`, nothing else happens. Thread safety: any thread.
template <class Def, class Kind,
          boost::asio::completion_token_for<void(error_code)> Token = default_token>
auto wait_for_completion(const worker<Def, Kind>& w, Token&& token = default_token()) {
  return boost::asio::async_initiate<Token, void(error_code)>(
      detail::initiate_wait_for_completion<Def, Kind>(detail::access::core_ptr(w)), token);
}

/// @brief Starts closing the worker and completes once it has closed
/// (upstream's `shutdown`).
///
/// Called from one of the worker's own handlers (or hooks), it cannot wait for
/// a close that needs that handler to return first: it starts the close,
/// completes at once, and does not cancel its caller; the worker closes once
/// the handler returns. Code that is not one of the worker's handlers (a
/// callback run on the worker's strand, another worker's handler) waits as
/// anyone does.
///
/// Completion signature: `void(error_code)`, empty once closed (after
/// `on_close` and the canceler's hooks ran), or at once from inside a handler.
/// Unlike upstream's, it may be called from the worker's own handlers.
/// Per-operation cancellation: terminal and partial (total is refused: the
/// close, once begun, cannot be undone); completes with `operation_aborted`,
/// the worker goes on closing. Thread safety: any thread.
template <class Def, class Kind,
          boost::asio::completion_token_for<void(error_code)> Token = default_token>
auto shutdown(const worker<Def, Kind>& w, Token&& token = default_token()) {
  return boost::asio::async_initiate<Token, void(error_code)>(
      detail::initiate_shutdown<Def, Kind>(detail::access::core_ptr(w)), token);
}

/// @brief Closes the worker in `mode`, escalating to `abort` at `deadline`
/// from now, and completes once it has closed, with what the close did.
///
/// The close and its tightening are `trigger_shutdown(w, mode, deadline)`'s;
/// the report is the same for every caller of one close (`asked` is the
/// strongest mode any shutdown asked for). Called from one of the worker's
/// own handlers, it completes at once (as `shutdown(w)` does) with a report
/// of the close so far: `asked` and `reached`, nothing counted.
///
/// Completion signature: `void(error_code, shutdown_report)`, an empty error
/// once closed (after `on_close` and the canceler's hooks ran; at once,
/// posted, if it had closed: the report of its close). Per-operation
/// cancellation: terminal and partial; completes with `operation_aborted`
/// and an empty report, the worker goes on closing. Thread safety: any thread.
template <
    class Def, class Kind,
    boost::asio::completion_token_for<void(error_code, shutdown_report)> Token = default_token>
auto shutdown(const worker<Def, Kind>& w, shutdown_mode mode, steady_clock::duration deadline,
              Token&& token = default_token()) {
  return boost::asio::async_initiate<Token, void(error_code, shutdown_report)>(
      detail::initiate_shutdown<Def, Kind, true>(detail::access::core_ptr(w), mode, deadline),
      token);
}
/// @brief `shutdown(w, mode, no_deadline, token)`.
template <
    class Def, class Kind,
    boost::asio::completion_token_for<void(error_code, shutdown_report)> Token = default_token>
auto shutdown(const worker<Def, Kind>& w, shutdown_mode mode, Token&& token = default_token()) {
  return shutdown(w, mode, no_deadline, std::forward<Token>(token));
}

/// @brief True once the worker's close has begun, whatever its cause (a
/// shutdown, `on_error`, a crash, the end of a callback's source), and after it
/// closed: pushes are refused from then on. Thread safety: any thread.
template <class Def, class Kind>
bool is_shutting_down(const worker<Def, Kind>& w) noexcept {
  return detail::access::core(w).is_shutting_down();
}

/// @brief Hooks run when the worker closes; see `workers::canceler` (upstream's
/// `canceler`, an `Lwt_canceler.t`). Thread safety: any thread.
template <class Def, class Kind>
workers::canceler canceler(const worker<Def, Kind>& w) {
  return detail::access::core(w).get_canceler();
}

WORKERS_END_NAMESPACE
