#pragma once

/// @file
/// @brief The operations of dropbox workers: `put_request`, `put_request_and_wait`.
///
/// A dropbox holds at most one request. Each put is merged into it by the
/// table's `merge(self, incoming, pending)` (see `merging_dropbox` and
/// `merged`), on the worker's strand: between two requests, or while a handler
/// is suspended, never concurrently with a handler, so merge may read the
/// worker's state. Puts are merged in the order they were made; one becomes
/// visible to `pending_requests` once merged.

#include <workers/buffer_kind.hpp>
#include <workers/clock.hpp>
#include <workers/detail/core.hpp>
#include <workers/worker.hpp>

#include <utility>

namespace workers {

/// @brief Puts `request` into the dropbox, to be merged with the pending one.
/// @return false if the worker is closing or closed (the request is discarded).
template <class Def, class R>
bool put_request(const worker<Def, dropbox>& w, R request) {
  detail::check_request<R, Def>();
  return w.core().push_now(std::move(request)) == detail::core<Def, dropbox>::push_outcome::queued;
}

/// @brief Puts `request` into the dropbox and completes with the outcome of
/// the request it ends up in.
///
/// Completion signature: `void(reply_result<R>)`, as `push_request_and_wait`,
/// plus `request_dropped` when the merge removed the request from the slot
/// without this caller following its replacement. A merge that throws gives
/// its put's caller `handler_exception` and crashes the worker.
/// Per-operation cancellation (any type): answered at once with
/// `request_cancelled`. The request stays in the slot and is handled: it may
/// hold other puts, merged into it.
template <class Def, class R, class Token = default_token>
auto put_request_and_wait(const worker<Def, dropbox>& w, R request, Token&& token = {}) {
  detail::check_request<R, Def>();
  return detail::push_and_wait(w, std::move(request), std::forward<Token>(token));
}

}  // namespace workers
