#pragma once

/// @file
/// @brief How a worker ends (`shutdown_mode`), by when (`no_deadline`), and
/// what its close did (`shutdown_report`).

#include <workers/clock.hpp>
#include <workers/detail/config.hpp>
#include <workers/detail/format_hint.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string_view>

WORKERS_BEGIN_NAMESPACE

/// @brief What a close does with the work it finds, weakest first. Every mode
/// refuses new pushes (`errc::closed`) from the moment the close begins, and
/// every caller is answered exactly once.
///
/// | mode             | handler in flight         | requests queued, producers waiting for room |
/// OTP / Akka / ractor |
/// |------------------|---------------------------|---------------------------------------------|---------------------|
/// | `drain`          | runs to its end           | handled, in order, then the close           |
/// `shutdown` timeout + drain / `CoordinatedShutdown` / `drain` | | `finish_current` | runs to its
/// end           | answered `closed`                           | — / `PoisonPill` / `stop` | |
/// `abort`          | cancelled (an awaitable)  | answered `closed`                           |
/// `brutal_kill` / `stop` / `kill` |
///
/// `abort` is upstream's only close (Octez's `shutdown`), and the mode of
/// every close a shutdown does not ask for (a crash, `on_error`, the end of a
/// callback's source).
enum class shutdown_mode : std::uint8_t {
  drain,           ///< handle everything already accepted, then close
  finish_current,  ///< let the handler in flight end; answer the rest `closed`
  abort,           ///< cancel the handler in flight; answer the rest `closed`
};

/// @brief `"drain"`, `"finish_current"` or `"abort"`.
constexpr std::string_view to_string(shutdown_mode m) noexcept {
  switch (m) {
    case shutdown_mode::drain:
      return "drain";
    case shutdown_mode::finish_current:
      return "finish_current";
    case shutdown_mode::abort:
      break;
  }
  return "abort";
}

/// @brief The stronger of two modes (a close is only ever tightened).
constexpr shutdown_mode stronger(shutdown_mode a, shutdown_mode b) noexcept {
  return std::max(a, b);
}

/// @brief A shutdown without a deadline: it waits as long as its mode needs.
inline constexpr steady_clock::duration no_deadline = steady_clock::duration::max();

/// @brief What a close did: the completion value of `shutdown(w, mode, ...)`
/// and of `shutdown_all`, and a field of the `terminated` and `crashed` events.
///
/// Counts are of requests; durations are measured on the worker's steady
/// clock (its table's `time_source`, else `workers::steady_clock`).
struct shutdown_report {
  /// The strongest mode a shutdown asked for; `abort` for a close no shutdown
  /// asked for (a crash, `on_error`, the end of a callback's source).
  shutdown_mode asked = shutdown_mode::abort;
  /// The mode in force when the close ended: `asked`, or `abort` once the
  /// deadline expired.
  shutdown_mode reached = shutdown_mode::abort;
  /// Requests the worker took and handled after its close began (a drain),
  /// plus an awaited handler in flight that was let finish.
  std::size_t handled = 0;
  /// Requests left unhandled whose callers were answered `closed` (those
  /// queued, those waiting for room in a bounded queue, a dropbox's slot, fire
  /// and forget ones included); a request whose callers had all given up is
  /// not counted (it is `cancelled`).
  std::size_t answered_closed = 0;
  /// Whether the close cancelled an awaited handler or hook in flight (the
  /// handler of a request, `on_no_request`, or `on_close` at the deadline).
  bool handler_cut = false;
  /// Whether the deadline expired before the close ended (it then escalated
  /// to `abort`).
  bool deadline_expired = false;
  /// From the start of the close to its end (steady clock, nanoseconds); for
  /// `shutdown_all`, the longest of the workers'.
  clock::duration took{};
  /// How many workers the report covers: 1, or the table's for `shutdown_all`.
  std::size_t workers = 1;

  /// @brief Adds `other` to this report (`shutdown_all`'s aggregate): counts
  /// and workers summed, the strongest modes, the longest time, either flag.
  shutdown_report& operator+=(const shutdown_report& other) noexcept {
    asked = stronger(asked, other.asked);
    reached = stronger(reached, other.reached);
    handled += other.handled;
    answered_closed += other.answered_closed;
    handler_cut = handler_cut || other.handler_cut;
    deadline_expired = deadline_expired || other.deadline_expired;
    took = std::max(took, other.took);
    workers += other.workers;
    return *this;
  }
  friend bool operator==(const shutdown_report&, const shutdown_report&) = default;
};

namespace detail {
template <>
inline constexpr bool formatted_by_format_header<shutdown_report> = true;
template <>
inline constexpr bool formatted_by_format_header<shutdown_mode> = true;
}  // namespace detail

WORKERS_END_NAMESPACE
