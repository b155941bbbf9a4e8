#pragma once

/// @file
/// @brief Supervised restart: a worker's restart policy, its limits and
/// backoff (`launch_options::restart`), and a table's strategy
/// (`table_options::supervision`). OTP's names: `permanent`, `transient`,
/// `temporary`; `intensity` restarts within `period`; `one_for_one`,
/// `one_for_all`, `rest_for_one`.
///
/// A restart is a close followed by a launch that keeps the worker's
/// identity: the same name in the same table, the same handles, the same
/// queue and the same callers. `on_close(self, reason)` of the incarnation
/// that ends has returned before `on_launch` of the next one starts;
/// `restarts(w)` and `last_close_reason(w)` tell `on_launch` which one it is.

#include <workers/clock.hpp>
#include <workers/detail/config.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

WORKERS_BEGIN_NAMESPACE

/// @brief When a worker is restarted (OTP's child `restart` values).
enum class restart_policy : std::uint8_t {
  /// Never restarted: it closes for good at its first end. The default, and
  /// upstream's only behaviour.
  temporary,
  /// Restarted after a crash only: a handler, `merge` or `read` that threw,
  /// `on_error` answering `crash`, the watchdog's `stuck`, a failed `on_launch`
  /// of a restart. A shutdown, `on_error` answering `shutdown` or the end of a
  /// callback's source end it for good.
  transient,
  /// Restarted after any end but a shutdown (`shutdown`, `trigger_shutdown`,
  /// `shutdown_all`, a `shutdown_guard`): a crash, `on_error` answering
  /// `shutdown`, the end of a callback's source.
  permanent,
};

/// @brief The policy's name (`"permanent"`, ...).
constexpr std::string_view to_string(restart_policy p) noexcept {
  switch (p) {
    case restart_policy::transient:
      return "transient";
    case restart_policy::permanent:
      return "permanent";
    case restart_policy::temporary:
      break;
  }
  return "temporary";
}

/// @brief The wait between an end and the next incarnation's `on_launch`,
/// on the worker's steady clock (the table's `time_source`, else
/// `workers::steady_clock`): `min` for the first restart, doubled at each
/// restart after it, at most `max`; each delay is then moved by a random
/// fraction of itself in [-jitter, +jitter]. After `reset_after` without a
/// restart, the next one waits `min` again.
struct restart_backoff {
  std::chrono::steady_clock::duration min = std::chrono::milliseconds(100);  ///< first wait
  std::chrono::steady_clock::duration max = std::chrono::seconds(10);        ///< longest wait
  double jitter = 0.0;  ///< fraction of each wait drawn at random, in [0, 1]
  /// Quiet time after which the waits start again from `min`.
  std::chrono::steady_clock::duration reset_after = std::chrono::seconds(60);
};

/// @brief A worker's restart policy and its limits (`launch_options::restart`).
///
/// At most `intensity` restarts within any `period` (OTP's defaults: 1 in
/// 5 s); the end that would exceed it closes the worker for good, crashed,
/// with its last errors and the cause `restart_limit_reached`. Under a
/// table's `one_for_all` or `rest_for_one`, the table's own limits count
/// instead (`table_supervision`).
struct restart_options {
  restart_policy policy = restart_policy::temporary;  ///< when it restarts
  unsigned intensity = 1;                             ///< restarts allowed within `period`
  std::chrono::steady_clock::duration period = std::chrono::seconds(5);  ///< the window
  /// Wait before each restart; none: the next incarnation starts at once.
  std::optional<restart_backoff> backoff = std::nullopt;
  /// OTP's behaviour: at a restart, what was queued (control requests and
  /// producers waiting for room included) is answered `closed`, with the
  /// crash errors, instead of waiting for the next incarnation; pushes during
  /// the backoff are kept for it. A dropbox keeps its slot all the same.
  bool restart_with_empty_queue = false;
};

/// @brief Which workers of a table restart when one does (OTP's strategies).
enum class supervision_strategy : std::uint8_t {
  one_for_one,   ///< only the worker that ended (the default)
  one_for_all,   ///< every live worker of the table with it
  rest_for_one,  ///< it and the workers launched after it (launch order)
};

/// @brief The strategy's name (`"one_for_all"`, ...).
constexpr std::string_view to_string(supervision_strategy s) noexcept {
  switch (s) {
    case supervision_strategy::one_for_all:
      return "one_for_all";
    case supervision_strategy::rest_for_one:
      return "rest_for_one";
    case supervision_strategy::one_for_one:
      break;
  }
  return "one_for_one";
}

/// @brief A table's strategy (`table_options::supervision`). Under
/// `one_for_all` and `rest_for_one`, the restarts of the whole table count
/// against one `intensity` within `period` (a group restart counts once);
/// when it is exceeded, the worker whose end exceeded it closes for good
/// (`restart_limit_reached`), and so do the others the strategy names.
/// Under `one_for_one`, each worker counts against its own
/// `restart_options`. Only workers whose policy restarts them take part:
/// a `temporary` worker is neither restarted nor closed with the others.
struct table_supervision {
  supervision_strategy strategy = supervision_strategy::one_for_one;     ///< who restarts together
  unsigned intensity = 1;                                                ///< group restarts allowed
  std::chrono::steady_clock::duration period = std::chrono::seconds(5);  ///< the window
};

WORKERS_END_NAMESPACE
