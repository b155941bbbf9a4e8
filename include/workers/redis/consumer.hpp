#pragma once

/// @file
/// @brief `redis::consume`: a worker fed by a Redis Streams consumer group,
/// every delivery settled exactly once from the typed outcome of its request.
///
/// The consumer reads entries of `stream` as consumer `consumer` (the worker's
/// full name) of group `group`, decodes each into a request (the codec), pushes
/// it to the worker with `push_request_and_wait`, and settles the delivery from
/// what that caller is answered:
///
/// | outcome | Redis |
/// |---|---|
/// | handled (after `on_completion`) | `XACK` |
/// | `request_error` whose error is retryable, count < `max_deliveries` | stays pending; `XCLAIM …
/// 0 id` after `retry` backoff (count + 1) | | `handler_exception` (the worker crashes), count <
/// `max_deliveries` | the same | | `request_error` not retryable, or count ≥ `max_deliveries` |
/// `MULTI`, `XADD <stream>:dead`, `XACK`, `EXEC` | | entry that fails to decode, or delivered more
/// than `max_deliveries` times | the same, never handled | | `worker_closed` (not started, or cut
/// by the shutdown mode) | nothing: stays pending |
///
/// Everything runs on the worker's strand: hiredis' socket is watched there,
/// timers (`clock`, else Asio's) fire there.

#include <workers/buffer_kind.hpp>
#include <workers/detail/config.hpp>
#include <workers/redis/codec.hpp>
#include <workers/redis/connection.hpp>
#include <workers/redis/consumer_options.hpp>
#include <workers/redis/detail/consumer_core.hpp>
#include <workers/worker_handle.hpp>

#include <memory>
#include <utility>

WORKERS_BEGIN_NAMESPACE
namespace redis {

/// @brief Feeds queue worker `w` from consumer group `options.group` of
/// stream `options.stream` on `broker` (a `hiredis_connector`, or a
/// `memory_broker` in tests), as consumer `options.consumer` (default: the
/// worker's full name), until the worker closes.
///
/// Start: `XGROUP CREATE … MKSTREAM` (an existing group is kept), then this
/// consumer's own pending entries (left by a previous run under the same
/// name), then new ones (`XREADGROUP … >`, `COUNT` = min(batch, room), an
/// empty read waits `poll` on the worker's timer). Every third of `lease` the
/// deliveries held here are touched and entries of any consumer idle past
/// `lease` are claimed. At most `max_in_flight` deliveries are unsettled at a
/// time. Settlement: see the file's table. A lost connection reconnects with
/// backoff; deliveries in hand go on, and what was sent without an answer is
/// checked against the pending list, so each delivery is settled once.
/// A command Redis refuses (`NOGROUP`, `OOM`, `READONLY`) sets `last_error()`
/// (naming the stream, the group and the command), emits `refused` and waits
/// the reconnect backoff before going on (a lost group is created again).
///
/// When the worker closes: no more reads; deliveries not started, cut by the
/// shutdown mode or waiting for a retry stay pending (for the same-named
/// consumer's next run, or another one after the lease); what was handled is
/// settled. Thread safety: any thread. The library promises at-least-once
/// handling: a handler may see the same `delivery::id` again.
///
/// @throws std::invalid_argument naming the worker for an empty stream or
/// group, or a zero batch, `max_in_flight` or `max_deliveries`.
template <class Def, class Kind, class Codec = json_codec<typename Def::request_variant>>
requires workers::detail::is_queue<Kind> consumer consume(const worker<Def, Kind>& w,
                                                          std::shared_ptr<connector> broker,
                                                          consumer_options options,
                                                          Codec codec = {}) {
  auto core = std::make_shared<detail::consumer_core<worker<Def, Kind>, Codec>>(
      w, std::move(broker), std::move(options), std::move(codec));
  core->start();
  return consumer(core->shared_state());
}

}  // namespace redis
WORKERS_END_NAMESPACE
