#pragma once

/// @file
/// @brief The events a worker emits (upstream's `Worker_events`), with their
/// levels, sections, names and typed fields.
///
/// An event is built only when a sink wants its level (see `<workers/sink.hpp>`);
/// with the silent default none is built, no string formatted, nothing allocated.

#include <workers/clock.hpp>
#include <workers/close_reason.hpp>
#include <workers/detail/config.hpp>
#include <workers/shutdown_report.hpp>
#include <workers/status.hpp>

#include <boost/mp11/algorithm.hpp>

#include <fmt/format.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <typeinfo>
#include <utility>
#include <variant>
#include <vector>

WORKERS_BEGIN_NAMESPACE

/// @brief The level of an event (upstream's `Internal_event.level`), lowest first.
enum class level : std::uint8_t { debug, info, notice, warning, error, fatal };

/// @brief Upstream's spelling of a level: `"debug"`, `"info"`, ...
constexpr std::string_view to_string(level l) noexcept {
  constexpr std::array<std::string_view, 6> names = {"debug",   "info",  "notice",
                                                     "warning", "error", "fatal"};
  return names[static_cast<std::size_t>(l)];
}

/// @brief A typed value an event carries without knowing its type: a request's
/// view, a request's error. Cheap to copy (shared); `get<T>()` gives it back typed,
/// `text()` as fmt prints it.
class event_value {
 public:
  event_value() = default;

  /// @brief Holds `value`.
  template <class T>
  static event_value of(T value) {
    event_value v;
    v.value_ = std::make_shared<const T>(std::move(value));
    v.ops_ = &ops_for<T>;
    return v;
  }

  /// @brief The value if it is a `T`, else null.
  template <class T>
  const T* get() const noexcept {
    return ops_ && *ops_->type == typeid(T) ? static_cast<const T*>(value_.get()) : nullptr;
  }
  /// @brief The value as fmt prints it (its type's name if fmt cannot).
  std::string text() const { return ops_ ? ops_->text(value_.get()) : std::string(); }
  /// @brief True if it holds a value.
  explicit operator bool() const noexcept { return value_ != nullptr; }

 private:
  struct ops {
    const std::type_info* type;
    std::string (*text)(const void*);
  };
  template <class T>
  static std::string text_of(const void* p) {
    if constexpr (fmt::is_formattable<T>::value)
      return fmt::format("{}", *static_cast<const T*>(p));
    else
      return typeid(T).name();
  }
  template <class T>
  static constexpr ops ops_for{&typeid(T), &text_of<T>};

  std::shared_ptr<const void> value_;
  const ops* ops_ = nullptr;
};

/// @brief The typed fields of each event, one struct per event. The README's
/// "Events" table gives each one's level, when it is emitted and its upstream name.
namespace events {

/// @brief The launch completed, for a worker whose name prints empty (a single
/// worker). Upstream: `started_<base>`. Info.
struct started {};
/// @brief The launch completed. Upstream: `started_for_<base>`. Info.
struct started_for {
  std::string name;  ///< the worker's name as fmt prints it
};
/// @brief `shutdown`/`trigger_shutdown`, or `on_error` answered shutdown: the
/// close begins. Upstream: `triggering_<base>`. Debug.
struct triggering_shutdown {};
/// @brief The close ended without a crash. Upstream: `terminate_<base>` (which
/// has no field). Info.
struct terminated {
  shutdown_report report = {};  ///< what the close did
};
/// @brief The close ended after a crash. Upstream: `crashed_<base>`. Error.
struct crashed {
  error_list errors;            ///< every crash error, as the closed status has them
  shutdown_report report = {};  ///< what the close did
};
/// @brief A request was handled and succeeded (after `on_completion`).
/// Upstream: `request_no_errors_<base>`. Debug.
struct request_no_errors {
  event_value view;       ///< the request's view (`Request::view_type`)
  request_status status;  ///< its push time and spans (`workers::clock`)
};
/// @brief A request was handled and failed (emitted before `on_error` runs).
/// Upstream declares it as `request_<base>` and never emits it. Debug.
struct request_error {
  event_value view;       ///< the request's view (`Request::view_type`)
  request_status status;  ///< its push time and spans (`workers::clock`)
  event_value error;      ///< the request's `error_type` value
};
/// @brief `on_launch` failed (returned an error, threw, or was shut down). Error.
struct launch_failed {
  std::string error;  ///< the launch_error's message
};
/// @brief A request left unhandled: the worker closed while it was queued, or
/// cut its handler short (its callers are answered `closed`), or a dropbox's
/// merge dropped its callers (`request_dropped`). Info.
struct request_dropped {
  event_value view;  ///< the request's view (`Request::view_type`)
  clock::time_point
      pushed;  ///< when it was pushed (`workers::clock`; resolution: `request_status`)
};
/// @brief A request's callers all gave up: it was skipped while queued (or
/// waiting for room), its handler was cut short (a request type that opts in),
/// or its handler ran to its end and its result was discarded (`handled`). Info.
struct request_cancelled {
  event_value view;  ///< the request's view (`Request::view_type`)
  clock::time_point
      pushed;  ///< when it was pushed (`workers::clock`; resolution: `request_status`)
  /// True when the handler ran to its end: its result (value, request error or
  /// exception) reached no caller, every one having given up first.
  bool handled = false;
};
/// @brief A request was pushed after the close began and refused
/// (`errc::closed`). Warning.
struct request_refused {
  event_value view;  ///< the request's view (`Request::view_type`)
};
/// @brief A handler, `merge` or `read` threw; the worker crashes. Error.
struct handler_exception {
  std::string where;  ///< the hook: "on_request", "on_error", "merge", ...
  std::string error;  ///< what the exception says
};
/// @brief The queue crossed its high watermark or its oldest request its
/// maximum age (see `launch_options::alarms`). Warning.
struct queue_high {
  std::size_t length;  ///< requests waiting then
  /// Wait of the request taken then, the oldest, measured on
  /// `workers::steady_clock` (nanoseconds); 0 when raised by a push.
  clock::duration oldest_age;
};
/// @brief After a `queue_high`, the queue came back to its low watermark and
/// under the maximum age. Notice.
struct queue_normal {
  std::size_t length;  ///< requests waiting then
};
/// @brief The close's deadline expired before its end: it escalated to
/// `abort` (the handler in flight and an awaited `on_close` are cut, what
/// waits is answered `closed`). Warning.
struct shutdown_escalated {
  shutdown_mode from;  ///< the mode in force until the deadline
  shutdown_mode to;    ///< `abort`
};
/// @brief A request's handler has run its `slow` budget (see
/// `launch_options::slow`); once per request. Warning.
struct request_slow {
  event_value view;         ///< the request's view (`Request::view_type`)
  clock::duration running;  ///< how long its handler had run (steady clock)
  bool returned = false;    ///< noticed when it returned (a plain handler), not while it ran
};
/// @brief A request's handler has run its `stuck` budget: an awaitable one is
/// cancelled, and the worker crashes if it has not returned after the grace;
/// a plain one is reported when it returns. Error.
struct request_stuck {
  event_value view;         ///< the request's view (`Request::view_type`)
  clock::duration running;  ///< how long its handler had run (steady clock)
  bool returned = false;    ///< noticed when it returned (a plain handler), not while it ran
};

/// @brief The worker ended and its restart policy restarts it
/// (`launch_options::restart`): `on_close` has run, the next `on_launch`
/// starts after `delay`. Upstream-style name: `restarting_<base>`. Warning.
struct restarting {
  std::uint32_t attempt = 1;  ///< this restart's number for the worker (1 for its first)
  close_cause cause = close_cause::handler_exception;  ///< why the incarnation ended
  error_list errors;        ///< its crash errors; empty if it did not crash
  clock::duration delay{};  ///< the backoff before the next `on_launch` (steady clock)
};
/// @brief A restart's `on_launch` succeeded: the worker runs again and
/// handles what waited. Upstream-style name: `restarted_<base>`. Notice.
struct restarted {
  std::uint32_t attempt = 1;  ///< the restart's number (as `restarting::attempt`)
};
/// @brief A restart would exceed the policy's `intensity` within `period`:
/// the worker closes for good, crashed (its `crashed` event follows).
/// Upstream-style name: `restart_limit_reached_<base>`. Error.
struct restart_limit_reached {
  unsigned intensity = 0;    ///< the restarts allowed within `period`
  clock::duration period{};  ///< the window (steady clock)
  error_list errors;         ///< the last incarnation's crash errors
};

}  // namespace events

/// @brief The fields of any event; the alternative says which event it is.
using event_fields =
    std::variant<events::started, events::started_for, events::triggering_shutdown,
                 events::terminated, events::crashed, events::request_no_errors,
                 events::request_error, events::launch_failed, events::request_dropped,
                 events::request_cancelled, events::request_refused, events::handler_exception,
                 events::queue_high, events::queue_normal, events::shutdown_escalated,
                 events::request_slow, events::request_stuck, events::restarting, events::restarted,
                 events::restart_limit_reached>;

/// @brief Which event, as an enumeration (in `event_fields`' order).
enum class event_kind : std::uint8_t {
  started,
  started_for,
  triggering_shutdown,
  terminated,
  crashed,
  request_no_errors,
  request_error,
  launch_failed,
  request_dropped,
  request_cancelled,
  request_refused,
  handler_exception,
  queue_high,
  queue_normal,
  shutdown_escalated,
  request_slow,
  request_stuck,
  restarting,
  restarted,
  restart_limit_reached,
};

namespace detail {
struct event_traits {
  std::string_view name;  // upstream's prefix, before `_<base>`
  std::string_view kind;  // our name of the event (the struct's)
  level lvl;
};
inline constexpr std::array<event_traits, 20> event_table = {{
    {"started", "started", level::info},
    {"started_for", "started_for", level::info},
    {"triggering", "triggering_shutdown", level::debug},
    {"terminate", "terminated", level::info},
    {"crashed", "crashed", level::error},
    {"request_no_errors", "request_no_errors", level::debug},
    {"request", "request_error", level::debug},
    {"launch_failed", "launch_failed", level::error},
    {"request_dropped", "request_dropped", level::info},
    {"request_cancelled", "request_cancelled", level::info},
    {"request_refused", "request_refused", level::warning},
    {"handler_exception", "handler_exception", level::error},
    {"queue_high", "queue_high", level::warning},
    {"queue_normal", "queue_normal", level::notice},
    {"shutdown_escalated", "shutdown_escalated", level::warning},
    {"request_slow", "request_slow", level::warning},
    {"request_stuck", "request_stuck", level::error},
    {"restarting", "restarting", level::warning},
    {"restarted", "restarted", level::notice},
    {"restart_limit_reached", "restart_limit_reached", level::error},
}};
static_assert(event_table.size() == std::variant_size_v<event_fields>);
}  // namespace detail

/// @brief The level an event of kind `k` is emitted at.
constexpr level level_of(event_kind k) noexcept {
  return detail::event_table[static_cast<std::size_t>(k)].lvl;
}
/// @brief The event's name in this library (`"request_error"`, ...).
constexpr std::string_view to_string(event_kind k) noexcept {
  return detail::event_table[static_cast<std::size_t>(k)].kind;
}
/// @brief The kind whose fields are `Fields`.
template <class Fields>
constexpr event_kind kind_of() noexcept {
  return static_cast<event_kind>(boost::mp11::mp_find<event_fields, Fields>::value);
}

/// @brief One occurrence of an event.
///
/// Times are `workers::clock` time points (wall clock, kernel-tick resolution).
struct event {
  workers::level level = level::info;  ///< its level: `level_of(kind())`
  std::vector<std::string> section;    ///< the group's `Name::base`
  std::string worker;                  ///< the worker's full name (`<base>_<name>`)
  clock::time_point time;              ///< when it was emitted
  event_fields fields;                 ///< which event, and its fields

  /// @brief Which event: the alternative `fields` holds.
  event_kind kind() const noexcept { return static_cast<event_kind>(fields.index()); }
  /// @brief The name as upstream spells it: upstream's name of the event, `_`,
  /// and the group's base joined by '-', e.g. `terminate_test-calc`, or
  /// `request_test-calc` for `request_error`.
  std::string name() const {
    std::string out(detail::event_table[fields.index()].name);
    out += '_';
    for (std::size_t i = 0; i < section.size(); ++i) {
      if (i) out += '-';
      out += section[i];
    }
    return out;
  }
};

WORKERS_END_NAMESPACE
