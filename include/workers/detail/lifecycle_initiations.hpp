#pragma once

// The initiations of the operations that wait for a worker's end: shutdown
// and wait_for_completion. See initiation.hpp.

#include <workers/close_reason.hpp>
#include <workers/detail/config.hpp>
#include <workers/detail/initiation.hpp>
#include <workers/detail/waiter_op.hpp>
#include <workers/detail/worker_core.hpp>
#include <workers/error.hpp>

#include <utility>

WORKERS_BEGIN_NAMESPACE
namespace detail {

template <class Def, class Kind>
class initiate_shutdown : public worker_initiation<Def, Kind> {
 public:
  using worker_initiation<Def, Kind>::worker_initiation;

  template <class Handler>
  void operator()(Handler&& handler) const {
    auto& c = *this->core_;
    if (c.inside_hook()) {  // the close waits for this hook to return
      c.request_close(close_cause::shutdown);
      complete_now(std::forward<Handler>(handler), this->io_executor(), error_code{});
      return;
    }
    waiter_ptr w = make_waiter<error_code>(std::forward<Handler>(handler), this->io_executor(),
                                           {effects_kept, effects_kept});
    c.request_close(close_cause::shutdown);
    c.wait_closed(std::move(w));
  }
};

template <class Def, class Kind>
class initiate_wait_for_completion : public worker_initiation<Def, Kind> {
 public:
  using worker_initiation<Def, Kind>::worker_initiation;

  template <class Handler>
  void operator()(Handler&& handler) const {
    this->core_->wait_closed(make_waiter<error_code>(
        std::forward<Handler>(handler), this->io_executor(), {any_cancellation, any_cancellation}));
  }
};

}  // namespace detail
WORKERS_END_NAMESPACE
