#pragma once

// One request in a worker's mailbox: the request itself, its steady stamps,
// and the callers waiting for its result, if any (one, or a chain of them for
// a dropbox request that others were merged into; see reply_chain.hpp).

#include <workers/clock.hpp>
#include <workers/detail/config.hpp>
#include <workers/detail/waiter.hpp>

#include <utility>

WORKERS_BEGIN_NAMESPACE
namespace detail {

template <class Def>
struct entry {
  // A constructor, not an aggregate, so that every compiler builds an entry in
  // place (Clang 14 has no parenthesized aggregate initialization): a
  // temporary would destroy a moved-from request under the mailbox's lock.
  template <class R>
  entry(R&& r, steady_clock::time_point pushed_at, waiter_ptr caller = {})
      : request(std::forward<R>(r)), pushed(pushed_at), reply(std::move(caller)) {}

  typename Def::request_variant request;
  steady_clock::time_point pushed;  // when it was pushed (a put: its first put)
  waiter_ptr reply;
  steady_clock::time_point treated{};  // when the worker took it
};

}  // namespace detail
WORKERS_END_NAMESPACE
