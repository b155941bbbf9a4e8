#pragma once

/// @file
/// @brief The operations of queue workers (infinite and bounded queues):
/// `push_request`, `push_request_now`, `try_push_request_now`,
/// `push_request_and_wait`. The common rules of asynchronous operations are
/// in `<workers/worker_handle.hpp>`.

#include <workers/buffer_kind.hpp>
#include <workers/detail/access.hpp>
#include <workers/detail/config.hpp>
#include <workers/detail/kind_checks.hpp>
#include <workers/detail/mailbox.hpp>
#include <workers/detail/queue_initiations.hpp>
#include <workers/error.hpp>
#include <workers/message_error.hpp>
#include <workers/worker_handle.hpp>

#include <boost/asio/async_result.hpp>

#include <concepts>
#include <utility>

WORKERS_BEGIN_NAMESPACE

/// @brief Enqueues `request` (queue workers; upstream's `Queue.push_request`).
///
/// Completion signature: `void(error_code)`: empty once enqueued,
/// `errc::closed` if the worker is closing or closed (the request is dropped;
/// with `use_awaitable`, `co_await` throws it as `system_error`). On an
/// infinite queue it never waits; on a full bounded queue it waits for room,
/// producers being admitted in FIFO order, and completes with `errc::closed`
/// if the worker closes meanwhile. The push time (`workers::clock`) is read
/// when the push is made, before it waits.
///
/// Per-operation cancellation, while it waits for room: terminal, partial and
/// total; it completes with `operation_aborted` and the request is not
/// enqueued. Otherwise it completes at once and has nothing to cancel.
/// Thread safety: any thread.
template <class Def, class Kind, class R,
          boost::asio::completion_token_for<void(error_code)> Token = default_token>
requires detail::is_queue<Kind>
auto push_request(const worker<Def, Kind>& w, R request, Token&& token = default_token()) {
  detail::check_request<R, Def>();
  if constexpr (!detail::in_request_set<R, Def>)
    return detail::rejected<void(error_code)>(token);
  else
    return boost::asio::async_initiate<Token, void(error_code)>(
        detail::initiate_push_request<Def, Kind>(detail::access::core_ptr(w)), token,
        std::move(request));
}

/// @brief Enqueues `request` at once (infinite queues; upstream's `Queue.push_request_now`).
///
/// Thread safety: any thread; takes no lock (the request is moved into a node
/// that joins the worker's lock-free intake).
/// @return true if enqueued, false if the worker is closing or closed (the
/// request is dropped; a `request_refused` event is emitted).
template <class Def, class R>
bool push_request_now(const worker<Def, queue<infinite>>& w, R request) {
  detail::check_request<R, Def>();
  if constexpr (!detail::in_request_set<R, Def>)
    return false;
  else
    return detail::access::core(w).push_now(std::move(request)) == detail::push_outcome::queued;
}

/// @brief Enqueues `request` if there is room (bounded queues; upstream's
/// `Queue.try_push_request_now`). Never waits.
///
/// Thread safety: any thread; as for `push_request_now`, the request's move
/// must not call the worker.
/// @return true if enqueued; false if the queue is full (or producers wait for
/// room) or the worker is closing or closed.
template <class Def, class R>
bool try_push_request_now(const worker<Def, queue<bounded>>& w, R request) {
  detail::check_request<R, Def>();
  if constexpr (!detail::in_request_set<R, Def>)
    return false;
  else
    return detail::access::core(w).push_now(std::move(request)) == detail::push_outcome::queued;
}

/// @brief Enqueues `request` and completes with its result (queue workers;
/// upstream's `push_request_and_wait`).
///
/// Completion signature: `void(reply_result<R>)`, that is
/// `result<R::result_type, message_error<R::error_type>>`: the value, or
/// `worker_closed` (the worker was closing or closed when pushed, or closed
/// before handling the request or while handling it; with the crash errors if
/// it crashed), `request_error` (the request's own error), `handler_exception`
/// (`on_request` threw; the worker crashes) or `request_cancelled` (the caller
/// gave up). The caller is answered as soon as the result is known, before
/// `on_completion` / `on_error` run. On a full bounded queue it first waits for
/// room. `redirect_error` does not apply (the result carries the error): it is
/// refused at compile time.
///
/// Per-operation cancellation:
///  - while the request is queued (or waits for room): terminal, partial and
///    total; the caller gets `request_cancelled` at once and the request is
///    never handled;
///  - while it is handled: terminal and partial (total is refused: the
///    handler's effects cannot be undone); the caller gets `request_cancelled`
///    at once; the handler runs to its end, unless the request type opts in to
///    having its handler cancelled too (see `cancels_with_caller`).
///
/// Thread safety: any thread.
template <class Def, class Kind, class R,
          boost::asio::completion_token_for<typename detail::reply_signature<R>::type> Token =
              default_token>
requires detail::is_queue<Kind>
auto push_request_and_wait(const worker<Def, Kind>& w, R request, Token&& token = default_token()) {
  detail::check_request<R, Def>();
  detail::check_reply_token<Token>();
  if constexpr (!detail::in_request_set<R, Def>)
    return detail::rejected<void(reply_result<R>)>(token);
  else
    return boost::asio::async_initiate<Token, void(reply_result<R>)>(
        detail::initiate_push_and_wait<Def, Kind>(detail::access::core_ptr(w)), token,
        std::move(request));
}

/// @cond
// The same operations on a worker of another kind: one sentence (kind_checks.hpp),
// then the type the real operation returns, so that nothing else fails.
template <class Def, class Kind, class R, class Token = default_token>
requires(!detail::is_queue<Kind>) auto push_request(const worker<Def, Kind>&, R,
                                                    Token&& token = default_token()) {
  (void)detail::push_request_is_for_queue_workers<Kind>{};
  return detail::rejected<void(error_code)>(token);
}
template <class Def, class Kind, class R>
requires(!std::same_as<Kind, queue<infinite>>) bool push_request_now(const worker<Def, Kind>&, R) {
  (void)detail::push_request_now_is_for_infinite_queues<Kind>{};
  return false;
}
template <class Def, class Kind, class R>
requires(!std::same_as<Kind, queue<bounded>>) bool try_push_request_now(const worker<Def, Kind>&,
                                                                        R) {
  (void)detail::try_push_request_now_is_for_bounded_queues<Kind>{};
  return false;
}
template <class Def, class Kind, class R, class Token = default_token>
requires(!detail::is_queue<Kind>) auto push_request_and_wait(const worker<Def, Kind>&, R,
                                                             Token&& token = default_token()) {
  (void)detail::push_request_and_wait_is_for_queue_workers<Kind>{};
  return detail::rejected<void(reply_result<R>)>(token);
}
/// @endcond

WORKERS_END_NAMESPACE
