#pragma once

// An operation called on a worker of the wrong buffer kind: each operation has
// a stand-in overload for the other kinds that instantiates one of these, so
// the mistake reads as one sentence with the worker's kind in its
// instantiation context, instead of "no matching function" and a list of
// candidates.

#include <workers/detail/config.hpp>

WORKERS_BEGIN_NAMESPACE
namespace detail {

template <class Kind>
inline constexpr bool wrong_kind = false;

template <class Kind>
struct push_request_is_for_queue_workers {
  static_assert(wrong_kind<Kind>,
                "workers: push_request is for queue workers; a dropbox is put to (put_request) "
                "and a callback worker reads its own source");
};
template <class Kind>
struct push_request_and_wait_is_for_queue_workers {
  static_assert(wrong_kind<Kind>,
                "workers: push_request_and_wait is for queue workers; a dropbox is put to "
                "(put_request_and_wait) and a callback worker reads its own source");
};
template <class Kind>
struct push_request_now_is_for_infinite_queues {
  static_assert(wrong_kind<Kind>,
                "workers: push_request_now is for infinite queues; a bounded queue takes "
                "push_request (which waits for room) or try_push_request_now");
};
template <class Kind>
struct try_push_request_now_is_for_bounded_queues {
  static_assert(wrong_kind<Kind>,
                "workers: try_push_request_now is for bounded queues; an infinite queue always "
                "has room: push_request_now");
};
template <class Kind>
struct put_request_is_for_dropbox_workers {
  static_assert(wrong_kind<Kind>,
                "workers: put_request is for dropbox workers; a queue worker is pushed to "
                "(push_request, push_request_now, try_push_request_now)");
};
template <class Kind>
struct put_request_and_wait_is_for_dropbox_workers {
  static_assert(wrong_kind<Kind>,
                "workers: put_request_and_wait is for dropbox workers; a queue worker is pushed "
                "to (push_request_and_wait)");
};

}  // namespace detail
WORKERS_END_NAMESPACE
