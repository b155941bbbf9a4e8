#pragma once

/// @file
/// @brief JSON for introspection and events, in the shapes of Octez's encodings
/// (`src/lib_base/worker_types.ml`, `src/lib_workers/worker_events.ml`), through
/// Boost.JSON's `value_from` / `value_to` (optional header: only it needs Boost.JSON;
/// link `Boost::json`).
///
/// Shapes, keys in the order Octez's encodings list them:
/// - `worker_status`: `{"phase": "launching"|"running", "since": T}`,
///   `{"phase": "closing"|"closed", "birth": T, "since": T}` (a closing one also has
///   `"mode": "drain"|"finish_current"` unless it is an abort, and `"deadline": T` if
///   it has one, which Octez's encoding has not), and a `closed` with
///   `crash_errors` set: `{"phase": "crashed", "birth": T, "since": T, "errors": [...]}`
///   (`closing::born` / `closed::born` are Octez's `birth`). Ours, which Octez's RPC
///   has no phase for: a `restarting` is `{"phase": "restarting", "birth": T,
///   "since": T, "attempt": n}`, with `"errors": [...]` when the incarnation crashed
///   and `"next_attempt": T` while it waits for its backoff.
/// - `request_status`: `{"pushed": T, "treated": SPAN, "completed": SPAN}`.
/// - `worker_information`: `{"instances": n, "status": STATUS, "queue_length": n}`, and
///   `"incarnations": n` once a worker has been restarted (ours).
/// - `worker_full_status<View>`: `{"status": STATUS, "pending_requests": [{"pushed": T,
///   "request": VIEW}...], "current_request": {"pushed": T, "treated": T, "request": VIEW}}`,
///   `"current_request"` omitted when idle (Octez's `opt`). Octez's `"backlog"` member
///   is not written: `full_status` has none, a `backlog_sink` keeps the events.
/// - `event`: `{"level", "section", "name", "worker", "time", "fields"}` (see below).
/// - `shutdown_report` (written only): `{"asked": MODE, "reached": MODE, "handled": n,
///   "answered_closed": n, "handler_cut": b, "deadline_expired": b, "took": SPAN,
///   "workers": n}`, MODE as `to_string(shutdown_mode)`.
///
/// T is Octez's `Time.System.encoding`, SPAN its `Time.System.Span.encoding`: see
/// `json::format_time` and `json::span_seconds`. A VIEW is written by the view's own
/// `value_from` when it has one, else as the text fmt prints for it.
///
/// `worker_status` is a `std::variant`, for which Boost.JSON 1.81 has conversions of
/// its own (`value_from` writes the active alternative as that alternative converts;
/// `value_to` tries each alternative in turn). The overloads here for `worker_status`
/// itself are not templates, so overload resolution prefers them to Boost's variant
/// templates: `boost::json::value_from(status)` and `value_to<worker_status>` give
/// Octez's shape, tagged by `"phase"`, and `try_value_to` its errors (Boost's would
/// answer `exhausted_variants`). The alternatives convert to the same shapes too, so a
/// `worker_status` reached through Boost's variant path is still written the same.
/// Use `value_from` / `value_to` as for any type; `workers::json::to_value` and
/// `workers::json::status_from` (and `request_status_from`, `information_from`,
/// `full_status_from`) are the same conversions called directly, for code that would
/// rather not depend on overload resolution.
///
/// Reading (`value_to`, `try_value_to`, `json::*_from`) gives back exactly what was
/// written, at the precision written: times to the millisecond (the rest is truncated
/// when writing), spans to the nanosecond up to 2^51 ns (26 days). It accepts what
/// Octez accepts for a time (any RFC 3339 offset, or seconds since the epoch), ignores
/// members it does not know (so it reads Octez's full status, `"backlog"` included),
/// and reads an `"errors"` element that is not a string (Octez's error objects) as its
/// JSON text. Errors follow Boost.JSON's conventions: `try_value_to` returns the
/// `error_code` (`unknown_name` for a missing member or an unknown phase, `not_object`,
/// `not_string`, `not_number`, `not_array`, `not_exact` for a number out of range,
/// `errc::invalid_argument` for a time that is not RFC 3339); `value_to` and the
/// `json::*_from` functions throw `boost::system::system_error` whose message names
/// the member, e.g. `status.since`.

#include <workers/clock.hpp>
#include <workers/detail/config.hpp>
#include <workers/events.hpp>
#include <workers/status.hpp>

#include <boost/json/array.hpp>
#include <boost/json/conversion.hpp>
#include <boost/json/error.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/string.hpp>
#include <boost/json/system_error.hpp>
#include <boost/json/value.hpp>
#include <boost/json/value_from.hpp>
#include <boost/json/value_to.hpp>
#include <boost/mp11/algorithm.hpp>
#include <boost/system/errc.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/system_error.hpp>

#include <fmt/format.h>

#include <charconv>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

WORKERS_BEGIN_NAMESPACE
namespace detail::json_io {
// Reads the fixed-width decimal fields of an RFC 3339 time.
struct cursor {
  std::string_view s;
  std::size_t i = 0;

  bool digits(std::size_t n, int& out) noexcept {
    if (s.size() - i < n) return false;
    int v = 0;
    for (std::size_t k = 0; k < n; ++k) {
      const char c = s[i + k];
      if (c < '0' || c > '9') return false;
      v = v * 10 + (c - '0');
    }
    i += n;
    out = v;
    return true;
  }
  bool next_is_digit() const noexcept { return i < s.size() && s[i] >= '0' && s[i] <= '9'; }
  bool take(char c) noexcept {
    if (i < s.size() && s[i] == c) {
      ++i;
      return true;
    }
    return false;
  }
  bool take_any(std::string_view cs) noexcept {
    if (i < s.size() && cs.find(s[i]) != std::string_view::npos) {
      ++i;
      return true;
    }
    return false;
  }
};

// The seconds either side of the epoch that a nanosecond time point can hold,
// with room for the fraction.
inline constexpr std::int64_t max_seconds =
    std::chrono::duration_cast<std::chrono::seconds>(clock::duration::max()).count() - 1;

inline std::optional<clock::time_point> from_seconds(std::int64_t s) noexcept {
  if (s > max_seconds || s < -max_seconds) return std::nullopt;
  return clock::time_point(std::chrono::seconds(s));
}
}  // namespace detail::json_io
WORKERS_END_NAMESPACE

/// @brief Octez's time and span encodings, and the JSON conversions called
/// directly (`to_value`, `status_from`, ...), for code that would rather not
/// depend on `value_from` / `value_to` overload resolution.
WORKERS_BEGIN_NAMESPACE
namespace json {

/// @brief `t` as Octez's `Time.System.encoding` writes it in JSON, e.g.
/// `2026-11-30T11:20:43.123-00:00`.
///
/// Octez (`src/lib_base/time.ml`, module `System`): `let frac_s = 3`,
/// `let to_notation t = Ptime.to_rfc3339 ~frac_s t`, used by `rfc_encoding`, the JSON
/// case of `encoding`. Ptime's `to_rfc3339` prints `frac_s` digits of the fraction,
/// truncated, and, given no `tz_offset_s`, the offset `-00:00` (RFC 3339's "unknown
/// local offset"), not `Z`. So: UTC, milliseconds truncated toward the past, `-00:00`.
inline std::string format_time(clock::time_point t) {
  using namespace std::chrono;
  const auto ms = floor<milliseconds>(t);
  const auto day = floor<days>(ms);
  const year_month_day ymd{day};
  const hh_mm_ss hms{ms - day};
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}-00:00",
                     static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                     static_cast<unsigned>(ymd.day()), hms.hours().count(), hms.minutes().count(),
                     hms.seconds().count(), hms.subseconds().count());
}

/// @brief An RFC 3339 time as Ptime's `of_rfc3339` reads it (what Octez reads):
/// `T`, `t` or a space between date and time, any number of fraction digits (kept to
/// the nanosecond), `Z`, `z` or an offset `±hh:mm` (also `±hhmm`, `±hh`). Empty if
/// `s` is not one, or is out of the range of `clock::time_point` (1677 to 2262).
inline std::optional<clock::time_point> parse_time(std::string_view s) noexcept {
  using namespace std::chrono;
  detail::json_io::cursor c{s};
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
  if (!(c.digits(4, y) && c.take('-') && c.digits(2, mo) && c.take('-') && c.digits(2, d) &&
        c.take_any("Tt ") && c.digits(2, h) && c.take(':') && c.digits(2, mi) && c.take(':') &&
        c.digits(2, sec)))
    return std::nullopt;
  std::int64_t frac_ns = 0;
  if (c.take('.')) {
    if (!c.next_is_digit()) return std::nullopt;
    for (std::int64_t scale = 100'000'000; c.next_is_digit(); ++c.i, scale /= 10)
      frac_ns += (c.s[c.i] - '0') * scale;  // digits past the nanosecond add 0
  }
  int offset_min = 0;
  if (!c.take_any("Zz")) {
    const bool minus = c.i < s.size() && s[c.i] == '-';
    int oh = 0, om = 0;
    if (!(c.take_any("+-") && c.digits(2, oh))) return std::nullopt;
    if (c.take(':')) {
      if (!c.digits(2, om)) return std::nullopt;
    } else if (c.next_is_digit() && !c.digits(2, om)) {
      return std::nullopt;
    }
    if (oh > 23 || om > 59) return std::nullopt;
    offset_min = (minus ? -1 : 1) * (oh * 60 + om);
  }
  if (c.i != s.size()) return std::nullopt;
  const year_month_day ymd{year{y}, month{static_cast<unsigned>(mo)},
                           day{static_cast<unsigned>(d)}};
  if (!ymd.ok() || h > 23 || mi > 59 || sec > 60) return std::nullopt;  // 60: a leap second
  const auto local = sys_days(ymd).time_since_epoch() + hours(h) + minutes(mi) + seconds(sec);
  const auto whole = detail::json_io::from_seconds((local - minutes(offset_min)).count());
  if (!whole) return std::nullopt;
  return *whole + nanoseconds(frac_ns);
}

/// @brief `d` as Octez's `Time.System.Span.encoding` writes it: a JSON number of
/// seconds (`conv Ptime.Span.to_float_s ... float`), e.g. 0.003 for 3 ms.
///
/// The number is the same; its text is the serializer's: Octez's JSON printer writes
/// a float with `%g` (6 significant digits, `0.003`), Boost.JSON the shortest text
/// that reads back exactly (`3E-3`).
inline double span_seconds(clock::duration d) noexcept {
  return std::chrono::duration<double>(d).count();
}

/// @brief The span `seconds` is, to the nearest nanosecond; empty if not finite or
/// beyond `clock::duration` (292 years).
inline std::optional<clock::duration> span_from_seconds(double seconds) noexcept {
  if (!std::isfinite(seconds) || std::abs(seconds) > 9.2e9) return std::nullopt;
  return std::chrono::round<clock::duration>(std::chrono::duration<double>(seconds));
}

}  // namespace json
WORKERS_END_NAMESPACE

WORKERS_BEGIN_NAMESPACE
namespace detail::json_io {

namespace bj = boost::json;
using boost::system::error_code;

// ---- Writing ----

inline void put_time(bj::value& jv, clock::time_point t) {
  jv.emplace_string().assign(json::format_time(t));
}

inline void write_status(bj::value& jv, const launching& s) {
  auto& o = jv.emplace_object();
  o["phase"] = "launching";
  put_time(o["since"], s.since);
}
inline void write_status(bj::value& jv, const running& s) {
  auto& o = jv.emplace_object();
  o["phase"] = "running";
  put_time(o["since"], s.since);
}
inline void write_status(bj::value& jv, const closing& s) {
  auto& o = jv.emplace_object();
  o["phase"] = "closing";
  put_time(o["birth"], s.born);
  put_time(o["since"], s.since);
  // Ours: upstream's close (an abort) keeps upstream's shape.
  if (s.mode != shutdown_mode::abort) o["mode"] = bj::string_view(to_string(s.mode));
  if (s.deadline) put_time(o["deadline"], *s.deadline);
}
// A list of errors: an array of strings.
inline void put_errors(bj::value& jv, const error_list& errors) {
  auto& a = jv.emplace_array();
  a.reserve(errors.size());
  for (const auto& e : errors) a.emplace_back(bj::string_view(e));
}

// Ours: Octez's RPC has no restarting phase.
inline void write_status(bj::value& jv, const restarting& s) {
  auto& o = jv.emplace_object();
  o["phase"] = "restarting";
  put_time(o["birth"], s.born);
  put_time(o["since"], s.since);
  o["attempt"] = s.attempt;
  if (s.last_errors) put_errors(o["errors"], *s.last_errors);
  if (s.next_attempt) put_time(o["next_attempt"], *s.next_attempt);
}
inline void write_status(bj::value& jv, const closed& s) {
  auto& o = jv.emplace_object();
  o["phase"] = s.crash_errors ? "crashed" : "closed";
  put_time(o["birth"], s.born);
  put_time(o["since"], s.since);
  if (s.crash_errors) put_errors(o["errors"], *s.crash_errors);
}
inline void write_status(bj::value& jv, const worker_status& s) {
  std::visit([&](const auto& alternative) { write_status(jv, alternative); }, s);
}

inline void write_report(bj::value& jv, const shutdown_report& r) {
  auto& o = jv.emplace_object();
  o["asked"] = bj::string_view(to_string(r.asked));
  o["reached"] = bj::string_view(to_string(r.reached));
  o["handled"] = r.handled;
  o["answered_closed"] = r.answered_closed;
  o["handler_cut"] = r.handler_cut;
  o["deadline_expired"] = r.deadline_expired;
  o["took"] = json::span_seconds(r.took);
  o["workers"] = r.workers;
}

inline void write_request_status(bj::value& jv, const request_status& s) {
  auto& o = jv.emplace_object();
  put_time(o["pushed"], s.pushed);
  o["treated"] = json::span_seconds(s.treated);
  o["completed"] = json::span_seconds(s.completed);
}

inline void write_information(bj::value& jv, const worker_information& i) {
  auto& o = jv.emplace_object();
  o["instances"] = i.instances_number;
  write_status(o["status"], i.status);
  o["queue_length"] = i.queue_length;
  if (i.incarnations != 1) o["incarnations"] = i.incarnations;  // ours
}

template <class View>
concept writable_view = bj::has_value_from<View>::value || fmt::is_formattable<View>::value;
template <class View>
concept readable_view = bj::has_value_to<View>::value;

// A view by its own conversion, else as fmt prints it (always a string then).
template <writable_view View>
void write_view(bj::value& jv, const View& v) {
  if constexpr (bj::has_value_from<View>::value)
    bj::value_from(v, jv);
  else
    jv.emplace_string().assign(fmt::format("{}", v));
}

template <class View>
void write_pending(bj::value& jv, const pending_request<View>& p) {
  auto& o = jv.emplace_object();
  put_time(o["pushed"], p.pushed);
  write_view(o["request"], p.view);
}
template <class View>
void write_active(bj::value& jv, const active_request<View>& a) {
  auto& o = jv.emplace_object();
  put_time(o["pushed"], a.pushed);
  put_time(o["treated"], a.treated);
  write_view(o["request"], a.view);
}
template <class View>
void write_full_status(bj::value& jv, const worker_full_status<View>& s) {
  auto& o = jv.emplace_object();
  write_status(o["status"], s.status);
  auto& pending = o["pending_requests"].emplace_array();
  pending.reserve(s.pending_requests.size());
  for (const auto& p : s.pending_requests) write_pending(pending.emplace_back(nullptr), p);
  if (s.current_request) write_active(o["current_request"], *s.current_request);
}

// An event's fields, by Octez's field names where Octez has the event
// (worker_events.ml), by the member names otherwise.
inline void put_text(bj::value& jv, const event_value& v) { jv.emplace_string().assign(v.text()); }
inline void put_fields(bj::object&, const events::started&) {}
inline void put_fields(bj::object& o, const events::started_for& f) { o["name"] = f.name; }
inline void put_fields(bj::object&, const events::triggering_shutdown&) {}
inline void put_fields(bj::object& o, const events::terminated& f) {
  write_report(o["report"], f.report);
}
inline void put_fields(bj::object& o, const events::crashed& f) {
  put_errors(o["error"], f.errors);  // Octez: ("error", C.encoding)
  write_report(o["report"], f.report);
}
inline void put_fields(bj::object& o, const events::request_no_errors& f) {
  put_text(o["view"], f.view);
  write_request_status(o["request_status"], f.status);
}
inline void put_fields(bj::object& o, const events::request_error& f) {
  put_text(o["view"], f.view);
  write_request_status(o["request_status"], f.status);
  put_text(o["errors"], f.error);  // Octez: ("errors", C.encoding)
}
inline void put_fields(bj::object& o, const events::launch_failed& f) { o["error"] = f.error; }
inline void put_fields(bj::object& o, const events::request_dropped& f) {
  put_text(o["view"], f.view);
  put_time(o["pushed"], f.pushed);
}
inline void put_fields(bj::object& o, const events::request_cancelled& f) {
  put_text(o["view"], f.view);
  put_time(o["pushed"], f.pushed);
  o["handled"] = f.handled;
}
inline void put_fields(bj::object& o, const events::request_refused& f) {
  put_text(o["view"], f.view);
}
inline void put_fields(bj::object& o, const events::handler_exception& f) {
  o["where"] = f.where;
  o["error"] = f.error;
}
inline void put_fields(bj::object& o, const events::queue_high& f) {
  o["length"] = f.length;
  o["oldest_age"] = json::span_seconds(f.oldest_age);
}
inline void put_fields(bj::object& o, const events::queue_normal& f) { o["length"] = f.length; }
inline void put_fields(bj::object& o, const events::restarting& f) {
  o["attempt"] = f.attempt;
  o["cause"] = std::string(to_string(f.cause));
  put_errors(o["errors"], f.errors);
  o["delay"] = json::span_seconds(f.delay);
}
inline void put_fields(bj::object& o, const events::restarted& f) { o["attempt"] = f.attempt; }
inline void put_fields(bj::object& o, const events::restart_limit_reached& f) {
  o["intensity"] = f.intensity;
  o["period"] = json::span_seconds(f.period);
  put_errors(o["errors"], f.errors);
}
inline void put_fields(bj::object& o, const events::shutdown_escalated& f) {
  o["from"] = bj::string_view(to_string(f.from));
  o["to"] = bj::string_view(to_string(f.to));
}
template <class Watchdog>
requires std::is_same_v<Watchdog, events::request_slow> ||
    std::is_same_v<Watchdog, events::request_stuck>
inline void put_fields(bj::object& o, const Watchdog& f) {
  put_text(o["view"], f.view);
  o["running"] = json::span_seconds(f.running);
  o["returned"] = f.returned;
}

inline void write_event(bj::value& jv, const event& e) {
  auto& o = jv.emplace_object();
  o["level"] = bj::string_view(to_string(e.level));
  auto& section = o["section"].emplace_array();
  for (const auto& s : e.section) section.emplace_back(bj::string_view(s));
  o["name"] = e.name();
  o["worker"] = e.worker;
  put_time(o["time"], e.time);
  auto& fields = o["fields"].emplace_object();
  std::visit([&](const auto& f) { put_fields(fields, f); }, e.fields);
}

// ---- Reading ----

// Where reading failed: the error, and the path of the member, outermost first.
class reader {
 public:
  // Always false, for `return r.fail(...)`.
  bool fail(error_code ec, std::string_view where = {}) {
    ec_ = ec;
    where_ = where;
    return false;
  }
  template <class E>
  bool fail(E e, std::string_view where = {}) {
    return fail(error_code(e), where);
  }
  // The failure happened inside member `key`: prefix the path with it.
  void inside(std::string_view key) {
    if (where_.empty() || where_.front() == '[')
      where_.insert(0, key);
    else
      where_.insert(0, std::string(key) + '.');
  }
  void inside(std::size_t index) { inside(fmt::format("[{}]", index)); }
  const error_code& error() const noexcept { return ec_; }
  const std::string& where() const noexcept { return where_; }

 private:
  error_code ec_;
  std::string where_;
};

// Member `key` of `o` read by `read(value, reader)`, which returns an optional.
template <class F>
auto member(const bj::object& o, std::string_view key, reader& r, F read)
    -> decltype(read(std::declval<const bj::value&>(), r)) {
  const bj::value* v = o.if_contains(key);
  if (!v) {
    r.fail(bj::error::unknown_name, key);
    return std::nullopt;
  }
  auto out = read(*v, r);
  if (!out) r.inside(key);
  return out;
}

inline const bj::object* object_of(const bj::value& jv, reader& r) {
  const bj::object* o = jv.if_object();
  if (!o) r.fail(bj::error::not_object);
  return o;
}

inline std::optional<std::string_view> read_string(const bj::value& jv, reader& r) {
  if (const bj::string* s = jv.if_string()) return std::string_view(s->data(), s->size());
  r.fail(bj::error::not_string);
  return std::nullopt;
}

// A time as Octez's `Time.System.encoding` reads it: an RFC 3339 string, or seconds
// since the epoch (its int64 case: a number, or a decimal string).
inline std::optional<clock::time_point> read_time(const bj::value& jv, reader& r) {
  if (const bj::string* s = jv.if_string()) {
    const std::string_view text(s->data(), s->size());
    if (auto t = json::parse_time(text)) return t;
    std::int64_t n = 0;  // seconds since the epoch, as a string
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (ec == std::errc() && end == text.data() + text.size()) {
      if (auto t = from_seconds(n)) return t;
      r.fail(bj::error::not_exact);
      return std::nullopt;
    }
    r.fail(boost::system::errc::make_error_code(boost::system::errc::invalid_argument));
    return std::nullopt;
  }
  if (!jv.is_number()) {
    r.fail(bj::error::not_string);
    return std::nullopt;
  }
  error_code ec;
  const auto n = jv.to_number<std::int64_t>(ec);
  if (ec) {
    r.fail(ec);
    return std::nullopt;
  }
  if (auto t = from_seconds(n)) return t;
  r.fail(bj::error::not_exact);
  return std::nullopt;
}

inline std::optional<clock::duration> read_span(const bj::value& jv, reader& r) {
  error_code ec;
  const auto seconds = jv.to_number<double>(ec);
  if (ec) {
    r.fail(ec);
    return std::nullopt;
  }
  auto d = json::span_from_seconds(seconds);
  if (!d) r.fail(bj::error::not_exact);
  return d;
}

inline std::optional<std::size_t> read_count(const bj::value& jv, reader& r) {
  error_code ec;
  const auto n = jv.to_number<std::size_t>(ec);
  if (ec) {
    r.fail(ec);
    return std::nullopt;
  }
  return n;
}

// Strings as they are; anything else (Octez's error objects) as its JSON text.
inline std::optional<error_list> read_errors(const bj::value& jv, reader& r) {
  const bj::array* a = jv.if_array();
  if (!a) {
    r.fail(bj::error::not_array);
    return std::nullopt;
  }
  error_list out;
  out.reserve(a->size());
  for (const auto& e : *a) {
    if (const bj::string* s = e.if_string())
      out.emplace_back(s->data(), s->size());
    else
      out.push_back(bj::serialize(e));
  }
  return out;
}

inline std::optional<worker_status> read_status(const bj::value& jv, reader& r) {
  const bj::object* o = object_of(jv, r);
  if (!o) return std::nullopt;
  const auto phase = member(*o, "phase", r, read_string);
  if (!phase) return std::nullopt;
  const auto since = [&] { return member(*o, "since", r, read_time); };
  const auto birth = [&] { return member(*o, "birth", r, read_time); };
  if (*phase == "launching" || *phase == "running") {
    const auto s = since();
    if (!s) return std::nullopt;
    if (*phase == "launching") return launching{*s};
    return running{*s};
  }
  if (*phase == "closing" || *phase == "closed" || *phase == "crashed" || *phase == "restarting") {
    const auto b = birth();
    if (!b) return std::nullopt;
    const auto s = since();
    if (!s) return std::nullopt;
    if (*phase == "closing") {
      closing c{*b, *s};
      // Ours, not Octez's: absent, the close is upstream's (an abort).
      if (o->contains("mode")) {
        const auto mode = member(*o, "mode", r, read_string);
        if (!mode) return std::nullopt;
        if (*mode == "drain")
          c.mode = shutdown_mode::drain;
        else if (*mode == "finish_current")
          c.mode = shutdown_mode::finish_current;
        else if (*mode != "abort") {
          r.fail(bj::error::unknown_name, "mode");
          return std::nullopt;
        }
      }
      if (o->contains("deadline")) {
        c.deadline = member(*o, "deadline", r, read_time);
        if (!c.deadline) return std::nullopt;
      }
      return c;
    }
    if (*phase == "restarting") {
      restarting rs{*b, *s};
      const auto attempt = member(*o, "attempt", r, read_count);
      if (!attempt) return std::nullopt;
      rs.attempt = static_cast<std::uint32_t>(*attempt);
      if (o->contains("errors")) {
        rs.last_errors = member(*o, "errors", r, read_errors);
        if (!rs.last_errors) return std::nullopt;
      }
      if (o->contains("next_attempt")) {
        rs.next_attempt = member(*o, "next_attempt", r, read_time);
        if (!rs.next_attempt) return std::nullopt;
      }
      return rs;
    }
    if (*phase == "closed") return closed{*b, *s, std::nullopt};
    auto errors = member(*o, "errors", r, read_errors);
    if (!errors) return std::nullopt;
    return closed{*b, *s, std::move(*errors)};
  }
  r.fail(bj::error::unknown_name, "phase");
  return std::nullopt;
}

// One alternative: its phase (or, for `closed`, "crashed") is required.
template <class Alternative>
std::optional<Alternative> read_alternative(const bj::value& jv, reader& r) {
  auto s = read_status(jv, r);
  if (!s) return std::nullopt;
  if (auto* a = std::get_if<Alternative>(&*s)) return std::move(*a);
  r.fail(bj::error::unknown_name, "phase");
  return std::nullopt;
}

inline std::optional<request_status> read_request_status(const bj::value& jv, reader& r) {
  const bj::object* o = object_of(jv, r);
  if (!o) return std::nullopt;
  const auto pushed = member(*o, "pushed", r, read_time);
  if (!pushed) return std::nullopt;
  const auto treated = member(*o, "treated", r, read_span);
  if (!treated) return std::nullopt;
  const auto completed = member(*o, "completed", r, read_span);
  if (!completed) return std::nullopt;
  return request_status{*pushed, *treated, *completed};
}

inline std::optional<worker_information> read_information(const bj::value& jv, reader& r) {
  const bj::object* o = object_of(jv, r);
  if (!o) return std::nullopt;
  const auto instances = member(*o, "instances", r, read_count);
  if (!instances) return std::nullopt;
  auto status = member(*o, "status", r, read_status);
  if (!status) return std::nullopt;
  const auto length = member(*o, "queue_length", r, read_count);
  if (!length) return std::nullopt;
  worker_information i{*instances, std::move(*status), *length};
  if (o->contains("incarnations")) {
    const auto n = member(*o, "incarnations", r, read_count);
    if (!n) return std::nullopt;
    i.incarnations = *n;
  }
  return i;
}

template <class View>
std::optional<View> read_view(const bj::value& jv, reader& r) {
  auto v = bj::try_value_to<View>(jv);
  if (!v) {
    r.fail(v.error());
    return std::nullopt;
  }
  return std::move(*v);
}

template <class View>
std::optional<pending_request<View>> read_pending(const bj::value& jv, reader& r) {
  const bj::object* o = object_of(jv, r);
  if (!o) return std::nullopt;
  const auto pushed = member(*o, "pushed", r, read_time);
  if (!pushed) return std::nullopt;
  auto view = member(*o, "request", r, read_view<View>);
  if (!view) return std::nullopt;
  return pending_request<View>{*pushed, std::move(*view)};
}

template <class View>
std::optional<active_request<View>> read_active(const bj::value& jv, reader& r) {
  const bj::object* o = object_of(jv, r);
  if (!o) return std::nullopt;
  const auto pushed = member(*o, "pushed", r, read_time);
  if (!pushed) return std::nullopt;
  const auto treated = member(*o, "treated", r, read_time);
  if (!treated) return std::nullopt;
  auto view = member(*o, "request", r, read_view<View>);
  if (!view) return std::nullopt;
  return active_request<View>{*pushed, *treated, std::move(*view)};
}

template <class View>
std::optional<std::vector<pending_request<View>>> read_pending_list(const bj::value& jv,
                                                                    reader& r) {
  const bj::array* a = jv.if_array();
  if (!a) {
    r.fail(bj::error::not_array);
    return std::nullopt;
  }
  std::vector<pending_request<View>> out;
  out.reserve(a->size());
  for (std::size_t i = 0; i < a->size(); ++i) {
    auto p = read_pending<View>((*a)[i], r);
    if (!p) {
      r.inside(i);
      return std::nullopt;
    }
    out.push_back(std::move(*p));
  }
  return out;
}

template <class View>
std::optional<worker_full_status<View>> read_full_status(const bj::value& jv, reader& r) {
  const bj::object* o = object_of(jv, r);
  if (!o) return std::nullopt;
  auto status = member(*o, "status", r, read_status);
  if (!status) return std::nullopt;
  auto pending = member(*o, "pending_requests", r, read_pending_list<View>);
  if (!pending) return std::nullopt;
  worker_full_status<View> out{std::move(*status), std::move(*pending), std::nullopt};
  // Octez's `opt`: absent when idle (null read as absent too).
  if (const bj::value* current = o->if_contains("current_request");
      current && !current->is_null()) {
    out.current_request = read_active<View>(*current, r);
    if (!out.current_request) {
      r.inside("current_request");
      return std::nullopt;
    }
  }
  return out;
}

// The two ways Boost.JSON reads: a result, or an exception.
template <class T, class Read>
bj::result<T> to_result(const bj::value& jv, Read read) {
  reader r;
  auto out = read(jv, r);
  if (!out) return {boost::system::in_place_error, r.error()};
  return {boost::system::in_place_value, std::move(*out)};
}
template <class T, class Read>
T or_throw(const bj::value& jv, Read read, std::string_view what) {
  reader r;
  auto out = read(jv, r);
  if (!out)
    throw boost::system::system_error(
        r.error(), r.where().empty()
                       ? fmt::format("workers::json: reading a {}", what)
                       : fmt::format("workers::json: reading a {}, at {}", what, r.where()));
  return std::move(*out);
}

template <class T>
concept status_alternative = std::is_same_v<T, launching> || std::is_same_v<T, running> ||
    std::is_same_v<T, restarting> || std::is_same_v<T, closing> || std::is_same_v<T, closed>;

template <class T>
concept event_fields_type = boost::mp11::mp_contains<event_fields, T>::value;

}  // namespace detail::json_io
WORKERS_END_NAMESPACE

WORKERS_BEGIN_NAMESPACE

// ---- Boost.JSON conversions, found by argument-dependent lookup ----

// worker_status: not templates, so that they win over Boost's std::variant templates
// (the rvalue overload too: Boost's takes `std::variant<Ts...>&&`).

/// @brief `boost::json::value_from(status)`: Octez's `worker_status` shape.
inline void tag_invoke(boost::json::value_from_tag, boost::json::value& jv,
                       const worker_status& s) {
  detail::json_io::write_status(jv, s);
}
/// @brief `boost::json::value_from(std::move(status))`: as above.
inline void tag_invoke(boost::json::value_from_tag, boost::json::value& jv, worker_status&& s) {
  detail::json_io::write_status(jv, s);
}
/// @brief `boost::json::try_value_to<worker_status>`: by `"phase"`.
inline boost::json::result<worker_status> tag_invoke(boost::json::try_value_to_tag<worker_status>,
                                                     const boost::json::value& jv) {
  return detail::json_io::to_result<worker_status>(jv, detail::json_io::read_status);
}
/// @brief `boost::json::value_to<worker_status>`: throws `system_error` naming the member.
inline worker_status tag_invoke(boost::json::value_to_tag<worker_status>,
                                const boost::json::value& jv) {
  return detail::json_io::or_throw<worker_status>(jv, detail::json_io::read_status,
                                                  "worker status");
}

/// @brief `boost::json::value_from(report)`: see the shapes above (written only).
inline void tag_invoke(boost::json::value_from_tag, boost::json::value& jv,
                       const shutdown_report& r) {
  detail::json_io::write_report(jv, r);
}

/// @brief One status alternative: the same shape as the status holding it.
template <detail::json_io::status_alternative T>
void tag_invoke(boost::json::value_from_tag, boost::json::value& jv, const T& s) {
  detail::json_io::write_status(jv, s);
}
/// @brief Reads one status alternative; another phase is `unknown_name`.
template <detail::json_io::status_alternative T>
boost::json::result<T> tag_invoke(boost::json::try_value_to_tag<T>, const boost::json::value& jv) {
  return detail::json_io::to_result<T>(jv, detail::json_io::read_alternative<T>);
}
/// @brief Reads one status alternative, or throws.
template <detail::json_io::status_alternative T>
T tag_invoke(boost::json::value_to_tag<T>, const boost::json::value& jv) {
  return detail::json_io::or_throw<T>(jv, detail::json_io::read_alternative<T>, "worker status");
}

/// @brief `{"pushed": T, "treated": SPAN, "completed": SPAN}`.
inline void tag_invoke(boost::json::value_from_tag, boost::json::value& jv,
                       const request_status& s) {
  detail::json_io::write_request_status(jv, s);
}
/// @brief `boost::json::try_value_to<request_status>`: the error code, without throwing.
inline boost::json::result<request_status> tag_invoke(boost::json::try_value_to_tag<request_status>,
                                                      const boost::json::value& jv) {
  return detail::json_io::to_result<request_status>(jv, detail::json_io::read_request_status);
}
/// @brief `boost::json::value_to<request_status>`: throws `system_error` naming the member.
inline request_status tag_invoke(boost::json::value_to_tag<request_status>,
                                 const boost::json::value& jv) {
  return detail::json_io::or_throw<request_status>(jv, detail::json_io::read_request_status,
                                                   "request status");
}

/// @brief `{"instances": n, "status": STATUS, "queue_length": n}`.
inline void tag_invoke(boost::json::value_from_tag, boost::json::value& jv,
                       const worker_information& i) {
  detail::json_io::write_information(jv, i);
}
/// @brief `boost::json::try_value_to<worker_information>`: the error code, without throwing.
inline boost::json::result<worker_information> tag_invoke(
    boost::json::try_value_to_tag<worker_information>, const boost::json::value& jv) {
  return detail::json_io::to_result<worker_information>(jv, detail::json_io::read_information);
}
/// @brief `boost::json::value_to<worker_information>`: throws `system_error` naming the member.
inline worker_information tag_invoke(boost::json::value_to_tag<worker_information>,
                                     const boost::json::value& jv) {
  return detail::json_io::or_throw<worker_information>(jv, detail::json_io::read_information,
                                                       "worker information");
}

/// @brief `{"pushed": T, "request": VIEW}`, an element of `"pending_requests"`.
template <detail::json_io::writable_view View>
void tag_invoke(boost::json::value_from_tag, boost::json::value& jv,
                const pending_request<View>& p) {
  detail::json_io::write_pending(jv, p);
}
/// @brief `boost::json::try_value_to<pending_request<View>>`, the view read by
/// `value_to<View>` (`value_to` then works too, through Boost's default).
template <detail::json_io::readable_view View>
boost::json::result<pending_request<View>> tag_invoke(
    boost::json::try_value_to_tag<pending_request<View>>, const boost::json::value& jv) {
  return detail::json_io::to_result<pending_request<View>>(jv, detail::json_io::read_pending<View>);
}

/// @brief `{"pushed": T, "treated": T, "request": VIEW}`, a `"current_request"`.
template <detail::json_io::writable_view View>
void tag_invoke(boost::json::value_from_tag, boost::json::value& jv,
                const active_request<View>& a) {
  detail::json_io::write_active(jv, a);
}
/// @brief `boost::json::try_value_to<active_request<View>>`, the view read by
/// `value_to<View>` (`value_to` then works too, through Boost's default).
template <detail::json_io::readable_view View>
boost::json::result<active_request<View>> tag_invoke(
    boost::json::try_value_to_tag<active_request<View>>, const boost::json::value& jv) {
  return detail::json_io::to_result<active_request<View>>(jv, detail::json_io::read_active<View>);
}

/// @brief Octez's `full_status` without `"backlog"`; `"current_request"` omitted when idle.
/// A view is written by its own `value_from` if it has one, else as its fmt text.
template <detail::json_io::writable_view View>
void tag_invoke(boost::json::value_from_tag, boost::json::value& jv,
                const worker_full_status<View>& s) {
  detail::json_io::write_full_status(jv, s);
}
/// @brief Reads a full status whose views `value_to<View>` reads (a `std::string`
/// reads the text a view without a conversion of its own was written as).
template <detail::json_io::readable_view View>
boost::json::result<worker_full_status<View>> tag_invoke(
    boost::json::try_value_to_tag<worker_full_status<View>>, const boost::json::value& jv) {
  return detail::json_io::to_result<worker_full_status<View>>(
      jv, detail::json_io::read_full_status<View>);
}
/// @brief `boost::json::value_to<worker_full_status<View>>`: throws `system_error`
/// naming the member.
template <detail::json_io::readable_view View>
worker_full_status<View> tag_invoke(boost::json::value_to_tag<worker_full_status<View>>,
                                    const boost::json::value& jv) {
  return detail::json_io::or_throw<worker_full_status<View>>(
      jv, detail::json_io::read_full_status<View>, "full status");
}

/// @brief A level as Octez spells it: `"debug"`, `"info"`, ...
inline void tag_invoke(boost::json::value_from_tag, boost::json::value& jv, level l) {
  jv.emplace_string().assign(to_string(l));
}

/// @brief A type-erased view or error: the text fmt prints for it.
inline void tag_invoke(boost::json::value_from_tag, boost::json::value& jv, const event_value& v) {
  detail::json_io::put_text(jv, v);
}

/// @brief An event: `{"level": "info", "section": ["test", "calc"], "name":
/// "terminate_test-calc", "worker": "test-calc_alice", "time": T, "fields": {...}}`.
///
/// `"name"` is upstream's (`event::name()`); `"fields"` holds the event's typed fields
/// by Octez's names where Octez has the event (`request_no_errors`: `"view"`,
/// `"request_status"`; `request_error`: also `"errors"`; `crashed`: `"error"`, the
/// error list; `started_for`: `"name"`) and by the member names of the `events::`
/// structs otherwise. Views and request errors are type-erased (`event_value`): they
/// are written as their text. For that reason there is no `value_to` for events: what
/// the fields held cannot be read back.
inline void tag_invoke(boost::json::value_from_tag, boost::json::value& jv, const event& e) {
  detail::json_io::write_event(jv, e);
}

namespace events {
/// @brief One event's fields alone, as `"fields"` of the event holds them (so
/// `value_from(e.fields)` writes them too, through Boost's variant conversion).
template <detail::json_io::event_fields_type Fields>
void tag_invoke(boost::json::value_from_tag, boost::json::value& jv, const Fields& f) {
  detail::json_io::put_fields(jv.emplace_object(), f);
}
}  // namespace events

WORKERS_END_NAMESPACE

WORKERS_BEGIN_NAMESPACE
namespace json {

// ---- Explicit entry points: the same conversions, without overload resolution ----

/// @brief `s` in Octez's shape; the same as `boost::json::value_from(s)`.
inline boost::json::value to_value(const worker_status& s, boost::json::storage_ptr sp = {}) {
  boost::json::value jv(std::move(sp));
  detail::json_io::write_status(jv, s);
  return jv;
}
/// @brief `s` in Octez's shape.
inline boost::json::value to_value(const request_status& s, boost::json::storage_ptr sp = {}) {
  boost::json::value jv(std::move(sp));
  detail::json_io::write_request_status(jv, s);
  return jv;
}
/// @brief `i` in Octez's shape.
inline boost::json::value to_value(const worker_information& i, boost::json::storage_ptr sp = {}) {
  boost::json::value jv(std::move(sp));
  detail::json_io::write_information(jv, i);
  return jv;
}
/// @brief `s` in Octez's shape, without `"backlog"`.
template <detail::json_io::writable_view View>
boost::json::value to_value(const worker_full_status<View>& s, boost::json::storage_ptr sp = {}) {
  boost::json::value jv(std::move(sp));
  detail::json_io::write_full_status(jv, s);
  return jv;
}
/// @brief `e` as `value_from(e)` writes it.
inline boost::json::value to_value(const event& e, boost::json::storage_ptr sp = {}) {
  boost::json::value jv(std::move(sp));
  detail::json_io::write_event(jv, e);
  return jv;
}

/// @brief The status `jv` holds. @throws boost::system::system_error naming the member.
inline worker_status status_from(const boost::json::value& jv) {
  return detail::json_io::or_throw<worker_status>(jv, detail::json_io::read_status,
                                                  "worker status");
}
/// @brief The request status `jv` holds. @throws boost::system::system_error.
inline request_status request_status_from(const boost::json::value& jv) {
  return detail::json_io::or_throw<request_status>(jv, detail::json_io::read_request_status,
                                                   "request status");
}
/// @brief The information `jv` holds. @throws boost::system::system_error.
inline worker_information information_from(const boost::json::value& jv) {
  return detail::json_io::or_throw<worker_information>(jv, detail::json_io::read_information,
                                                       "worker information");
}
/// @brief The full status `jv` holds, its views read by `value_to<View>`.
/// @throws boost::system::system_error.
template <detail::json_io::readable_view View>
worker_full_status<View> full_status_from(const boost::json::value& jv) {
  return detail::json_io::or_throw<worker_full_status<View>>(
      jv, detail::json_io::read_full_status<View>, "full status");
}

}  // namespace json
WORKERS_END_NAMESPACE
