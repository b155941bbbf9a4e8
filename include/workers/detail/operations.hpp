#pragma once

// The initiation objects of the worker's asynchronous operations. Each owns
// the worker it acts on, so that an operation created with `asio::deferred`
// and launched after every handle is gone is safe, and does nothing until
// Asio runs it: an operation created and never launched has no effect.

#include <workers/close_reason.hpp>
#include <workers/detail/access.hpp>
#include <workers/detail/core.hpp>
#include <workers/detail/entry.hpp>
#include <workers/detail/waiter.hpp>
#include <workers/error.hpp>
#include <workers/message_error.hpp>

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/redirect_error.hpp>

#include <exception>
#include <memory>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>

namespace workers::inline v0::detail {

// Completes `handler` with `ec` through its associated executor (`io_ex()` if
// it has none), never inline: as any waiter's answer, with its allocator.
template <class Handler, class IoExecutorFn>
void complete_now(Handler&& handler, const IoExecutorFn& io_ex, error_code ec) {
  typed<error_code>(make_waiter<error_code>(std::forward<Handler>(handler), io_ex))
      ->answer(std::move(ec));
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
  explicit worker_initiation(std::shared_ptr<core<Def, Kind>> c) noexcept : core_(std::move(c)) {}
  // The worker's strand. Throws std::logic_error once its execution context is gone.
  executor_type get_executor() const { return core_->executor(); }

 protected:
  // What a waiter completes on when its handler has no executor of its own.
  auto io_executor() const noexcept { return core_->io_executor(); }

  std::shared_ptr<core<Def, Kind>> core_;
};

template <class Def, class Kind>
class initiate_push_request : public worker_initiation<Def, Kind> {
 public:
  using worker_initiation<Def, Kind>::worker_initiation;

  template <class Handler, class R>
  void operator()(Handler&& handler, R request) const {
    auto& c = *this->core_;
    using outcome = typename core<Def, Kind>::push_outcome;
    typename core<Def, Kind>::entry_type e{std::move(request), {}, {}};
    const auto first = c.push(e, false);
    if (first != outcome::full) {
      complete_now(std::move(handler), this->io_executor(),
                   first == outcome::queued ? error_code{} : make_error_code(errc::closed));
      return;
    }
    waiter_ptr op = make_waiter<error_code>(std::move(handler), this->io_executor(),
                                            {any_cancellation, asio::cancellation_type::none});
    switch (c.push(e, true, &op)) {
      case outcome::queued:
        typed<error_code>(op)->answer(error_code{});
        break;
      case outcome::refused:
        typed<error_code>(op)->answer(make_error_code(errc::closed));
        break;
      default:
        break;  // parked: the worker admits it, or the close answers it
    }
  }
};

template <class Def, class Kind>
class initiate_push_and_wait : public worker_initiation<Def, Kind> {
 public:
  using worker_initiation<Def, Kind>::worker_initiation;

  // A queued request whose caller gave up is never handled, so any
  // cancellation type is honoured while it waits; a dropbox request is handled
  // anyway (other puts may be merged into it), as is one being handled.
  static constexpr cancellation_policy policy =
      std::is_same_v<Kind, dropbox> ? cancellation_policy{effects_kept, effects_kept}
                                    : cancellation_policy{any_cancellation, effects_kept};

  template <class Handler, class R>
  void operator()(Handler&& handler, R request) const {
    auto& c = *this->core_;
    typename core<Def, Kind>::entry_type e{
        std::move(request),
        {},
        make_waiter<reply_result<R>>(std::move(handler), this->io_executor(), policy)};
    if (c.push(e, true) == core<Def, Kind>::push_outcome::refused)
      answer_error(e, worker_closed{c.crash_errors()});
  }
};

template <class Def, class Kind>
class initiate_shutdown : public worker_initiation<Def, Kind> {
 public:
  using worker_initiation<Def, Kind>::worker_initiation;

  template <class Handler>
  void operator()(Handler&& handler) const {
    auto& c = *this->core_;
    if (c.inside_hook()) {  // the close waits for this hook to return
      c.request_close(close_cause::shutdown);
      complete_now(std::move(handler), this->io_executor(), error_code{});
      return;
    }
    waiter_ptr w = make_waiter<error_code>(std::move(handler), this->io_executor(),
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
    auto& c = *this->core_;
    c.wait_closed(make_waiter<error_code>(std::move(handler), this->io_executor(),
                                          {any_cancellation, any_cancellation}));
  }
};

// What with_state's function gives: whether it ran (void), or its value if it ran.
template <class T>
using with_state_value = std::conditional_t<std::is_void_v<T>, bool, std::optional<T>>;

template <class Def, class Kind>
class initiate_with_state : public worker_initiation<Def, Kind> {
 public:
  using worker_initiation<Def, Kind>::worker_initiation;

  template <class Handler, class F>
  void operator()(Handler&& handler, F f) const {
    using T = std::invoke_result_t<F&, typename Def::state_type&>;
    using value = std::tuple<std::exception_ptr, with_state_value<T>>;
    auto& c = *this->core_;
    waiter_ptr w = make_waiter<value>(std::move(handler), this->io_executor(),
                                      {any_cancellation, asio::cancellation_type::none});
    c.post(waiter_job(std::move(w), [core = this->core_, f = std::move(f)](waiter_ptr& w) mutable {
      if (!w->start()) return;  // the caller gave up: f never runs
      value v{};
      try {
        if (auto* s = core->state_ptr()) {
          if constexpr (std::is_void_v<T>) {
            f(*s);
            std::get<1>(v) = true;
          } else {
            std::get<1>(v).emplace(f(*s));
          }
        }
      } catch (...) {
        std::get<0>(v) = std::current_exception();
      }
      typed<value>(w)->answer(std::move(v));
    }));
  }
};

}  // namespace workers::inline v0::detail
