#pragma once

// A worker with its handlers: the launch, the loop, the treatment of one
// request, and the steps of the close that run handlers (see core.hpp, "the
// close").
//
// The loop is one body, `run_loop`, shared by two drivers. While the hooks it
// calls are plain it runs as plain code on the strand, started by the post
// that wakes it: an idle worker is a flag, not a suspended coroutine. When a
// hook returns an awaitable, `run_loop` returns it, and the coroutine driver
// (`drive_async`) awaits it and calls `run_loop` again, until the worker is
// idle. `invoke_hook` is the only place where the two differ: it gives a
// hook's outcome to what comes next at once, or once awaited.
//
// Invariants (strand only):
//  - one resume in flight: a wake-up is posted only by whoever ends the park
//    (the intake's word: core::unpark, and the push or put whose link
//    ends it), or by the loop yielding, so at most one `resume`, plain
//    drive or loop coroutine runs the loop at a time; a resume that arrives
//    while the previous coroutine is still finishing waits for it
//    (`driver_live_`), so that two coroutines never share the cancellation slot;
//  - `self_` lives from the start of the launch until the close has ended (or
//    the context died): a worker lives on without any other handle, like an
//    Octez worker, and the posts that wake it need no reference count. Every
//    entry point drops it last (`release_if_ended`).

#include <workers/clock.hpp>
#include <workers/close_reason.hpp>
#include <workers/detail/callback_reader.hpp>
#include <workers/detail/core.hpp>
#include <workers/detail/entry.hpp>
#include <workers/detail/handler_concepts.hpp>
#include <workers/detail/handler_traits.hpp>
#include <workers/detail/hook_executor.hpp>
#include <workers/handlers.hpp>
#include <workers/message_error.hpp>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/mp11/algorithm.hpp>
#include <boost/system/result.hpp>

#include <fmt/format.h>

#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>
#include <variant>

namespace workers::inline v0::detail {

// What on_launch returns once awaited, and its launch error type.
template <class H, class Self, class Def, bool HasLaunch>
struct launch_traits {
  using type = typename Def::state_type;
  using error_type = no_launch_error;
};
template <class H, class Self, class Def>
struct launch_traits<H, Self, Def, true> {
  using type = awaited_t<decltype(std::declval<H&>().on_launch(
      std::declval<Self&>(), std::declval<const typename Def::name_type&>(),
      std::declval<const typename Def::parameters_type&>()))>;
  using error_type =
      typename std::conditional_t<is_result<type>, type, result<int, no_launch_error>>::error_type;
};

// A hook's outcome: what it returned, or what it threw.
template <class T>
using outcome = boost::system::result<T, std::exception_ptr>;

// GCC 12 flags the frame of a coroutine taking a lambda from a header as a
// subobject without linkage when the handlers live in an anonymous namespace;
// the frame never crosses a translation unit.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wsubobject-linkage"
#endif

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
  // worker that never has to wait cannot starve the others. As many as an
  // Asio channel's typical capacity: a producer that pushes a channel's worth
  // per turn on the same thread is matched, not outrun.
  static constexpr std::uint16_t fairness_budget = 1024;

  static constexpr bool has_launch = has_on_launch<H, handle_type, name_type, parameters_type>;
  using launch_return = typename launch_traits<H, handle_type, Def, has_launch>::type;
  using launch_error_type = typename launch_traits<H, handle_type, Def, has_launch>::error_type;
  using launch_result = result<handle_type, workers::launch_error<launch_error_type>>;

  template <class... Args>
  explicit worker_impl(H handlers, Args&&... args)
      : base(std::forward<Args>(args)...), handlers_(std::move(handlers)) {}

  // On the strand, posted by the launch's initiation: runs on_launch, then the loop.
  void start_launch(waiter_ptr reply) {
    launch_reply_ = std::move(reply);
    self_ = access::make_worker<handle_type>(this->shared_from_this());
    this->hold_work();
    drive(launch());
  }

  launch_result name_taken() const {
    return launch_failure(
        errc::name_taken,
        fmt::format("workers: a worker named {} is already live in this table", this->full_name()),
        std::nullopt, nullptr);
  }

 private:
  using pending = std::optional<asio::awaitable<void>>;
  enum class cut : std::uint8_t { none, by_close, by_caller };

  // Hooks: plain or awaitable.

  // Calls a hook: the one place where the drivers differ. A plain hook's
  // outcome goes to `then` at once; an awaitable's once it completes, inside
  // the coroutine that awaits it, which then awaits what `then` returns (a
  // further hook of the same step, never the rest of the loop).
  template <class F, class Then>
  pending invoke_hook(F hook, Then then) {
    using returned = std::invoke_result_t<F&>;
    if constexpr (is_awaitable_v<returned>) {
      return await_hook<awaited_t<returned>>(std::move(hook), std::move(then));
    } else {
      outcome<returned> o = call(hook);
      return then(std::move(o));
    }
  }

  template <class F>
  static outcome<std::invoke_result_t<F&>> call(F& hook) {
    using T = std::invoke_result_t<F&>;
    hook_scope inside;
    try {
      if constexpr (std::is_void_v<T>) {
        hook();
        return {};
      } else {
        return outcome<T>(boost::system::in_place_value, hook());
      }
    } catch (...) {
      return outcome<T>(boost::system::in_place_error, std::current_exception());
    }
  }

  template <class T, class F, class Then>
  asio::awaitable<void> await_hook(F hook, Then then) {
    std::optional<outcome<T>> o;
    hook_in_flight_ = true;
    try {
      if constexpr (std::is_void_v<T>) {
        co_await hook();
        o.emplace();
      } else {
        T value = co_await hook();
        o.emplace(boost::system::in_place_value, std::move(value));
      }
    } catch (...) {
      o.emplace(boost::system::in_place_error, std::current_exception());
    }
    hook_in_flight_ = false;
    if (pending next = then(std::move(*o))) co_await std::move(*next);
  }

  // Which cancellation cut the hook that just returned short, if any: what
  // it returned or threw then is that cancellation's, and no further hook of
  // its request runs.
  cut take_cut() noexcept { return std::exchange(cut_, cut::none); }

  // Step 2 of the close: the hook in flight, if it awaits, is cancelled
  // (terminal) through the loop coroutine's cancellation slot.
  void cancel_hook_in_flight() {
    if (!hook_in_flight_ || cut_ == cut::by_close) return;
    cut_ = cut::by_close;
    reset_cancellation_ = true;
    this->cancel_signal_.emit(asio::cancellation_type::terminal);
  }

  // The drivers.

  // Runs what `first` left to await, if anything, in the loop coroutine; else
  // the loop goes on as plain code.
  void drive(pending first) {
    if (!first) first = run_loop();
    if (first) spawn_driver(std::move(*first));
    release_if_ended();
  }

  void spawn_driver(asio::awaitable<void> first) {
    driver_live_ = true;
    asio::co_spawn(this->hook_executor(), drive_async(self_, std::move(first)),
                   asio::bind_cancellation_slot(this->cancel_signal_.slot(),
                                                driver_done{this->shared_from_this()}));
  }

  // The loop while hooks are awaited; `self` keeps the worker alive.
  asio::awaitable<void> drive_async(handle_type self, asio::awaitable<void> first) {
    co_await asio::this_coro::throw_if_cancelled(false);
    for (pending p(std::move(first)); p;) {
      co_await std::move(*p);
      // A cancellation emitted for the hook must not linger for the next ones.
      if (std::exchange(reset_cancellation_, false))
        co_await asio::this_coro::reset_cancellation_state();
      p = run_loop();
    }
    (void)self;
  }

  // Runs inside the loop coroutine's last step: what comes next waits for a
  // later turn of the strand, once the coroutine (and the cancellation state
  // it keeps in the slot) is gone.
  struct driver_done {
    std::shared_ptr<base> self;
    void operator()(std::exception_ptr failure) {
      auto* w = static_cast<worker_impl*>(self.get());
      w->post([self = std::move(self), failure] {
        static_cast<worker_impl*>(self.get())->driver_ended(failure);
      });
    }
  };

  void driver_ended(std::exception_ptr failure) {
    driver_live_ = false;
    if (failure) crash(failure, "the worker's loop");
    if (auto why = std::exchange(resume_pending_, std::nullopt))
      resume(*why);
    else
      release_if_ended();
  }

  void resume(wake_reason why) override {
    if (driver_live_) {
      if (!resume_pending_ || why == wake_reason::timed_out) resume_pending_ = why;
      return;
    }
    this->cancel_timer();
    drive(why == wake_reason::timed_out && !this->is_shutting_down() ? idle() : std::nullopt);
  }

  void release_if_ended() noexcept {
    if (has_ended(this->current_phase()) && !driver_live_) self_ = handle_type{};
  }

  // The loop.

  // The loop body (strand only). Handles requests until it must await a hook
  // (it returns that), the worker is idle (parked), it has used its fairness
  // budget (a resume is posted), or the close has ended.
  pending run_loop() {
    for (;;) {
      if (this->is_shutting_down()) return close_tail();
      if (--budget_ == 0) {
        budget_ = fairness_budget;
        this->clear_current();
        this->post_resume(wake_reason::ready);
        return std::nullopt;
      }
      bool parked = false;
      entry_type* e = this->take_next(parked);
      if (!e) {
        if (parked || this->park()) {
          this->while_parked();
          return std::nullopt;
        }
        continue;
      }
      // A queued request whose caller gave up is skipped. A dropbox request
      // may hold puts made without a caller, so it is handled all the same.
      if (e->reply && !start_chain(e->reply) && !base::is_dropbox) {
        this->note_skipped(*e);
        e->reply.reset();
        continue;
      }
      if (pending p = std::visit([&](const auto& r) { return treat(*e, r); }, e->request)) return p;
    }
  }

  // The idle timeout fired: on_no_request.
  pending idle() {
    if constexpr (has_on_no_request<H, handle_type>) {
      return invoke_hook([this] { return handlers_.on_no_request(self_); },
                         [this](outcome<void> o) -> pending {
                           after_hook(o, "on_no_request");
                           return std::nullopt;
                         });
    } else {
      return std::nullopt;
    }
  }

  // The launch.

  pending launch() {
    if constexpr (has_launch) {
      return invoke_hook(
          [this] { return handlers_.on_launch(self_, this->name(), this->parameters()); },
          [this](outcome<launch_return> o) -> pending {
            launched(std::move(o));
            return std::nullopt;
          });
    } else {
      launched(outcome<launch_return>(boost::system::in_place_value, state_type{}));
      return std::nullopt;
    }
  }

  void launched(outcome<launch_return>&& o) {
    if (take_cut() == cut::by_close) {
      fail_launch(errc::closed,
                  fmt::format("workers: launch of {} failed: it was shut down during on_launch",
                              this->full_name()),
                  std::nullopt, nullptr);
      return;
    }
    if (!o) {
      fail_launch(errc::handler_exception,
                  fmt::format("workers: launch of {} failed: on_launch threw: {}",
                              this->full_name(), describe(o.error())),
                  std::nullopt, o.error());
      return;
    }
    if constexpr (is_result<launch_return>) {
      if (!*o) {
        fail_launch(errc::launch_failed,
                    fmt::format("workers: launch of {} failed: on_launch returned an error",
                                this->full_name()),
                    std::move(o->error()), nullptr);
        return;
      }
      this->set_running(std::move(**o));
    } else {
      this->set_running(std::move(*o));
    }
    note_started();
    if constexpr (base::is_callback)
      asio::co_spawn(this->hook_executor(), read_requests(this->shared_from_this(), self_),
                     asio::bind_cancellation_slot(this->reader_signal().slot(), asio::detached));
    answer_launch(launch_result(self_));
  }

  // A failed launch leaves no trace: the close's steps but on_close (it never
  // ran); whatever on_launch pushed is answered `closed`; the name leaves the table.
  void fail_launch(errc code, std::string message, std::optional<launch_error_type> error,
                   std::exception_ptr ex) {
    this->template emit<events::launch_failed>([&] { return events::launch_failed{message}; });
    this->request_close(close_cause::launch_failed);
    close_begun_ = true;
    this->stop_reader();
    this->drain();
    this->end_close();
    answer_launch(launch_failure(code, std::move(message), std::move(error), std::move(ex)));
  }

  static launch_result launch_failure(errc code, std::string message,
                                      std::optional<launch_error_type> error,
                                      std::exception_ptr ex) {
    return {boost::system::in_place_error,
            workers::launch_error<launch_error_type>{make_error_code(code), std::move(message),
                                                     std::move(error), std::move(ex)}};
  }

  // Upstream's `started` for a worker whose name prints empty, else `started_for`.
  void note_started() {
    if (!this->wants(level::info)) return;
    std::string name = fmt::format("{}", this->name());
    if (name.empty() || name == "()")
      this->template emit<events::started>([] { return events::started{}; });
    else
      this->template emit<events::started_for>([&] { return events::started_for{name}; });
  }

  void answer_launch(launch_result&& r) {
    if (auto reply = std::move(launch_reply_)) typed<launch_result>(reply)->answer(std::move(r));
  }

  // The close: the steps that run handlers.

  // Steps 2-3, posted by request_close; a parked loop wakes to finish the close.
  void close_requested(bool from_inside, bool was_parked) override {
    if (has_ended(this->current_phase())) return;
    if (!from_inside) cancel_hook_in_flight();
    this->stop_reader();
    this->drain();
    if (was_parked)
      resume(wake_reason::ready);
    else
      release_if_ended();
  }

  // Step 3 again (for what came before the posted steps ran), step 4
  // (on_close, told why), then steps 5-6. Once only.
  pending close_tail() {
    if (std::exchange(close_begun_, true)) return std::nullopt;
    cut_ = cut::none;
    this->stop_reader();
    this->drain();
    if constexpr (has_on_close<H, handle_type>) {
      return invoke_hook(
          [this, why = this->reason()] {
            if constexpr (has_on_close_with_reason<H, handle_type>)
              return handlers_.on_close(self_, why);
            else
              return handlers_.on_close(self_);
          },
          [this](outcome<void> o) -> pending {
            if (!o) this->handler_threw("on_close", o.error());
            this->end_close();
            return std::nullopt;
          });
    } else {
      this->end_close();
      return std::nullopt;
    }
  }

  void abandoned() noexcept override {
    if (launch_reply_) launch_reply_->abandon();
    launch_reply_.reset();
    if constexpr (any_cancels_with_caller) caller_.armed.reset();
    self_ = handle_type{};
  }

  // One request.

  template <class R>
  using handler_result = result<typename R::result_type, typename R::error_type>;

  request_status status_of(const entry_type& e) const {
    return {e.pushed, e.treated - e.pushed, clock::now() - e.treated};
  }

  template <class R>
  pending treat(entry_type& e, const R& r) {
    arm_caller_cancel<R>(e);
    return invoke_hook([this, &r] { return handlers_.on_request(self_, r); },
                       [this, &e, &r](outcome<handler_result<R>> o) -> pending {
                         disarm_caller_cancel();
                         this->note_handled();
                         switch (take_cut()) {
                           case cut::by_close:
                             this->note_dropped(e);
                             answer_error(e, worker_closed{this->crash_errors()});
                             return std::nullopt;
                           case cut::by_caller:  // answered `request_cancelled` already
                             this->note_cancelled(e);
                             return std::nullopt;
                           case cut::none:
                             break;
                         }
                         if (!o) {
                           answer_error(e, handler_exception{o.error()});
                           this->note_thrown();
                           crash(o.error(), "on_request");
                           return std::nullopt;
                         }
                         if (*o) return succeeded<R>(e, r, std::move(**o));
                         if constexpr (std::is_same_v<typename R::error_type, never>)
                           return std::nullopt;  // no value of `never` exists: unreachable
                         else
                           return failed<R>(e, r, std::move(o->error()));
                       });
  }

  // The caller is answered first; on_completion runs after, and sees the
  // result. A result that cannot be copied reaches its caller once
  // on_completion has seen it.
  template <class R>
  pending succeeded(entry_type& e, const R& r, typename R::result_type value) {
    using T = typename R::result_type;
    if constexpr (has_on_completion<H, handle_type, R>) {
      const request_status st = status_of(e);
      if constexpr (std::is_copy_constructible_v<T>) {
        if (e.reply) answer_value<R>(e, T(value));
        return invoke_hook(
            // In an optional: GCC 12 takes an empty result type captured by value for
            // uninitialized.
            [this, &r, st, v = std::optional<T>(std::move(value))] {
              return handlers_.on_completion(self_, r, *v, st);
            },
            [this, &e, st](outcome<void> o) -> pending {
              this->note_success(e, st);
              after_hook(o, "on_completion");
              return std::nullopt;
            });
      } else {
        auto v = std::make_shared<T>(std::move(value));
        return invoke_hook(
            [this, &r, st, v] { return handlers_.on_completion(self_, r, std::as_const(*v), st); },
            [this, &e, st, v](outcome<void> o) -> pending {
              answer_value<R>(e, std::move(*v));
              this->note_success(e, st);
              after_hook(o, "on_completion");
              return std::nullopt;
            });
      }
    } else {
      answer_value<R>(e, std::move(value));
      if (this->wants(level::debug)) this->note_success(e, status_of(e));
      return std::nullopt;
    }
  }

  // The caller gets its request_error first; on_error runs after and decides.
  template <class R>
  pending failed(entry_type& e, const R& r, typename R::error_type error) {
    using E = typename R::error_type;
    if constexpr (has_on_error<H, handle_type, R>) {
      const request_status st = status_of(e);
      const auto decide = [this](outcome<error_action>& o) {
        if (take_cut() != cut::none) return;
        if (!o) {
          this->note_crashed_on();
          crash(o.error(), "on_error");
        } else {
          apply(*o);
        }
      };
      this->note_failure(e, st, std::as_const(error));  // before on_error's decision acts
      if constexpr (std::is_copy_constructible_v<E>) {
        if (e.reply) answer_request_error<R>(e, E(error));
        return invoke_hook(
            [this, &r, st, err = std::optional<E>(std::move(error))] {
              return handlers_.on_error(self_, st, r, *err);
            },
            [decide](outcome<error_action> o) -> pending {
              decide(o);
              return std::nullopt;
            });
      } else {
        auto err = std::make_shared<E>(std::move(error));
        return invoke_hook(
            [this, &r, st, err] { return handlers_.on_error(self_, st, r, std::as_const(*err)); },
            [this, &e, err, decide](outcome<error_action> o) -> pending {
              answer_request_error<R>(e, std::move(*err));
              decide(o);
              return std::nullopt;
            });
      }
    } else {
      if (this->observing_requests()) this->note_failure(e, status_of(e), std::as_const(error));
      answer_request_error<R>(e, std::move(error));
      return std::nullopt;
    }
  }

  template <class R>
  void answer_value(entry_type& e, typename R::result_type&& v) {
    if (e.reply)
      answer_chain<R>(std::move(e.reply),
                      reply_result<R>(boost::system::in_place_value, std::move(v)),
                      this->dispatches_replies());
  }
  template <class R>
  void answer_request_error(entry_type& e, typename R::error_type&& err) {
    using E = typename R::error_type;
    if (e.reply)
      answer_chain<R>(std::move(e.reply),
                      reply_result<R>(boost::system::in_place_error,
                                      message_error<E>(request_error<E>{std::move(err)})),
                      this->dispatches_replies());
  }

  // After on_completion, on_error's failure, on_no_request: a throw crashes
  // the worker, unless the hook was cut short.
  void after_hook(const outcome<void>& o, const char* where) {
    if (take_cut() != cut::none || o) return;
    crash(o.error(), where);
  }

  void apply(const error_action& action) {
    switch (action.what()) {
      case error_action::kind::proceed:
        break;
      case error_action::kind::shutdown:
        this->request_close(close_cause::on_error_shutdown);
        break;
      case error_action::kind::crash:
        this->note_crashed_on();
        this->request_close(close_cause::crash, action.errors());
        break;
    }
  }

  void crash(const std::exception_ptr& ex, const char* where) { this->handler_threw(where, ex); }

  // A caller's cancellation, for requests that opt in.

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

  // Whether some request type opts in: only then does the worker keep what it needs.
  template <class R>
  using opts_in = std::bool_constant<cancels_with_caller<R>>;
  static constexpr bool any_cancels_with_caller =
      boost::mp11::mp_any_of<typename Def::request_param::types, opts_in>::value;
  struct caller_cancel_state {
    waiter_ptr armed;                 // the caller whose cancellation is armed
    std::uint64_t serial = 0;         // numbers the cancellable requests handled
    std::uint64_t armed_request = 0;  // the one whose handler runs, if any
  };
  struct no_caller_cancel {};

  // Arms the caller's cancellation of `e` if R opted in and it has one caller.
  template <class R>
  void arm_caller_cancel(entry_type& e) {
    if constexpr (cancels_with_caller<R>) {
      if (e.reply && !e.reply->next()) {
        caller_.armed_request = ++caller_.serial;
        caller_.armed = e.reply;
        caller_.armed->arm(new caller_cancel(this->weak_from_this(), caller_.armed_request));
      }
    }
  }
  void disarm_caller_cancel() noexcept {
    if constexpr (any_cancels_with_caller) {
      if (caller_.armed) {
        caller_.armed->disarm();
        caller_.armed.reset();
      }
      caller_.armed_request = 0;
    }
  }

  void cancel_for_caller(std::uint64_t request) override {
    if constexpr (any_cancels_with_caller) {
      // Only while that request's handler runs: a late cancellation must not hit the next one.
      if (request != caller_.armed_request || !hook_in_flight_ || cut_ != cut::none) return;
      cut_ = cut::by_caller;
      reset_cancellation_ = true;
      this->cancel_signal_.emit(asio::cancellation_type::terminal);
    }
  }

  [[no_unique_address]] H handlers_;
  handle_type self_;  // see the invariants above
  waiter_ptr launch_reply_;
  std::uint16_t budget_ = fairness_budget;
  std::optional<wake_reason> resume_pending_;
  cut cut_ = cut::none;
  bool hook_in_flight_ = false;      // an awaited hook is in flight
  bool reset_cancellation_ = false;  // the loop coroutine's cancellation state was emitted
  bool driver_live_ = false;         // a loop coroutine exists
  bool close_begun_ = false;         // close_tail ran
  [[no_unique_address]] std::conditional_t<any_cancels_with_caller, caller_cancel_state,
                                           no_caller_cancel>
      caller_;
};

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

}  // namespace workers::inline v0::detail
