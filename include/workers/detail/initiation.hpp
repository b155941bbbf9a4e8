#pragma once

// What the initiation objects of the worker's asynchronous operations share
// (the operations themselves: queue_initiations.hpp, lifecycle_initiations.hpp,
// state_initiation.hpp, and launch.hpp). Each owns the worker it acts on, so
// that an operation created with `asio::deferred` and launched after every
// handle is gone is safe, and does nothing until Asio runs it: an operation
// created and never launched has no effect. Each takes its handler as Asio's
// rules say, by forwarding reference, moving an rvalue and copying an lvalue
// (`asio::experimental::use_promise` passes its handler as an lvalue).

#include <workers/detail/config.hpp>
#include <workers/detail/waiter.hpp>
#include <workers/detail/waiter_op.hpp>
#include <workers/detail/worker_core.hpp>
#include <workers/error.hpp>
#include <workers/message_error.hpp>

#include <boost/asio/redirect_error.hpp>

#include <memory>
#include <type_traits>
#include <utility>

WORKERS_BEGIN_NAMESPACE
namespace detail {

// Completes `handler` with `ec` through its associated executor (`io_ex()` if
// it has none), never inline: as any waiter's answer, with its allocator.
template <class T = error_code, class Handler, class IoExecutorFn>
void complete_now(Handler&& handler, const IoExecutorFn& io_ex, std::type_identity_t<T> value) {
  typed<T>(make_waiter<T>(std::forward<Handler>(handler), io_ex))->answer(std::move(value));
}

// A job posted to the worker's strand with a waiter: if the job is destroyed
// without running (its execution context died first), the waiter is abandoned
// there and then, while the context still exists.
template <class F>
class waiter_job {
 public:
  waiter_job(waiter_ptr w, F f) : w_(std::move(w)), f_(std::move(f)) {}
  waiter_job(waiter_job&&) noexcept = default;
  waiter_job& operator=(waiter_job&&) = delete;
  ~waiter_job() {
    if (w_) w_->abandon();
  }
  void operator()() {
    waiter_ptr w = std::move(w_);
    f_(w);
  }

 private:
  waiter_ptr w_;
  F f_;
};

template <class T>
inline constexpr bool is_redirect_error = false;
template <class T>
inline constexpr bool is_redirect_error<asio::redirect_error_t<T>> = true;

// `reply_result<R>`'s completion signature, or a placeholder for a type that is
// not a request (the operation's static_assert then says why).
template <class R, class = void>
struct reply_signature {
  using type = void(error_code);
};
template <class R>
struct reply_signature<R, std::void_t<typename R::result_type, typename R::error_type>> {
  using type = void(reply_result<R>);
};

template <class Def, class Kind>
class worker_initiation {
 public:
  using executor_type = worker_executor;
  explicit worker_initiation(std::shared_ptr<worker_core<Def, Kind>> c) noexcept
      : core_(std::move(c)) {}
  // The worker's strand. Throws std::logic_error once its execution context is gone.
  executor_type get_executor() const { return core_->executor(); }

 protected:
  // What a waiter completes on when its handler has no executor of its own.
  auto io_executor() const noexcept { return core_->io_executor(); }

  std::shared_ptr<worker_core<Def, Kind>> core_;
};

}  // namespace detail
WORKERS_END_NAMESPACE
