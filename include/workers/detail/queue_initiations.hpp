#pragma once

// The initiations of the operations that give a worker a request and may
// wait: push_request (a bounded queue's producer may wait for room) and
// push_request_and_wait / put_request_and_wait (the caller waits for the
// result). See initiation.hpp.

#include <workers/detail/config.hpp>
#include <workers/detail/initiation.hpp>
#include <workers/detail/mailbox.hpp>
#include <workers/detail/reply_chain.hpp>
#include <workers/detail/waiter_op.hpp>
#include <workers/detail/worker_core.hpp>
#include <workers/error.hpp>
#include <workers/message_error.hpp>

#include <utility>

WORKERS_BEGIN_NAMESPACE
namespace detail {

template <class Def, class Kind>
class initiate_push_request : public worker_initiation<Def, Kind> {
 public:
  using worker_initiation<Def, Kind>::worker_initiation;

  template <class Handler, class R>
  void operator()(Handler&& handler, R request) const {
    auto& c = *this->core_;
    typename worker_core<Def, Kind>::entry_type e{std::move(request), {}, {}};
    const auto first = c.push(e, false);
    if (first != push_outcome::full) {
      complete_now(std::forward<Handler>(handler), this->io_executor(),
                   first == push_outcome::queued ? error_code{} : make_error_code(errc::closed));
      return;
    }
    // While it waits for room: cancellable in any way (the request is then
    // never queued); once admitted, not (the worker claimed it).
    waiter_ptr op = make_waiter<error_code>(std::forward<Handler>(handler), this->io_executor(),
                                            {any_cancellation, asio::cancellation_type::none});
    switch (c.push(e, true, &op)) {
      case push_outcome::queued:
        typed<error_code>(op)->answer(error_code{});
        break;
      case push_outcome::sealed:
        typed<error_code>(op)->answer(make_error_code(errc::closed));
        break;
      default:
        break;  // waiting: the worker admits it, its caller gives up, or the close answers it
    }
  }
};

template <class Def, class Kind>
class initiate_push_and_wait : public worker_initiation<Def, Kind> {
 public:
  using worker_initiation<Def, Kind>::worker_initiation;
  using core_type = worker_core<Def, Kind>;

  template <class Handler, class R>
  void operator()(Handler&& handler, R request) const {
    auto& c = *this->core_;
    // A caller that gives up while its request holds a place gives it back.
    place_keeper_ref keeper;
    if (c.mailbox().counted()) keeper = place_keeper_ref(this->core_);
    typename core_type::entry_type e{
        std::move(request),
        {},
        make_waiter<reply_result<R>>(std::forward<Handler>(handler), this->io_executor(),
                                     core_type::mailbox_type::caller_policy, std::move(keeper))};
    if (c.push(e, true) == push_outcome::sealed) answer_error(e, worker_closed{c.crash_errors()});
  }
};

}  // namespace detail
WORKERS_END_NAMESPACE
