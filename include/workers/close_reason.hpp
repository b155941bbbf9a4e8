#pragma once

/// @file
/// @brief `close_reason`: why a worker closes, as `on_close` sees it.

#include <workers/detail/config.hpp>
#include <workers/detail/format_hint.hpp>
#include <workers/shutdown_report.hpp>
#include <workers/status.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

WORKERS_BEGIN_NAMESPACE

/// @brief What ended a worker. The first cause wins: a worker shut down that
/// then fails in `on_close` still closes for `shutdown` (with crash errors).
enum class close_cause : std::uint8_t {
  shutdown,           ///< `shutdown` or `trigger_shutdown` (upstream's `Closed`)
  on_error_shutdown,  ///< `on_error` answered `error_action::shutdown()`
  crash,              ///< `on_error` answered `error_action::crash(errors)`
  handler_exception,  ///< a handler, `merge` or `read` threw (the crash errors say which)
  end_of_source,      ///< a callback worker's `read` returned none
  launch_failed,      ///< `on_launch` failed; `on_close` does not run then
  context_destroyed,  ///< the execution context was destroyed; no handler runs then
  /// Its restart policy would have restarted it once more than its
  /// `intensity` allows within `period` (`launch_options::restart`; the
  /// crash errors are the last incarnation's): it closes for good, crashed.
  restart_limit_reached,
  /// Restarted with a worker of its table that ended, by the table's
  /// `one_for_all` or `rest_for_one` (`table_options::supervision`).
  sibling_restart,
};

/// @brief The cause as words (`"handler exception"`, ...).
constexpr std::string_view to_string(close_cause c) noexcept {
  constexpr std::string_view names[] = {
      "shutdown",          "on_error shutdown",     "crash",
      "handler exception", "end of source",         "launch failed",
      "context destroyed", "restart limit reached", "sibling restart"};
  return names[static_cast<std::size_t>(c)];
}

/// @brief Why a worker closes: the cause and, if it crashed, the errors so far
/// (the status's `crash_errors` once closed). Given to `on_close(self, reason)`.
struct close_reason {
  close_cause cause = close_cause::shutdown;  ///< what ended the worker (the first cause)
  /// If it crashed: the crash errors so far, in order (a throwing `on_close`
  /// or canceler hook adds its own after); none otherwise.
  std::optional<error_list> crash_errors;
  /// What the close does with the work it finds, as far as it went when
  /// asked (`on_close` sees the mode reached: a drain whose deadline expired
  /// shows `abort`); `abort` for a close no shutdown asked for.
  shutdown_mode mode = shutdown_mode::abort;

  /// @brief True when the worker closes as crashed.
  bool crashed() const noexcept { return crash_errors.has_value(); }
};

namespace detail {
template <>
inline constexpr bool formatted_by_format_header<close_reason> = true;
}  // namespace detail

WORKERS_END_NAMESPACE
