#pragma once

/// @file
/// @brief The operations of dropbox workers: `put_request`, `put_request_and_wait`.
///
/// A dropbox holds at most one request. Each put is merged into it by the
/// table's `merge(self, incoming, pending)` (see `merging_dropbox` and
/// `merged`), on the worker's strand: between two requests, or while a handler
/// is suspended, never concurrently with a handler, so merge may read the
/// worker's state. Puts are merged in the order they were made, in passes that
/// take every put waiting; `pending_requests` sees the slot as each pass leaves it.

#include <workers/buffer_kind.hpp>
#include <workers/detail/access.hpp>
#include <workers/detail/config.hpp>
#include <workers/detail/kind_checks.hpp>
#include <workers/detail/mailbox.hpp>
#include <workers/detail/queue_initiations.hpp>
#include <workers/worker_handle.hpp>

#include <boost/asio/async_result.hpp>

#include <concepts>
#include <utility>

WORKERS_BEGIN_NAMESPACE

/// @brief Puts `request` into the dropbox, to be merged with the pending one
/// (upstream's `Dropbox.put_request`).
///
/// Returns once the put is recorded; the merge runs later, on the worker's
/// strand, in the order the puts were made. Thread safety: any thread; takes
/// no lock (the request is moved into a node that joins the worker's lock-free intake).
/// @return true once recorded; false if the worker is closing or closed (the
/// request is discarded; a `request_refused` event is emitted).
template <class Def, class R>
bool put_request(const worker<Def, dropbox>& w, R request) {
  detail::check_request<R, Def>();
  if constexpr (!detail::in_request_set<R, Def>)
    return false;
  else
    return detail::access::core(w).push_now(std::move(request)) == detail::push_outcome::queued;
}

/// @brief Puts `request` into the dropbox and completes with the outcome of
/// the request it ends up in (upstream's `Dropbox.put_request_and_wait`).
///
/// Completion signature: `void(reply_result<R>)`, as `push_request_and_wait`:
/// the value of the request this caller follows, its `request_error`, its
/// `handler_exception`, `worker_closed` (refused, or the worker closed before
/// answering), `request_cancelled`, plus `request_dropped` when the merge
/// removed the request from the slot without this caller following its
/// replacement. A merge that throws gives its put's caller `handler_exception`
/// and crashes the worker. `redirect_error` does not apply: it is refused at
/// compile time.
///
/// Per-operation cancellation: terminal and partial (total is refused: the
/// request stays in the slot and is handled, since other puts may have been
/// merged into it); the caller is answered `request_cancelled` at once.
/// Thread safety: any thread.
template <class Def, class R,
          boost::asio::completion_token_for<typename detail::reply_signature<R>::type> Token =
              default_token>
auto put_request_and_wait(const worker<Def, dropbox>& w, R request,
                          Token&& token = default_token()) {
  detail::check_request<R, Def>();
  detail::check_reply_token<Token>();
  if constexpr (!detail::in_request_set<R, Def>)
    return detail::rejected<void(reply_result<R>)>(token);
  else
    return boost::asio::async_initiate<Token, void(reply_result<R>)>(
        detail::initiate_push_and_wait<Def, dropbox>(detail::access::core_ptr(w)), token,
        std::move(request));
}

/// @cond
// The same operations on a queue or callback worker: one sentence (kind_checks.hpp),
// then the type the real operation returns, so that nothing else fails.
template <class Def, class Kind, class R>
requires(!std::same_as<Kind, dropbox>) bool put_request(const worker<Def, Kind>&, R) {
  (void)detail::put_request_is_for_dropbox_workers<Kind>{};
  return false;
}
template <class Def, class Kind, class R, class Token = default_token>
requires(!std::same_as<Kind, dropbox>) auto put_request_and_wait(const worker<Def, Kind>&, R,
                                                                 Token&& token = default_token()) {
  (void)detail::put_request_and_wait_is_for_dropbox_workers<Kind>{};
  return detail::rejected<void(reply_result<R>)>(token);
}
/// @endcond

WORKERS_END_NAMESPACE
