#pragma once

// A worker with its handlers. This header is its index, one line per member;
// the bodies live in impl/, one file per idea:
//
//   impl/hook_call.hpp          calling a hook, plain or awaited; an awaited one
//                               is a call of its own, cut short alone (one per
//                               request)
//   impl/run_loop.hpp           the loop on the strand: wake-ups, takes, parks,
//                               fairness, the idle timeout
//   impl/request_treatment.hpp  one request: on_request, its answer, on_completion
//                               or on_error, and the outcome in the books
//   impl/caller_cancel.hpp      a caller's cancellation reaching the handler
//                               (request types that opt in)
//   impl/watch.hpp              the watchdog: slow and stuck handlers
//   impl/launch_sequence.hpp    on_launch, and a launch that fails
//   impl/close_sequence.hpp     the close, every way a worker ends
//   impl/restart_sequence.hpp   a close that keeps the worker, then a launch
//
// The loop runs as plain code on the strand, started by the post that wakes
// it: an idle worker is a flag in its mailbox, not a suspended coroutine. When
// a hook returns an awaitable, the loop goes on in a coroutine (`drive_async`)
// that awaits it, and each awaitable after it, until the worker is idle.
// Invariants (strand only):
//  - one runner at a time: the loop runs from a wake-up (posted by whoever ends
//    the park: the mailbox's push, the idle timer), from its own yield, or in
//    its coroutine; a wake-up comes only while the loop is parked, so a
//    coroutine that is still finishing its last step never runs beside it
//    (each coroutine has a signal of its own: two never share a slot);
//  - every post to the strand holds a reference to the worker, and `self_`
//    (the handle handlers see) lives from the start of the launch until the
//    close has ended: a worker lives on without any other handle, like an
//    Octez worker.

#include <workers/clock.hpp>
#include <workers/close_reason.hpp>
#include <workers/detail/config.hpp>
#include <workers/detail/entry.hpp>
#include <workers/detail/handler_concepts.hpp>
#include <workers/detail/handler_traits.hpp>
#include <workers/detail/hook_executor.hpp>
#include <workers/detail/reply_chain.hpp>
#include <workers/detail/worker_core.hpp>
#include <workers/handlers.hpp>
#include <workers/message_error.hpp>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/mp11/algorithm.hpp>
#include <boost/system/result.hpp>

#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>

WORKERS_BEGIN_NAMESPACE
namespace detail {

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

// Who cut an awaited hook short: what it returned or threw then is that
// cancellation's, and no further hook of its request runs.
enum class cut : std::uint8_t { none, by_close, by_caller, by_watchdog };

// An awaited hook in flight, with the hooks of its request that follow it:
// one per request (or on_launch, on_no_request, on_close). It says who cut it
// short; a cancellation meant for it reaches it only while it is in flight.
struct hook_call {
  void* request = nullptr;  // the entry whose hooks it awaits; null for the worker's own
  cut cut_by = cut::none;
  bool active = false;  // in flight
  bool noted = false;   // the request's outcome is noted (its on_request returned)
  explicit operator bool() const noexcept { return active; }
};
// Who a request's caller cancels: the call its waiter's hook was armed for,
// known by this link (held by the worker while that call is in flight).
struct caller_link {};

// The coroutine that runs the loop while hooks are awaited: one per busy
// period that awaits, with the signal its calls are cut through. A cut leaves
// the coroutine's cancellation state cancelled for good, so the coroutine of
// a call cut short ends with it, and the next call gets a new one: a
// cancellation meant for one call never reaches another.
struct loop_driver {
  boost::asio::cancellation_signal signal;
  bool spent = false;  // a call of it was cut short
};

// How far the close went (impl/close_sequence.hpp).
enum class close_step : std::uint8_t { none, stopped, drained, on_close, ended };
// How far the restart in progress went (impl/restart_sequence.hpp).
enum class restart_step : std::uint8_t { none, on_close, closed, waiting, launching };

// GCC 12 flags the frame of a coroutine taking a lambda from a header as a
// subobject without linkage when the handlers live in an anonymous namespace;
// the frame never crosses a translation unit.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wsubobject-linkage"
#endif

template <class Def, class Kind, class H>
class worker_impl final : public worker_core<Def, Kind> {
  using base = worker_core<Def, Kind>;

 public:
  using handle_type = worker<Def, Kind>;
  using entry_type = typename base::entry_type;
  using state_type = typename Def::state_type;
  using name_type = typename Def::name_type;
  using parameters_type = typename Def::parameters_type;
  using mailbox_type = typename base::mailbox_type;
  using leftovers = typename base::leftovers;

  // Requests handled in a row before the loop yields to the executor, so a
  // worker that never has to wait cannot starve the others. As many as an
  // Asio channel's typical capacity: a producer that pushes a channel's worth
  // per turn on the same thread is matched, not outrun.
  static constexpr std::uint16_t fairness_budget = 1024;

  static constexpr bool has_launch = has_on_launch<H, handle_type, name_type, parameters_type>;
  // Whether a hook gets a request's status (its times).
  template <class... R>
  static constexpr bool reads_statuses(std::variant<R...>*) {
    return ((has_on_completion<H, handle_type, R> || has_on_error<H, handle_type, R>) || ...);
  }
  using launch_return = typename launch_traits<H, handle_type, Def, has_launch>::type;
  using launch_error_type = typename launch_traits<H, handle_type, Def, has_launch>::error_type;
  using launch_result = result<handle_type, workers::launch_error<launch_error_type>>;

  template <class... Args>
  explicit worker_impl(H handlers, Args&&... args)
      : base(std::forward<Args>(args)...), handlers_(std::move(handlers)) {
    if constexpr (reads_statuses(static_cast<typename Def::request_variant*>(nullptr)))
      this->stamp_precisely();
  }

  // The launch (impl/launch_sequence.hpp).
  void start_launch(waiter_ptr reply);  // on the strand, posted by the launch's initiation
  launch_result name_taken() const;

 private:
  using pending = std::optional<boost::asio::awaitable<void>>;

  // Hooks (impl/hook_call.hpp).
  template <class F, class Then>
  pending invoke_hook(F hook, Then then);
  template <class F>
  outcome<std::invoke_result_t<F&>> call(F& hook);
  std::exception_ptr caught(const std::exception& e);
  std::string described(const std::exception_ptr& e);
  template <class T, class F, class Then>
  boost::asio::awaitable<void> await_hook(F hook, Then then);
  void begin_call(entry_type* request);
  void end_call() noexcept;
  void cut_call(cut by) noexcept;
  cut take_cut() noexcept;

  // The loop (impl/run_loop.hpp).
  void resume(wake_reason why) override;
  void drive(pending first, entry_type* request = nullptr);
  boost::asio::awaitable<void> drive_async(std::shared_ptr<base> keep,
                                           std::shared_ptr<loop_driver> driver,
                                           boost::asio::awaitable<void> first);
  void driver_ended(const std::shared_ptr<loop_driver>& driver, std::exception_ptr failure);
  pending run_loop(entry_type*& request);
  bool park();
  void idle_due();
  pending idle();

  // The launch (impl/launch_sequence.hpp).
  pending launch();
  void launched(outcome<launch_return>&& o);
  void fail_launch(errc code, std::string message, std::optional<launch_error_type> error,
                   std::exception_ptr ex);
  static launch_result launch_failure(errc code, std::string message,
                                      std::optional<launch_error_type> error,
                                      std::exception_ptr ex);
  void answer_launch(launch_result&& r);

  // One request (impl/request_treatment.hpp).
  template <class R>
  using handler_result = result<typename R::result_type, typename R::error_type>;
  template <class R>
  static constexpr bool moves_request = on_request_by_rvalue<H, handle_type, R>;
  using view_type = typename Def::request_view;
  template <class R>
  pending treat(entry_type& e, R& r);
  template <class R>
  WORKERS_COLD pending settle_cut(cut by, entry_type& e, outcome<handler_result<R>>& o);
  template <class R>
  void answer_threw(entry_type& e, const std::exception_ptr& ex, bool crashes);
  template <class R>
  const view_type* kept_view(const entry_type& e) const;
  template <class R>
  pending succeeded(entry_type& e, const R& r, typename R::result_type value);
  template <class R>
  pending failed(entry_type& e, const R& r, typename R::error_type error);
  template <class R>
  bool answer_value(entry_type& e, typename R::result_type&& v);
  template <class R>
  bool answer_request_error(entry_type& e, const request_status& st, typename R::error_type&& err);
  void after_hook(const outcome<void>& o, const char* where);
  void apply(const error_action& action, bool handled);
  void crash(const std::exception_ptr& ex, const char* where);

  // A caller's cancellation reaching the handler (impl/caller_cancel.hpp).
  class caller_cancel;
  template <class R>
  using opts_in = std::bool_constant<cancels_with_caller<R>>;
  // Whether some request type opts in: only then does the worker keep what it needs.
  static constexpr bool any_cancels_with_caller =
      boost::mp11::mp_any_of<typename Def::request_param::types, opts_in>::value;
  struct no_caller {};
  template <class R>
  void arm_caller_cancel(entry_type& e);
  void arm_for_call();
  void disarm_caller_cancel() noexcept;
  void cancel_from_caller(const std::weak_ptr<caller_link>& link);

  // What some workers do at each take (an idle timeout, queue alarms, the
  // watchdog): one test for all of them (run_loop.hpp).
  WORKERS_COLD void take_extras(entry_type& e);

  // The watchdog (impl/watch.hpp).
  void watch_begin(entry_type& e);
  void arm_watch();
  void watch_end(const entry_type& e) noexcept;
  void watch_due();

  // The close (impl/close_sequence.hpp).
  void continue_close(bool from_inside) override;
  void arm_deadline();
  void deadline_expired();
  void cut_by_close(bool any) noexcept;
  pending advance_close(bool abandoning = false, bool from_inside = false);
  template <class F>
  static void answer_oldest_first(waiter_ptr newest, F answer);
  pending run_on_close();
  void finish_close(bool abandoning);
  void abandon() noexcept override;

  // The restart (impl/restart_sequence.hpp).
  void continue_restart() override;
  WORKERS_COLD pending advance_restart();
  pending run_restart_on_close();
  void empty_queue();
  pending schedule_restart();
  void restart_due();
  void cancel_restart_timer(bool drop) noexcept;
  void relaunch_failed(std::string message);

  [[no_unique_address]] H handlers_;
  // First, so that they fill the tail padding of worker_core.
  std::uint16_t budget_ = fairness_budget;
  close_step close_step_ = close_step::none;
  bool drained_ = false;          // a drain found the mailbox empty
  bool counted_handled_ = false;  // the call in flight counts in the close's `handled`
  restart_step restart_step_ = restart_step::none;
  bool loop_held_ = false;    // a restart holds the loop (unparked, not running) until it launches
  bool restart_due_ = false;  // the restart's backoff ended
  bool launching_ = false;    // on_launch is in flight: the close waits for it
  handle_type self_;          // see the invariants above
  waiter_ptr launch_reply_;   // until the launch completes
  std::shared_ptr<loop_driver> driver_;  // the loop coroutine, while the loop awaits
  hook_call call_;                       // the awaited hook in flight, if any
  bool noted_next_ = false;  // the next call is the hooks of a request whose outcome is noted
  // The close's deadline (impl/close_sequence.hpp), once a shutdown gave one.
  std::unique_ptr<time_source::timer> deadline_timer_;
  std::optional<steady_clock::time_point> armed_deadline_;
  // The last exception a hook threw, with what it says (impl/hook_call.hpp).
  struct caught_exception {
    std::exception_ptr ptr;
    std::string what;
  };
  std::unique_ptr<caught_exception> caught_;
  // The caller whose cancellation reaches the handler, if any, and the link
  // its cancellation follows to the call in flight.
  struct armed_caller {
    waiter_ptr caller;
    std::shared_ptr<caller_link> link;
  };
  [[no_unique_address]] std::conditional_t<any_cancels_with_caller, armed_caller, no_caller> armed_;
};

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

}  // namespace detail
WORKERS_END_NAMESPACE

#include <workers/detail/impl/caller_cancel.hpp>
#include <workers/detail/impl/close_sequence.hpp>
#include <workers/detail/impl/hook_call.hpp>
#include <workers/detail/impl/launch_sequence.hpp>
#include <workers/detail/impl/request_treatment.hpp>
#include <workers/detail/impl/restart_sequence.hpp>
#include <workers/detail/impl/run_loop.hpp>
#include <workers/detail/impl/watch.hpp>
