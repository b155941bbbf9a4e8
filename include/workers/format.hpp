#pragma once

/// @file
/// @brief fmt formatters for the library's types (opt-in: this header brings
/// `<fmt/chrono.h>` and `<fmt/ranges.h>`, which the rest of the library does not need).
///
/// `fmt::formatter` specializations, none with format options (`{}` only), for:
/// the status alternatives `launching`, `running`, `closing`, `closed` and
/// `worker_status` (`running since 2026-11-30T11:20:43`); `request_status`;
/// `pending_request<View>` and `active_request<View>` (the view, then the
/// times); `worker_information`; `close_reason` (the cause, then the crash
/// errors); `message_error<E>` (`closed`, `request error: ...`, ...); and
/// `launch_error<LE>` (its message); `shutdown_mode` (`drain`) and
/// `shutdown_report` (`drain reached abort (deadline expired): 3 handled, 2
/// answered closed, handler cut, took 5000000us`). `workers::unit` and `workers::never` are
/// formattable without this header.
///
/// Time points (`workers::clock`) print in UTC to the second
/// (`2026-11-30T11:20:43`), durations in microseconds.

#include <workers/close_reason.hpp>
#include <workers/detail/config.hpp>
#include <workers/handlers.hpp>
#include <workers/message_error.hpp>
#include <workers/shutdown_report.hpp>
#include <workers/status.hpp>

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <chrono>
#include <variant>

WORKERS_BEGIN_NAMESPACE
namespace detail {
struct simple_formatter {
  constexpr auto parse(fmt::format_parse_context& ctx) { return ctx.begin(); }
};
inline auto to_seconds(clock::time_point t) {
  return std::chrono::time_point_cast<std::chrono::seconds>(t);
}
}  // namespace detail
WORKERS_END_NAMESPACE

// Described in the file's documentation: Doxygen cannot place specializations
// of fmt's templates.
/// @cond
template <>
struct fmt::formatter<workers::launching> : workers::detail::simple_formatter {
  auto format(const workers::launching& s, format_context& ctx) const {
    return fmt::format_to(ctx.out(), "launching since {:%FT%T}",
                          workers::detail::to_seconds(s.since));
  }
};
template <>
struct fmt::formatter<workers::running> : workers::detail::simple_formatter {
  auto format(const workers::running& s, format_context& ctx) const {
    return fmt::format_to(ctx.out(), "running since {:%FT%T}",
                          workers::detail::to_seconds(s.since));
  }
};
template <>
struct fmt::formatter<workers::closing> : workers::detail::simple_formatter {
  auto format(const workers::closing& s, format_context& ctx) const {
    auto out =
        fmt::format_to(ctx.out(), "closing since {:%FT%T} (born {:%FT%T})",
                       workers::detail::to_seconds(s.since), workers::detail::to_seconds(s.born));
    if (s.mode != workers::shutdown_mode::abort)
      out = fmt::format_to(out, ", {}", workers::to_string(s.mode));
    if (s.deadline)
      out = fmt::format_to(out, ", deadline {:%FT%T}", workers::detail::to_seconds(*s.deadline));
    return out;
  }
};
template <>
struct fmt::formatter<workers::shutdown_mode> : fmt::formatter<std::string_view> {
  auto format(workers::shutdown_mode m, format_context& ctx) const {
    return fmt::formatter<std::string_view>::format(workers::to_string(m), ctx);
  }
};
template <>
struct fmt::formatter<workers::shutdown_report> : workers::detail::simple_formatter {
  auto format(const workers::shutdown_report& r, format_context& ctx) const {
    auto out = fmt::format_to(ctx.out(), "{}", workers::to_string(r.asked));
    if (r.reached != r.asked)
      out = fmt::format_to(out, " reached {}", workers::to_string(r.reached));
    if (r.deadline_expired) out = fmt::format_to(out, " (deadline expired)");
    out = fmt::format_to(out, ": {} handled, {} answered closed", r.handled, r.answered_closed);
    if (r.handler_cut) out = fmt::format_to(out, ", handler cut");
    out = fmt::format_to(out, ", took {}",
                         std::chrono::duration_cast<std::chrono::microseconds>(r.took));
    if (r.workers != 1) out = fmt::format_to(out, ", {} workers", r.workers);
    return out;
  }
};
template <>
struct fmt::formatter<workers::restarting> : workers::detail::simple_formatter {
  auto format(const workers::restarting& s, format_context& ctx) const {
    auto out = fmt::format_to(ctx.out(), "restarting (attempt {}) since {:%FT%T} (born {:%FT%T})",
                              s.attempt, workers::detail::to_seconds(s.since),
                              workers::detail::to_seconds(s.born));
    if (s.next_attempt)
      out = fmt::format_to(out, ", next attempt at {:%FT%T}",
                           workers::detail::to_seconds(*s.next_attempt));
    if (s.last_errors) out = fmt::format_to(out, ", after: {}", *s.last_errors);
    return out;
  }
};
template <>
struct fmt::formatter<workers::closed> : workers::detail::simple_formatter {
  auto format(const workers::closed& s, format_context& ctx) const {
    auto out =
        fmt::format_to(ctx.out(), "closed since {:%FT%T} (born {:%FT%T})",
                       workers::detail::to_seconds(s.since), workers::detail::to_seconds(s.born));
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
    return fmt::format_to(ctx.out(), "pushed {:%FT%T}, treated after {}, completed in {}",
                          workers::detail::to_seconds(s.pushed),
                          std::chrono::duration_cast<us>(s.treated),
                          std::chrono::duration_cast<us>(s.completed));
  }
};
template <class View>
struct fmt::formatter<workers::pending_request<View>> : workers::detail::simple_formatter {
  auto format(const workers::pending_request<View>& r, format_context& ctx) const {
    return fmt::format_to(ctx.out(), "{} (pushed {:%FT%T})", r.view,
                          workers::detail::to_seconds(r.pushed));
  }
};
template <class View>
struct fmt::formatter<workers::active_request<View>> : workers::detail::simple_formatter {
  auto format(const workers::active_request<View>& r, format_context& ctx) const {
    return fmt::format_to(ctx.out(), "{} (pushed {:%FT%T}, treated {:%FT%T})", r.view,
                          workers::detail::to_seconds(r.pushed),
                          workers::detail::to_seconds(r.treated));
  }
};
template <>
struct fmt::formatter<workers::worker_information> : workers::detail::simple_formatter {
  auto format(const workers::worker_information& i, format_context& ctx) const {
    auto out = fmt::format_to(ctx.out(), "{} (queue length {}, {} worker(s) in table", i.status,
                              i.queue_length, i.instances_number);
    if (i.incarnations > 1) out = fmt::format_to(out, ", incarnation {}", i.incarnations);
    return fmt::format_to(out, ")");
  }
};
template <>
struct fmt::formatter<workers::close_reason> : workers::detail::simple_formatter {
  auto format(const workers::close_reason& r, format_context& ctx) const {
    auto out = fmt::format_to(ctx.out(), "{}", workers::to_string(r.cause));
    if (r.crash_errors) out = fmt::format_to(out, " ({})", fmt::join(*r.crash_errors, "; "));
    return out;
  }
};
template <class E>
struct fmt::formatter<workers::message_error<E>> : workers::detail::simple_formatter {
  auto format(const workers::message_error<E>& e, format_context& ctx) const {
    auto out = ctx.out();
    if (const auto* c = std::get_if<workers::worker_closed>(&e)) {
      if (!c->crash_errors) return fmt::format_to(out, "closed");
      return fmt::format_to(out, "closed (crashed: {})", *c->crash_errors);
    }
    if (const auto* r = std::get_if<workers::request_error<E>>(&e)) {
      if constexpr (fmt::is_formattable<E>::value)
        return fmt::format_to(out, "request error: {}", r->error);
      else
        return fmt::format_to(out, "request error");
    }
    if (const auto* x = std::get_if<workers::handler_exception>(&e))
      return fmt::format_to(out, "exception: {}", workers::detail::describe(x->exception));
    if (std::holds_alternative<workers::request_dropped>(e)) return fmt::format_to(out, "dropped");
    return fmt::format_to(out, "cancelled");
  }
};
template <class LE>
struct fmt::formatter<workers::launch_error<LE>> : workers::detail::simple_formatter {
  auto format(const workers::launch_error<LE>& e, format_context& ctx) const {
    return fmt::format_to(ctx.out(), "{}", e.message);
  }
};
/// @endcond
