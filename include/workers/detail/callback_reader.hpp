#pragma once

// The reader of a callback worker: a coroutine on the worker's strand, beside
// the loop, that calls the user's read each time the loop wants a request
// (see read_demand) and hands over what it returns. None ends the source: the
// worker closes normally. A read that throws crashes the worker, unless the
// worker was closing, whose cancellation ends a pending read.

#include <workers/clock.hpp>
#include <workers/close_reason.hpp>
#include <workers/detail/hook_executor.hpp>
#include <workers/error.hpp>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/this_coro.hpp>

#include <exception>
#include <memory>
#include <optional>
#include <utility>

namespace workers::inline v0::detail {

template <class Core, class Self>
boost::asio::awaitable<void> read_requests(std::shared_ptr<Core> core, Self self) {
  co_await boost::asio::this_coro::throw_if_cancelled(false);
  const auto& config = core->config().buffer;
  for (;;) {
    co_await core->demand().wait();
    if (core->is_shutting_down()) break;
    std::optional<typename Core::any_request> request;
    std::exception_ptr failure;
    try {
      if (config.read_now) {
        hook_scope inside;
        request = config.read_now(self);
      } else {
        request = co_await config.read_async(self);
      }
    } catch (...) {
      failure = std::current_exception();
    }
    if (core->is_shutting_down()) break;  // closed meanwhile: nothing left to hand it to
    if (failure) {
      core->handler_threw("read", failure);
      break;
    }
    if (!request) {
      core->request_close(close_cause::end_of_source);
      break;
    }
    core->demand().met();
    typename Core::entry_type e{std::move(*request), clock::now(), {}};
    core->push(e, false);
  }
}

}  // namespace workers::inline v0::detail
