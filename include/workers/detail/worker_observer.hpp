#pragma once

// A worker's books: the events it emits (events.hpp), the metrics it keeps
// (metrics.hpp) and its queue alarms (launch_options.hpp), written as the
// worker notes what happens. What nobody listens to costs a test of a mask or
// a pointer: no event is built, no clock read.
//
// Every request ends with exactly one outcome, noted once, as its callers are
// told: `handled` (the handler ran to its end and its result, value or
// request error, reached its callers; `failed` and `crashed` count subsets of
// those), `cancelled` (every caller gave up first: skipped while queued,
// dropped at admission, cut short, or its result discarded), `dropped` (left
// unhandled at the close, cut short by it, or merged away from a dropbox) or
// `refused` (pushed after the close began).
//
// Mixed into the worker (`Core`, which gives `config()`, `seam()`,
// `full_name()` and `mailbox()`).

#include <workers/clock.hpp>
#include <workers/close_reason.hpp>
#include <workers/detail/config.hpp>
#include <workers/detail/entry.hpp>
#include <workers/detail/metrics_cells.hpp>
#include <workers/events.hpp>
#include <workers/launch_options.hpp>
#include <workers/metrics.hpp>
#include <workers/sink.hpp>
#include <workers/status.hpp>

#include <fmt/format.h>

#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <typeinfo>
#include <utility>

WORKERS_BEGIN_NAMESPACE
namespace detail {

template <class Core, class Def>
class worker_observer {
 public:
  using view_type = typename Def::request_view;
  using entry_type = entry<Def>;

  WORKERS_ALWAYS_INLINE bool wants(level l) const noexcept {
    return core().config().events.wants(l);
  }
  // Whether the requests' outcomes are kept: metrics, or a sink for their events.
  WORKERS_ALWAYS_INLINE bool observing() const noexcept { return metrics_ || wants(level::debug); }

  // Emits the event whose fields `make()` builds, if the sink wants its level.
  // Never throws: an event that cannot be built is lost, and counted.
  template <class Fields, class Make>
  void emit(Make&& make) const noexcept {
    constexpr level lvl = level_of(kind_of<Fields>());
    if (wants(lvl)) [[unlikely]]
      deliver_event<Fields>(lvl, make);
  }

  // Outcomes.

  // Pushed after the close began (the caller's thread).
  template <class View>
  WORKERS_COLD void note_refused_view(View&& view) {
    if (metrics_) metrics_cells::add(metrics_->refused);
    emit<events::request_refused>(
        [&] { return events::request_refused{event_value::of(view_type(view()))}; });
  }
  // Every caller gave up first (any thread). `handled`: its handler ran to its
  // end, and its result was discarded.
  // `kept`, here and below: the view of a request moved out for its handler.
  void note_cancelled(const entry_type& e, bool handled = false, const view_type* kept = nullptr) {
    if (metrics_) metrics_cells::add(metrics_->cancelled);
    emit<events::request_cancelled>([&] {
      return events::request_cancelled{event_value::of(view(e, kept)), wall_of(e.pushed), handled};
    });
  }
  // Left unhandled because the worker closed, or cut short by the close.
  void note_dropped(const entry_type& e, const view_type* kept = nullptr) {
    if (metrics_) metrics_cells::add(metrics_->dropped);
    emit<events::request_dropped>([&] {
      return events::request_dropped{event_value::of(view(e, kept)), wall_of(e.pushed)};
    });
  }
  // A dropbox's merge dropped the callers of a put (or of the slot's
  // request): `dropped`, or `cancelled` if they had all given up.
  void note_merged_away(const std::optional<view_type>& view, steady_clock::time_point pushed,
                        bool gave_up) {
    if (metrics_) metrics_cells::add(gave_up ? metrics_->cancelled : metrics_->dropped);
    if (!view) return;
    if (gave_up)
      emit<events::request_cancelled>([&] {
        return events::request_cancelled{event_value::of(*view), wall_of(pushed), false};
      });
    else
      emit<events::request_dropped>([&] {
        return events::request_dropped{event_value::of(*view), wall_of(pushed)};
      });
  }
  // Handled: its value reached its callers (strand). The event waits for
  // `note_success`, after on_completion.
  WORKERS_ALWAYS_INLINE void note_handled() noexcept {
    if (metrics_) bump(metrics_->handled);
  }
  void note_success(const entry_type& e, const request_status& st,
                    const view_type* kept = nullptr) {
    emit<events::request_no_errors>([&] {
      return events::request_no_errors{event_value::of(view(e, kept)), st};
    });
  }
  // Handled: its request error reached its callers (before on_error's decision acts).
  template <class E>
  void note_failed(const entry_type& e, const request_status& st, const E& error,
                   const view_type* kept = nullptr) {
    if (metrics_) {
      bump(metrics_->handled);
      bump(metrics_->failed);
    }
    emit<events::request_error>([&] {
      return events::request_error{event_value::of(view(e, kept)), st, error_value(error)};
    });
  }
  // Handled: its handler threw, its callers got the exception, the worker crashes.
  void note_threw() noexcept {
    if (metrics_) {
      bump(metrics_->handled);
      bump(metrics_->crashed);
    }
  }
  // A failed request's on_error crashed the worker (it threw, or said crash).
  void note_crashed_on() noexcept {
    if (metrics_) bump(metrics_->crashed);
  }

  // Service spans (strand): a request taken starts one, the next take, park,
  // yield or close ends it.
  WORKERS_ALWAYS_INLINE void service_starts(const entry_type& e) noexcept {
    if (metrics_) {
      metrics_->end_service(e.treated);
      metrics_->start_service(e.pushed, e.treated);
    }
  }
  void service_ends(steady_clock::time_point now) noexcept {
    if (metrics_) metrics_->end_service(now);
  }
  WORKERS_ALWAYS_INLINE bool measures_service() const noexcept { return metrics_ != nullptr; }

  // The life of the worker.

  // Upstream's `started` for a worker whose name prints empty, else `started_for`.
  template <class Name>
  void note_started(const Name& name) {
    if (!wants(level::info)) return;
    std::string text = fmt::format("{}", name);
    if (text.empty() || text == "()")
      emit<events::started>([] { return events::started{}; });
    else
      emit<events::started_for>([&] { return events::started_for{text}; });
  }
  void note_triggering_shutdown() {
    emit<events::triggering_shutdown>([] { return events::triggering_shutdown{}; });
  }
  void note_launch_failed(const std::string& message) {
    emit<events::launch_failed>([&] { return events::launch_failed{message}; });
  }
  void note_handler_threw(const char* where, const std::string& text) {
    emit<events::handler_exception>([&] { return events::handler_exception{where, text}; });
  }
  // The end of the close: terminated, or crashed with every error. A failed
  // launch has had its launch_failed.
  void note_ended(const close_reason& why, const shutdown_report& report) {
    if (why.cause == close_cause::launch_failed) return;
    if (why.crash_errors)
      emit<events::crashed>([&] { return events::crashed{*why.crash_errors, report}; });
    else
      emit<events::terminated>([&] { return events::terminated{report}; });
  }
  // The close's deadline expired.
  WORKERS_COLD void note_escalated(shutdown_mode from, shutdown_mode to) {
    if (metrics_) metrics_cells::add(metrics_->escalations);
    emit<events::shutdown_escalated>([&] { return events::shutdown_escalated{from, to}; });
  }
  // Supervision (launch_options::restart).
  WORKERS_COLD void note_restarting(std::uint32_t attempt, close_cause cause,
                                    const std::optional<error_list>& errors,
                                    clock::duration delay) {
    if (metrics_) metrics_cells::add(metrics_->restarts);
    emit<events::restarting>([&] {
      return events::restarting{attempt, cause, errors ? *errors : error_list{}, delay};
    });
  }
  WORKERS_COLD void note_restarted(std::uint32_t attempt) {
    emit<events::restarted>([&] { return events::restarted{attempt}; });
  }
  WORKERS_COLD void note_restart_limit(unsigned intensity, clock::duration period,
                                       const std::optional<error_list>& errors) {
    emit<events::restart_limit_reached>([&] {
      return events::restart_limit_reached{intensity, period, errors ? *errors : error_list{}};
    });
  }
  // The watchdog (launch_options::slow, stuck): `e`'s handler has run `running`.
  WORKERS_COLD void note_slow(const entry_type& e, clock::duration running, bool returned) {
    if (metrics_) metrics_cells::add(metrics_->slow);
    emit<events::request_slow>([&] {
      return events::request_slow{event_value::of(Def::view_of(e.request)), running, returned};
    });
  }
  WORKERS_COLD void note_stuck(const entry_type& e, clock::duration running, bool returned) {
    if (metrics_) metrics_cells::add(metrics_->stuck);
    emit<events::request_stuck>([&] {
      return events::request_stuck{event_value::of(Def::view_of(e.request)), running, returned};
    });
  }

  // Queue alarms (launch_options::alarms).

  WORKERS_ALWAYS_INLINE bool alarmed() const noexcept { return alarm_ != nullptr; }
  // After a push (any thread): the length only (a push makes nothing older).
  WORKERS_COLD void check_alarm_on_push() {
    const std::size_t length = core().mailbox().size();
    alarm_change change = alarm_change::none;
    {
      std::lock_guard lock(alarm_->mutex);
      const auto& a = alarm_->limits;
      if (!alarm_->raised && a.high != 0 && length >= a.high) {
        alarm_->raised = true;
        change = alarm_change::high;
      }
    }
    note_alarm(change, length, steady_clock::duration{});
  }
  // At a take (strand): the length left and the wait of the request taken (the oldest).
  void check_alarm_on_take(const entry_type* taken) {
    const steady_clock::duration age =
        taken ? taken->treated - taken->pushed : steady_clock::duration{};
    const std::size_t length = core().mailbox().size();
    alarm_change change = alarm_change::none;
    {
      std::lock_guard lock(alarm_->mutex);
      const auto& a = alarm_->limits;
      const bool too_old = a.max_age && age >= *a.max_age;
      const bool too_long = a.high != 0 && length >= a.high;
      if (!alarm_->raised && (too_old || too_long)) {
        alarm_->raised = true;
        change = alarm_change::high;
      } else if (alarm_->raised && !too_old && (a.high == 0 || length <= a.low)) {
        alarm_->raised = false;
        change = alarm_change::normal;
      }
    }
    note_alarm(change, length, age);
  }

  std::optional<worker_metrics> metrics_snapshot(std::size_t length, std::size_t in_flight) const {
    if (!metrics_) return std::nullopt;
    return metrics_->snapshot(length, in_flight);
  }

 protected:
  // The worker checks `alarms` (low ≤ high) before it is made.
  worker_observer(bool metrics, const std::optional<queue_alarms>& alarms) {
    if (alarms) alarm_ = std::make_unique<alarm_state>(*alarms);
    if (metrics) metrics_ = std::make_unique<metrics_cells>();
  }

 private:
  const Core& core() const noexcept { return static_cast<const Core&>(*this); }

  static view_type view(const entry_type& e, const view_type* kept) {
    return kept ? *kept : Def::view_of(e.request);
  }

  clock::time_point wall_of(steady_clock::time_point t) const noexcept {
    return core().seam().wall_of(t);
  }

  template <class Fields, class Make>
  WORKERS_COLD void deliver_event(level lvl, Make& make) const noexcept {
    try {
      core().config().events.deliver(event{lvl, Def::section(), core().full_name(),
                                           core().seam().wall_now(),
                                           event_fields(std::in_place_type<Fields>, make())});
    } catch (...) {
      sink_failure_count.fetch_add(1, std::memory_order_relaxed);
    }
  }

  // A request's error as an event carries it: itself if it can be copied, else its text.
  template <class E>
  static event_value error_value(const E& error) {
    if constexpr (std::is_copy_constructible_v<E>)
      return event_value::of(error);
    else if constexpr (fmt::is_formattable<E>::value)
      return event_value::of(fmt::format("{}", error));
    else
      return event_value::of(std::string(typeid(E).name()));
  }

  enum class alarm_change : std::uint8_t { none, high, normal };
  struct alarm_state {
    explicit alarm_state(const queue_alarms& a) : limits(a) {}
    std::mutex mutex;
    queue_alarms limits;
    bool raised = false;
  };

  void note_alarm(alarm_change change, std::size_t length, steady_clock::duration age) {
    if (change == alarm_change::high) {
      if (metrics_) metrics_cells::add(metrics_->queue_alarms);
      emit<events::queue_high>([&] {
        return events::queue_high{length, std::chrono::duration_cast<clock::duration>(age)};
      });
    } else if (change == alarm_change::normal) {
      emit<events::queue_normal>([&] { return events::queue_normal{length}; });
    }
  }

  std::unique_ptr<metrics_cells> metrics_;  // made if the table keeps metrics
  std::unique_ptr<alarm_state> alarm_;      // made if the launch set queue alarms
};

}  // namespace detail
WORKERS_END_NAMESPACE
