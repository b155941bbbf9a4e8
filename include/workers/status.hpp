#pragma once

/// @file
/// @brief What introspection reports: worker status, request status, information.
///
/// Every time point is a `workers::clock` one (wall clock, kernel-tick
/// resolution); every duration is in `workers::clock::duration` (nanoseconds).
/// To format them with fmt, include `<workers/format.hpp>`.

#include <workers/clock.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace workers {

/// @brief The errors a worker crashed with (upstream's `error list`).
using error_list = std::vector<std::string>;

/// @brief Status: `on_launch` is running.
struct launching {
  clock::time_point since;
};
/// @brief Status: launched and taking requests.
struct running {
  clock::time_point since;
};
/// @brief Status: a shutdown was triggered or the worker crashed; it is closing.
struct closing {
  clock::time_point born;
  clock::time_point since;
};
/// @brief Status: closed. `crash_errors` is set when it crashed, empty when shut down.
struct closed {
  clock::time_point born;
  clock::time_point since;
  std::optional<error_list> crash_errors;
};

/// @brief The life cycle of a worker: launching → running → closing → closed.
using worker_status = std::variant<launching, running, closing, closed>;

/// @brief Timing of one request: when it was pushed, how long it waited before
/// being treated, and how long its treatment took.
struct request_status {
  clock::time_point pushed;
  clock::duration treated{};
  clock::duration completed{};
};

/// @brief A pending request as introspection shows it.
template <class View>
struct pending_request {
  clock::time_point pushed;
  View view;
};

/// @brief The request a worker is treating.
template <class View>
struct active_request {
  clock::time_point pushed;
  clock::time_point treated;
  View view;
};

/// @brief `full_status(w)`: status, pending requests and the current request,
/// taken at one moment (upstream's `full_status`, without the event backlog,
/// which a `backlog_sink` keeps).
template <class View>
struct worker_full_status {
  worker_status status;
  std::vector<pending_request<View>> pending_requests;  ///< oldest first
  std::optional<active_request<View>> current_request;  ///< none when idle
};

/// @brief `information(w)`: workers in the table, status, queue length.
struct worker_information {
  std::size_t instances_number = 0;
  worker_status status;
  std::size_t queue_length = 0;
};

}  // namespace workers
