#pragma once

/// @file
/// @brief What introspection reports: worker status, request status, information.
///
/// Every time point is a `workers::clock` one (wall clock, kernel-tick
/// resolution); every duration is a `workers::clock::duration` (nanoseconds
/// with libstdc++). To format them with fmt, include `<workers/format.hpp>`;
/// for JSON in Octez's shapes, `<workers/json.hpp>`.
///
/// Thread safety: these are plain values, taken by `status`, `information`,
/// `current_request`, `pending_requests` and `full_status` from any thread.

#include <workers/clock.hpp>
#include <workers/detail/config.hpp>
#include <workers/detail/format_hint.hpp>
#include <workers/shutdown_report.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

WORKERS_BEGIN_NAMESPACE

/// @brief The errors a worker crashed with (upstream's `error list`).
using error_list = std::vector<std::string>;

/// @brief Status: `on_launch` is running (upstream's `Launching`).
struct launching {
  clock::time_point since;  ///< when the launch began (`workers::clock`)
};
/// @brief Status: launched and taking requests (upstream's `Running`).
struct running {
  clock::time_point since;  ///< when the launch completed (`workers::clock`)
};
/// @brief Status: the worker ended and its restart policy restarts it
/// (`launch_options::restart`): its `on_close` runs, then it waits for its
/// backoff, then its next `on_launch` runs. Its name stays in its table, its
/// handles work and its pushes are accepted as if it were busy. Octez's RPC
/// has no such phase; its JSON is `{"phase": "restarting", ...}` (json.hpp).
struct restarting {
  clock::time_point born;     ///< when the first launch began (`workers::clock`)
  clock::time_point since;    ///< when the incarnation ended (`workers::clock`)
  std::uint32_t attempt = 1;  ///< this restart's number: 1 for the first of the worker
  /// Why the incarnation ended: the crash errors, in order (a failed restart's
  /// `on_launch` adds its own); none for an end that was not a crash.
  std::optional<error_list> last_errors = std::nullopt;
  /// When the next `on_launch` starts (`workers::clock`, derived from the
  /// worker's steady clock); none while the ending incarnation's `on_close`
  /// runs or once the next `on_launch` has started.
  std::optional<clock::time_point> next_attempt = std::nullopt;
};

/// @brief Status: a shutdown was triggered or the worker crashed; it is closing
/// (upstream's `Closing`).
struct closing {
  clock::time_point born;   ///< when the launch began (Octez's `birth`; `workers::clock`)
  clock::time_point since;  ///< when the close began (`workers::clock`)
  /// What the close does with the work it finds (`drain` while a drain is in
  /// progress); `abort` for a close no shutdown asked for.
  shutdown_mode mode = shutdown_mode::abort;
  /// When the close escalates to `abort`, if a shutdown gave a deadline
  /// (`workers::clock`, derived from the worker's steady clock).
  std::optional<clock::time_point> deadline = std::nullopt;
};
/// @brief Status: closed. `crash_errors` is set when it crashed, empty when shut
/// down (upstream's `Closed`, or `Crashed` when set). A worker abandoned with its
/// execution context shows as closed, crashed.
struct closed {
  clock::time_point born;   ///< when the launch began (Octez's `birth`; `workers::clock`)
  clock::time_point since;  ///< when the close ended (`workers::clock`)
  /// The crash errors, in the order they happened, if it crashed; none if it
  /// was shut down (or its source ended) without error.
  std::optional<error_list> crash_errors;
};

/// @brief The life cycle of a worker: launching → running → closing → closed
/// (upstream's `worker_status`), with running → restarting → running for a
/// worker restarted by its policy.
using worker_status = std::variant<launching, running, restarting, closing, closed>;

/// @brief Timing of one request: when it was pushed, how long it waited before
/// being treated, and how long its treatment took (upstream's `request_status`).
/// Given to `on_completion` and `on_error`.
/// A push that waited for room in a full bounded queue was pushed when it
/// began to wait (upstream stamps it before `Lwt_pipe.Bounded.push` waits):
/// `treated` includes that wait.
///
/// Resolution of a request's push and take times, as `request_status`,
/// `pending_request`, `active_request` and the events' `pushed` show them:
/// precise when something measures the worker's requests (metrics, queue
/// alarms, an idle timeout, an `on_completion` or `on_error` hook, or a sink
/// that wants debug events); otherwise the kernel tick's (1 to 4 ms on Linux,
/// `CLOCK_MONOTONIC_COARSE`, never later than the event). A precise read of
/// the clock costs 25 ns on a VM's kvm-clock, twice per request. A take is
/// never stamped before its push. With a `time_source` (a manual clock) every
/// time is the source's.
struct request_status {
  clock::time_point pushed;     ///< when it was pushed (`workers::clock`)
  clock::duration treated{};    ///< its wait: from its push to its take by the worker
  clock::duration completed{};  ///< its treatment: from its take until `on_request` returned
};

/// @brief A pending request as introspection shows it.
///
/// Its times' resolution: see `request_status`.
template <class View>
struct pending_request {
  clock::time_point pushed;  ///< when it was pushed (`workers::clock`)
  View view;                 ///< `Request::view(r)`
  /// A control request (`is_control_request`): it is taken before every
  /// ordinary one, and listed first.
  bool control = false;
};

/// @brief The request a worker is treating.
///
/// Its times' resolution: see `request_status`.
template <class View>
struct active_request {
  clock::time_point pushed;   ///< when it was pushed (`workers::clock`)
  clock::time_point treated;  ///< when the worker took it (`workers::clock`)
  View view;                  ///< `Request::view(r)`
};

/// @brief `full_status(w)`: status, pending requests and the current request,
/// taken at one moment (upstream's `full_status`, without the event backlog,
/// which a `backlog_sink` keeps).
template <class View>
struct worker_full_status {
  worker_status status;                                 ///< as `status(w)`
  std::vector<pending_request<View>> pending_requests;  ///< oldest first
  std::optional<active_request<View>> current_request;  ///< none when idle
};

/// @brief `information(w)`: workers in the table, status, queue length
/// (upstream's `worker_information`).
struct worker_information {
  std::size_t instances_number = 0;  ///< workers live in its table (0 once the table is gone)
  worker_status status;              ///< as `status(w)`
  std::size_t queue_length = 0;      ///< as `pending_requests_length(w)`
  /// Incarnations so far: 1 at the first launch, one more at each restart's
  /// `on_launch` (`launch_options::restart`).
  std::size_t incarnations = 1;
};

namespace detail {
template <>
inline constexpr bool formatted_by_format_header<launching> = true;
template <>
inline constexpr bool formatted_by_format_header<running> = true;
template <>
inline constexpr bool formatted_by_format_header<restarting> = true;
template <>
inline constexpr bool formatted_by_format_header<closing> = true;
template <>
inline constexpr bool formatted_by_format_header<closed> = true;
template <>
inline constexpr bool formatted_by_format_header<worker_status> = true;
template <>
inline constexpr bool formatted_by_format_header<request_status> = true;
template <class View>
inline constexpr bool formatted_by_format_header<pending_request<View>> = true;
template <class View>
inline constexpr bool formatted_by_format_header<active_request<View>> = true;
template <>
inline constexpr bool formatted_by_format_header<worker_information> = true;
}  // namespace detail

WORKERS_END_NAMESPACE
