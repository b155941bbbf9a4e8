#pragma once

// A worker with its handlers: launch, the loop, request treatment, and the
// close path that every buffer kind shares.

#include <workers/clock.hpp>
#include <workers/detail/callback_reader.hpp>
#include <workers/detail/core.hpp>
#include <workers/detail/entry.hpp>
#include <workers/handlers.hpp>
#include <workers/message_error.hpp>
#include <workers/worker.hpp>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>
#include <variant>

namespace workers::detail {

// Awaits `f()` if it returns an awaitable, else returns its value: lets the
// asynchronous path call plain and awaitable handlers alike. GCC 12 flags the
// frame of a lambda from a header as a subobject without linkage when the
// handlers live in an anonymous namespace; the frame never crosses a TU.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wsubobject-linkage"
#endif
template <class F>
asio::awaitable<awaited_t<std::invoke_result_t<F&>>> await_call(F f) {
  if constexpr (is_awaitable_v<std::invoke_result_t<F&>>)
    co_return co_await f();
  else
    co_return f();
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

// What on_launch returns once awaited, and its launch error type.
template <class H, class Self, class Def, bool HasLaunch>
struct launch_traits {
  using type = typename Def::state_type;
  using error_type = no_launch_error;
  static constexpr bool is_async = false;
};
template <class H, class Self, class Def>
struct launch_traits<H, Self, Def, true> {
  using returned = decltype(std::declval<H&>().on_launch(
      std::declval<Self&>(), std::declval<const typename Def::name_type&>(),
      std::declval<const typename Def::parameters_type&>()));
  using type = awaited_t<returned>;
  static constexpr bool is_async = is_awaitable_v<returned>;
  using error_type =
      typename std::conditional_t<is_result<type>, type, result<int, no_launch_error>>::error_type;
};

template <class Def, class Kind, class H>
class worker_impl final : public core<Def, Kind> {
  using base = core<Def, Kind>;

 public:
  using handle_type = worker<Def, Kind>;
  using entry_type = typename base::entry_type;
  using state_type = typename Def::state_type;
  using name_type = typename Def::name_type;
  using parameters_type = typename Def::parameters_type;

  // Requests handled in a row before the loop yields to the executor, so a
  // worker that never has to wait cannot starve the others.
  // As many as an Asio channel's typical capacity: a producer that pushes a
  // channel's worth per turn on the same thread is matched, not outrun (128
  // let a one-thread backlog grow without bound in benchmark A1).
  static constexpr std::size_t fairness_budget = 1024;

  // ---- what on_launch returns ----
  static constexpr bool has_launch = has_on_launch<H, handle_type, name_type, parameters_type>;
  using launch_return = typename launch_traits<H, handle_type, Def, has_launch>::type;
  static constexpr bool launch_returns_result = is_result<launch_return>;
  using launch_error_type = typename launch_traits<H, handle_type, Def, has_launch>::error_type;
  using launch_result = result<handle_type, workers::launch_error<launch_error_type>>;
  static constexpr bool launch_is_async = launch_traits<H, handle_type, Def, has_launch>::is_async;

  template <class... Args>
  explicit worker_impl(H handlers, Args&&... args)
      : base(std::forward<Args>(args)...), handlers_(std::move(handlers)) {}

  // ---- launch: on the strand ----

  launch_result launch_plain(handle_type self) {
    try {
      if constexpr (has_launch)
        return finish_launch(self, handlers_.on_launch(self, this->name(), this->parameters()));
      else
        return finish_launch(self, state_type{});
    } catch (...) {
      return fail_launch(errc::handler_exception, {}, std::current_exception());
    }
  }

  asio::awaitable<launch_result> launch_async(handle_type self) {
    std::exception_ptr failure;
    try {
      auto r = co_await handlers_.on_launch(self, this->name(), this->parameters());
      co_return finish_launch(self, std::move(r));
    } catch (...) {
      failure = std::current_exception();
    }
    co_return fail_launch(errc::handler_exception, {}, failure);
  }

  launch_result name_taken() {
    return {boost::system::in_place_error,
            workers::launch_error<launch_error_type>{
                errc::name_taken,
                fmt::format("workers: a worker named {} is already live in this table",
                            this->full_name()),
                std::nullopt, nullptr}};
  }

 private:
  launch_result finish_launch(handle_type& self, launch_return&& r) {
    if constexpr (launch_returns_result) {
      if (!r) return fail_launch(errc::launch_failed, std::move(r.error()), nullptr);
      this->set_running(std::move(*r));
    } else {
      this->set_running(std::move(r));
    }
    this->register_with_service();
    if constexpr (base::is_callback)
      asio::co_spawn(this->strand(), read_requests(this->shared_from_this(), self),
                     asio::bind_cancellation_slot(this->reader_signal().slot(), asio::detached));
    self_ = self;
    this->hold_work();
    drive();  // what on_launch pushed; then the worker parks
    return self;
  }

  // A failed launch leaves no trace: whatever on_launch pushed is answered
  // `closed`, the name leaves the table, on_close does not run (it never ran).
  launch_result fail_launch(errc code, std::optional<launch_error_type> error,
                            std::exception_ptr ex) {
    this->begin_close();
    this->drain_closed();
    this->finish_close();
    std::string message =
        code == errc::handler_exception
            ? fmt::format("workers: launch of {} failed: on_launch threw: {}", this->full_name(),
                          describe(ex))
            : fmt::format("workers: launch of {} failed: on_launch returned an error",
                          this->full_name());
    return {boost::system::in_place_error,
            workers::launch_error<launch_error_type>{make_error_code(code), std::move(message),
                                                     std::move(error), std::move(ex)}};
  }

  // ---- the loop ----
  //
  // The loop is plain code on the strand, `drive`, run by the posts that wake
  // it: an idle worker is a flag, not a suspended coroutine, and a plain
  // handler runs without one. The first awaitable handler moves the loop into
  // a coroutine, `drive_async`, which goes on until the worker is idle again.

  enum class step { next, await, yield, idle, close };

  // One step of the loop. `pending` receives the awaitable of an awaitable handler.
  step advance(std::size_t& budget, std::optional<asio::awaitable<void>>& pending) {
    if (this->is_shutting_down()) return step::close;
    if (--budget == 0) {
      budget = fairness_budget;
      this->clear_current();
      return step::yield;
    }
    bool parked = false;
    entry_type* e = this->take_next(parked);
    if (!e) {
      if (!parked && !this->park()) return step::next;
      this->while_parked();
      return step::idle;
    }
    // A queued request whose caller gave up is skipped. A dropbox request
    // may hold puts made without a caller, so it is handled all the same.
    if (!base::is_dropbox && e->reply && e->reply.all_cancelled()) {
      e->reply.reset();
      return step::next;
    }
    pending = std::visit(
        [&](const auto& r) -> std::optional<asio::awaitable<void>> {
          using R = std::decay_t<decltype(r)>;
          if constexpr (plain_request<R>) {
            treat_plain(self_, *e, r);
            return std::nullopt;
          } else {
            return treat_async(self_, *e, r);
          }
        },
        e->request);
    return pending ? step::await : step::next;
  }

  void resume(wake_reason why) override {
    this->cancel_timer();
    if (why == wake_reason::timed_out && !this->is_shutting_down()) {
      if constexpr (no_request_is_async) {
        spawn_drive(no_request(), fairness_budget);
        return;
      } else if constexpr (has_on_no_request<H, handle_type>) {
        try {
          handlers_.on_no_request(self_);
        } catch (...) {
          crash(std::current_exception(), "on_no_request");
        }
      }
    }
    drive();
  }

  void drive() {
    std::size_t budget = fairness_budget;
    std::optional<asio::awaitable<void>> pending;
    for (;;) {
      switch (advance(budget, pending)) {
        case step::next:
          continue;
        case step::await:
          spawn_drive(std::move(*pending), budget);
          return;
        case step::yield:
          this->post_resume(wake_reason::ready);
          return;
        case step::idle:
          return;
        case step::close:
          close();
          return;
      }
    }
  }

  void spawn_drive(asio::awaitable<void> first, std::size_t budget) {
    asio::co_spawn(this->strand(), drive_async(self_, std::move(first), budget),
                   asio::bind_cancellation_slot(this->cancel_signal_.slot(), asio::detached));
  }

  // The loop while handlers are awaited; `self` keeps the worker alive.
  asio::awaitable<void> drive_async(handle_type self, asio::awaitable<void> first,
                                    std::size_t budget) {
    co_await asio::this_coro::throw_if_cancelled(false);
    std::optional<asio::awaitable<void>> pending(std::move(first));
    for (;;) {
      if (pending) {
        in_flight_async_ = true;
        co_await std::move(*pending);
        pending.reset();
        in_flight_async_ = false;
        // A cancellation emitted for a caller must not linger for the next handlers.
        if (std::exchange(caller_cancel_emitted_, false))
          co_await asio::this_coro::reset_cancellation_state();
      }
      switch (advance(budget, pending)) {
        case step::next:
        case step::await:
          continue;
        case step::yield:
          co_await asio::post(this->strand(), asio::use_awaitable);
          continue;
        case step::idle:
          co_return;
        case step::close:
          co_await asio::this_coro::reset_cancellation_state();
          enter_close();
          if constexpr (close_is_async)
            co_await on_close_async(self);
          else
            on_close_plain();
          co_return;
      }
    }
  }

  static constexpr bool no_request_is_async = [] {
    if constexpr (has_on_no_request<H, handle_type>)
      return is_awaitable_v<decltype(std::declval<H&>().on_no_request(
          std::declval<handle_type&>()))>;
    else
      return false;
  }();
  static constexpr bool close_is_async = [] {
    if constexpr (has_on_close<H, handle_type>)
      return is_awaitable_v<decltype(std::declval<H&>().on_close(std::declval<handle_type&>()))>;
    else
      return false;
  }();

  asio::awaitable<void> no_request() {
    try {
      co_await handlers_.on_no_request(self_);
    } catch (...) {
      crash(std::current_exception(), "on_no_request");
    }
  }

  // ---- the close ----

  void close() {
    enter_close();
    if constexpr (close_is_async)
      asio::co_spawn(this->strand(), on_close_async(self_), asio::detached);
    else
      on_close_plain();
  }

  void enter_close() {
    closing_path_ = true;
    this->stop_reader();
    this->drain_closed();
  }

  void on_close_plain() {
    if constexpr (has_on_close<H, handle_type>) {
      try {
        handlers_.on_close(self_);
      } catch (...) {
        this->add_crash_error("on_close threw: " + describe(std::current_exception()));
      }
    }
    finish();
  }

  asio::awaitable<void> on_close_async(handle_type self) {
    std::exception_ptr failure;
    try {
      co_await handlers_.on_close(self);
    } catch (...) {
      failure = std::current_exception();
    }
    if (failure) this->add_crash_error("on_close threw: " + describe(failure));
    finish();
  }

  // The last step: this may be destroyed when it returns.
  void finish() {
    this->finish_close();
    handle_type gone = std::move(self_);
  }

  void abandon() noexcept override {
    auto keep = this->shared_from_this();
    base::abandon();
    self_ = handle_type{};
  }

  // The hook a cancellable request's waiter carries while it is handled.
  class caller_cancel final : public cancel_hook {
   public:
    caller_cancel(std::weak_ptr<base> core, std::uint64_t request)
        : core_(std::move(core)), request_(request) {}
    void fire() noexcept override {
      if (auto c = core_.lock()) c->post_cancel_for_caller(request_);
      delete this;
    }
    void drop() noexcept override { delete this; }

   private:
    std::weak_ptr<base> core_;
    std::uint64_t request_;
  };

  // Arms the caller's cancellation of `e` if R opted in and it has one caller;
  // returns the waiter to disarm once the handler is done.
  template <class R>
  waiter_base* arm_caller_cancel(entry_type& e) {
    if constexpr (cancels_with_caller<R>) {
      if (e.reply && !e.reply.get()->next()) {
        armed_request_ = ++request_serial_;
        e.reply.get()->arm(new caller_cancel(this->weak_from_this(), armed_request_));
        return e.reply.get();
      }
    }
    return nullptr;
  }

  void cancel_for_caller(std::uint64_t request) override {
    // Only while that request's handler runs: a late cancellation must not hit the next one.
    if (request == armed_request_ && in_flight_async_ && !closing_path_) {
      caller_cancel_emitted_ = true;
      this->cancel_signal_.emit(asio::cancellation_type::terminal);
    }
  }

  void cancel_in_flight() override {
    if (in_flight_async_ && !closing_path_) {
      cancel_emitted_ = true;
      this->cancel_signal_.emit(asio::cancellation_type::terminal);
    }
  }

  // ---- one request ----

  template <class R>
  using handler_result = result<typename R::result_type, typename R::error_type>;

  template <class R>
  static constexpr bool plain_request = [] {
    bool plain = !is_awaitable_v<decltype(std::declval<H&>().on_request(
        std::declval<handle_type&>(), std::declval<const R&>()))>;
    if constexpr (has_on_completion<H, handle_type, R>)
      plain = plain && !is_awaitable_v<decltype(std::declval<H&>().on_completion(
                           std::declval<handle_type&>(), std::declval<const R&>(),
                           std::declval<const typename R::result_type&>(),
                           std::declval<const request_status&>()))>;
    if constexpr (has_on_error<H, handle_type, R>)
      plain =
          plain && !is_awaitable_v<decltype(std::declval<H&>().on_error(
                       std::declval<handle_type&>(), std::declval<const request_status&>(),
                       std::declval<const R&>(), std::declval<const typename R::error_type&>()))>;
    return plain;
  }();

  request_status status_of(const entry_type& e) const {
    return {e.pushed, e.treated - e.pushed, clock::now() - e.treated};
  }

  template <class R>
  static void answer(entry_type& e, handler_result<R>&& res) {
    if (!e.reply) return;
    using E = typename R::error_type;
    if (res)
      answer_chain<R>(std::move(e.reply), reply_result<R>(std::move(*res)));
    else
      answer_chain<R>(std::move(e.reply),
                      reply_result<R>(boost::system::in_place_error,
                                      message_error<E>(request_error<E>{std::move(res.error())})));
  }

  void apply(const error_action& action) {
    switch (action.what()) {
      case error_action::kind::proceed:
        break;
      case error_action::kind::shutdown:
        this->begin_close();
        break;
      case error_action::kind::crash:
        this->begin_close(action.errors());
        break;
    }
  }

  // An exception thrown while the worker was cancelling its handler on the way
  // to closing is that cancellation, not a crash.
  bool cancelled_by_close() const noexcept { return cancel_emitted_ && this->is_shutting_down(); }

  void crash(std::exception_ptr ex, const char* where) {
    if (cancelled_by_close()) return;
    this->begin_close(error_list{fmt::format("{} threw: {}", where, describe(ex))});
  }

  // A handler threw while treating `e`: its caller gets the exception, or
  // `closed` when the throw was the close's cancellation.
  void treat_exception(entry_type& e, std::exception_ptr ex) {
    if (caller_cancel_emitted_) {  // its caller's cancellation: answered already
      answer_error(e, request_cancelled{});
      return;
    }
    if (cancelled_by_close()) {
      answer_error(e, worker_closed{this->crash_errors()});
      return;
    }
    answer_error(e, handler_exception{ex});
    crash(ex, "on_request");
  }

  // The waiter is answered after on_completion/on_error, which see the result
  // by reference; if one of them throws, the request's own outcome still
  // reaches its caller before the worker crashes.
  template <class R>
  void treat_plain(handle_type& self, entry_type& e, const R& r) {
    std::optional<handler_result<R>> res;
    try {
      res.emplace(handlers_.on_request(self, r));
    } catch (...) {
      treat_exception(e, std::current_exception());
      return;
    }
    try {
      if (*res) {
        if constexpr (has_on_completion<H, handle_type, R>)
          handlers_.on_completion(self, r, **res, status_of(e));
        answer<R>(e, std::move(*res));
      } else {
        auto action = error_action::proceed();
        if constexpr (has_on_error<H, handle_type, R>)
          action = handlers_.on_error(self, status_of(e), r, res->error());
        answer<R>(e, std::move(*res));
        apply(action);
      }
    } catch (...) {
      answer<R>(e, std::move(*res));
      crash(std::current_exception(), res->has_value() ? "on_completion" : "on_error");
    }
  }

  template <class R>
  asio::awaitable<void> treat_async(handle_type& self, entry_type& e, const R& r) {
    std::optional<handler_result<R>> res;
    std::exception_ptr failure;
    waiter_base* armed = arm_caller_cancel<R>(e);
    try {
      res.emplace(co_await await_call([&] { return handlers_.on_request(self, r); }));
    } catch (...) {
      failure = std::current_exception();
    }
    if (armed) {
      armed->disarm();
      armed_request_ = 0;
    }
    if (failure) {
      treat_exception(e, failure);
      co_return;
    }
    try {
      if (*res) {
        if constexpr (has_on_completion<H, handle_type, R>) {
          const auto st = status_of(e);
          co_await await_call([&] { return handlers_.on_completion(self, r, **res, st); });
        }
        answer<R>(e, std::move(*res));
      } else {
        auto action = error_action::proceed();
        if constexpr (has_on_error<H, handle_type, R>) {
          const auto st = status_of(e);
          action =
              co_await await_call([&] { return handlers_.on_error(self, st, r, res->error()); });
        }
        answer<R>(e, std::move(*res));
        apply(action);
      }
    } catch (...) {
      failure = std::current_exception();
    }
    if (failure) {
      const bool succeeded = res->has_value();
      answer<R>(e, std::move(*res));
      crash(failure, succeeded ? "on_completion" : "on_error");
    }
  }

  H handlers_;
  // The worker's own handle, from launch to close: a running worker lives on
  // without any other (like an Octez worker), and the posts that wake it need none.
  handle_type self_;
  bool in_flight_async_ = false;  // strand only
  bool cancel_emitted_ = false;
  bool caller_cancel_emitted_ = false;
  std::uint64_t request_serial_ = 0;  // numbers the cancellable requests handled
  std::uint64_t armed_request_ = 0;   // the one whose handler runs, if any
  bool closing_path_ = false;
};

}  // namespace workers::detail
