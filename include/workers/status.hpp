#pragma once

/// @file
/// @brief What introspection reports: worker status, request status, information.

#include <workers/clock.hpp>

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

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

/// @brief `information(w)`: workers in the table, status, queue length.
struct worker_information {
  std::size_t instances_number = 0;
  worker_status status;
  std::size_t queue_length = 0;
};

}  // namespace workers

namespace workers::detail {
inline constexpr const char* time_format = "{:%Y-%m-%dT%H:%M:%S}";
inline std::string format_time(clock::time_point t) {
  return fmt::format(fmt::runtime(time_format),
                     std::chrono::time_point_cast<std::chrono::seconds>(t));
}
struct simple_formatter {
  constexpr auto parse(fmt::format_parse_context& ctx) { return ctx.begin(); }
};
}  // namespace workers::detail

template <>
struct fmt::formatter<workers::launching> : workers::detail::simple_formatter {
  auto format(const workers::launching& s, format_context& ctx) const {
    return fmt::format_to(ctx.out(), "launching since {}", workers::detail::format_time(s.since));
  }
};
template <>
struct fmt::formatter<workers::running> : workers::detail::simple_formatter {
  auto format(const workers::running& s, format_context& ctx) const {
    return fmt::format_to(ctx.out(), "running since {}", workers::detail::format_time(s.since));
  }
};
template <>
struct fmt::formatter<workers::closing> : workers::detail::simple_formatter {
  auto format(const workers::closing& s, format_context& ctx) const {
    return fmt::format_to(ctx.out(), "closing since {} (born {})",
                          workers::detail::format_time(s.since),
                          workers::detail::format_time(s.born));
  }
};
template <>
struct fmt::formatter<workers::closed> : workers::detail::simple_formatter {
  auto format(const workers::closed& s, format_context& ctx) const {
    auto out =
        fmt::format_to(ctx.out(), "closed since {} (born {})",
                       workers::detail::format_time(s.since), workers::detail::format_time(s.born));
    if (s.crash_errors) out = fmt::format_to(out, ", crashed: {}", *s.crash_errors);
    return out;
  }
};
template <>
struct fmt::formatter<workers::worker_status> : workers::detail::simple_formatter {
  auto format(const workers::worker_status& s, format_context& ctx) const {
    return std::visit([&](const auto& v) { return fmt::format_to(ctx.out(), "{}", v); }, s);
  }
};
template <>
struct fmt::formatter<workers::request_status> : workers::detail::simple_formatter {
  auto format(const workers::request_status& s, format_context& ctx) const {
    using us = std::chrono::microseconds;
    return fmt::format_to(ctx.out(), "pushed {}, treated after {}, completed in {}",
                          workers::detail::format_time(s.pushed),
                          std::chrono::duration_cast<us>(s.treated),
                          std::chrono::duration_cast<us>(s.completed));
  }
};
template <class View>
struct fmt::formatter<workers::pending_request<View>> : workers::detail::simple_formatter {
  auto format(const workers::pending_request<View>& r, format_context& ctx) const {
    return fmt::format_to(ctx.out(), "{} (pushed {})", r.view,
                          workers::detail::format_time(r.pushed));
  }
};
template <class View>
struct fmt::formatter<workers::active_request<View>> : workers::detail::simple_formatter {
  auto format(const workers::active_request<View>& r, format_context& ctx) const {
    return fmt::format_to(ctx.out(), "{} (pushed {}, treated {})", r.view,
                          workers::detail::format_time(r.pushed),
                          workers::detail::format_time(r.treated));
  }
};
template <>
struct fmt::formatter<workers::worker_information> : workers::detail::simple_formatter {
  auto format(const workers::worker_information& i, format_context& ctx) const {
    return fmt::format_to(ctx.out(), "{} (queue length {}, {} worker(s) in table)", i.status,
                          i.queue_length, i.instances_number);
  }
};
