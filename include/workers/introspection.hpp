#pragma once

/// @file
/// @brief What a worker shows of itself, from any thread: `status`,
/// `current_request`, `pending_requests`, `pending_requests_length`,
/// `information`, `full_status`, `metrics`.
///
/// Time stamps are `workers::clock` time points (wall clock, kernel-tick
/// resolution); durations are measured on `workers::steady_clock`.

#include <workers/close_reason.hpp>
#include <workers/detail/access.hpp>
#include <workers/detail/config.hpp>
#include <workers/metrics.hpp>
#include <workers/status.hpp>
#include <workers/worker_handle.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

WORKERS_BEGIN_NAMESPACE

/// @brief The worker's status, with timestamps (`workers::clock`; upstream's
/// `status`). Thread safety: any thread.
template <class Def, class Kind>
worker_status status(const worker<Def, Kind>& w) {
  return detail::access::core(w).status();
}

/// @brief The request being treated: pushed time, treated time (`workers::clock`),
/// view; none when the worker handles none (upstream's `current_request`).
/// Thread safety: any thread; `Request::view` runs under the worker's intake
/// lock, so it must not call the worker.
template <class Def, class Kind>
std::optional<active_request<typename Def::request_view>> current_request(
    const worker<Def, Kind>& w) {
  return detail::access::core(w).current_request();
}

/// @brief The queued requests' push times (`workers::clock`) and views, oldest
/// first (upstream's `pending_requests`): a queue's requests, a dropbox's 0 or
/// 1, and for a callback worker only a request read while `on_no_request` ran.
/// Thread safety: any thread; `Request::view` runs under the worker's intake
/// lock, so it must not call the worker.
template <class Def, class Kind>
std::vector<pending_request<typename Def::request_view>> pending_requests(
    const worker<Def, Kind>& w) {
  return detail::access::core(w).pending_requests();
}

/// @brief How many requests are queued, as `pending_requests` counts them
/// (upstream's `pending_requests_length`). Thread safety: any thread.
template <class Def, class Kind>
std::size_t pending_requests_length(const worker<Def, Kind>& w) {
  return detail::access::core(w).pending_requests_length();
}

/// @brief Workers in the table, status and queue length (upstream's `information`).
/// Thread safety: any thread (each part is read on its own).
template <class Def, class Kind>
worker_information information(const worker<Def, Kind>& w) {
  const auto& c = detail::access::core(w);
  return {c.table_size(), c.status(), c.pending_requests_length(), c.incarnations()};
}

/// @brief Restarts begun so far by the worker's restart policy
/// (`launch_options::restart`): 0 during its first incarnation; in a
/// restart's `on_launch`, that restart's number. Thread safety: any thread.
template <class Def, class Kind>
std::uint32_t restarts(const worker<Def, Kind>& w) {
  return detail::access::core(w).restarts();
}

/// @brief Why the worker's last incarnation ended, once it has been restarted
/// (none before its first restart): in a restart's `on_launch`, what the
/// `on_close` before it was told. Thread safety: any thread.
template <class Def, class Kind>
std::optional<close_reason> last_close_reason(const worker<Def, Kind>& w) {
  return detail::access::core(w).last_close_reason();
}

/// @brief Status, pending requests (oldest first) and the current request
/// (none when idle): the status, then the requests taken together under the
/// mailbox's lock, so that a request cannot vanish between the pending ones
/// and the current one, or show in both, as it may between `pending_requests`
/// and `current_request` (upstream's `full_status`, whose event backlog a
/// `backlog_sink` keeps). Times are `workers::clock` ones. Thread safety: any
/// thread; `Request::view` runs under that lock, so it must not call the worker.
template <class Def, class Kind>
worker_full_status<typename Def::request_view> full_status(const worker<Def, Kind>& w) {
  return detail::access::core(w).full_status_snapshot();
}

/// @brief The worker's metrics now, or none if its table was created without
/// `table_options::metrics`. Thread safety: any thread (counters are read
/// one by one, each exact; the set is not one atomic snapshot).
template <class Def, class Kind>
std::optional<worker_metrics> metrics(const worker<Def, Kind>& w) {
  return detail::access::core(w).metrics_snapshot();
}

WORKERS_END_NAMESPACE
