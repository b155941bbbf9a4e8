// JSON in the shapes of Octez's encodings (<workers/json.hpp>): golden documents,
// round trips, reading errors, and a live worker's full status and events.

#include "support/calc.hpp"
#include "support/catch.hpp"
#include "support/run.hpp"

#include <workers/json.hpp>
#include <workers/sinks.hpp>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

using namespace test;
using namespace std::chrono_literals;
namespace bj = boost::json;
using workers::clock;

namespace json_views {
// A view with conversions of its own: written as an object.
struct op {
  std::string name;
  int amount = 0;
  friend bool operator==(const op&, const op&) = default;
};
void tag_invoke(bj::value_from_tag, bj::value& jv, const op& v) {
  jv = {{"op", v.name}, {"amount", v.amount}};
}
op tag_invoke(bj::value_to_tag<op>, const bj::value& jv) {
  const auto& o = jv.as_object();
  return {bj::value_to<std::string>(o.at("op")), bj::value_to<int>(o.at("amount"))};
}
// A view fmt prints and Boost.JSON knows nothing of: written as its text.
struct label {
  int id = 0;
};
}  // namespace json_views

template <>
struct fmt::formatter<json_views::label> {
  constexpr auto parse(fmt::format_parse_context& ctx) { return ctx.begin(); }
  auto format(const json_views::label& l, fmt::format_context& ctx) const {
    return fmt::format_to(ctx.out(), "label #{}", l.id);
  }
};

// Named, so that the unity build keeps each file's helpers apart.
namespace json_tests {

constexpr auto day = std::chrono::sys_days{std::chrono::year{2026} / 11 / 30};
// 2026-11-30T11:20:43.123456789Z; Octez's time encoding keeps the milliseconds.
const clock::time_point t_ns = day + 11h + 20min + 43s + 123456789ns;
const clock::time_point t0 = day + 11h + 20min + 43s + 123ms;
const clock::time_point t1 = t0 + 2s + 5ms;
const clock::time_point t2 = t1 + 1h + 999ms;
const std::string s0 = "\"2026-11-30T11:20:43.123-00:00\"";
const std::string s1 = "\"2026-11-30T11:20:45.128-00:00\"";
const std::string s2 = "\"2026-11-30T12:20:46.127-00:00\"";

std::string json_of(const auto& x) { return bj::serialize(bj::value_from(x)); }

// The status types have no operator==: compare what they hold.
auto key(const workers::worker_status& s) {
  struct visitor {
    using out = std::tuple<std::size_t, clock::time_point, clock::time_point,
                           std::optional<workers::error_list>>;
    out operator()(const workers::launching& x) const { return {0, {}, x.since, {}}; }
    out operator()(const workers::running& x) const { return {1, {}, x.since, {}}; }
    out operator()(const workers::closing& x) const { return {2, x.born, x.since, {}}; }
    out operator()(const workers::restarting& x) const {
      return {4 + x.attempt, x.born, x.since, x.last_errors};
    }
    out operator()(const workers::closed& x) const { return {3, x.born, x.since, x.crash_errors}; }
  };
  return std::visit(visitor{}, s);
}
auto key(const workers::request_status& s) { return std::tuple(s.pushed, s.treated, s.completed); }
auto key(const workers::worker_information& i) {
  return std::tuple(i.instances_number, key(i.status), i.queue_length, i.incarnations);
}
template <class View>
auto key(const workers::worker_full_status<View>& f) {
  std::vector<std::tuple<clock::time_point, View>> pending;
  for (const auto& p : f.pending_requests) pending.emplace_back(p.pushed, p.view);
  std::optional<std::tuple<clock::time_point, clock::time_point, View>> current;
  if (f.current_request)
    current.emplace(f.current_request->pushed, f.current_request->treated, f.current_request->view);
  return std::tuple(key(f.status), pending, current);
}

const std::vector<workers::worker_status> all_statuses = {
    workers::launching{t0},
    workers::running{t1},
    workers::restarting{t0, t1, 2, workers::error_list{"on_request threw: boom"}, t2},
    workers::restarting{t0, t1, 1, std::nullopt, std::nullopt},
    workers::closing{t0, t2},
    workers::closed{t0, t2, std::nullopt},
    workers::closed{t0, t2, workers::error_list{"on_request threw: boom", "second"}},
};

template <class View>
workers::worker_full_status<View> busy_status(View a, View b, View current) {
  return {workers::running{t0},
          {{t1, std::move(a)}, {t2, std::move(b)}},
          workers::active_request<View>{t0, t1, std::move(current)}};
}
template <class View>
workers::worker_full_status<View> idle_status() {
  return {workers::running{t0}, {}, std::nullopt};
}

// What the system_error `f` throws says (Catch2 v2 and v3 spell matchers differently).
template <class F>
std::string thrown(F f) {
  try {
    f();
  } catch (const boost::system::system_error& e) {
    return e.what();
  }
  return "nothing thrown";
}
bool contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

std::vector<std::string> keys_of(const bj::object& o) {
  std::vector<std::string> out;
  for (const auto& kv : o) out.emplace_back(kv.key());
  return out;
}

// What the conversions are, seen by Boost.JSON's traits.
static_assert(bj::has_value_from<workers::worker_status>::value);
static_assert(bj::has_value_to<workers::worker_status>::value);
static_assert(bj::has_value_to<workers::worker_full_status<std::string>>::value);
static_assert(bj::has_value_to<workers::worker_full_status<json_views::op>>::value);
static_assert(bj::has_value_from<workers::worker_full_status<json_views::label>>::value);
static_assert(!bj::has_value_to<workers::worker_full_status<json_views::label>>::value);
static_assert(bj::has_value_from<workers::event>::value);
static_assert(!bj::has_value_to<workers::event>::value);  // type-erased fields

TEST_CASE("json: times as Octez's Time.System.encoding, spans as seconds", "[json]") {
  namespace wj = workers::json;
  // Ptime.to_rfc3339 ~frac_s:3 without a time zone: milliseconds truncated, "-00:00".
  CHECK(wj::format_time(t_ns) == "2026-11-30T11:20:43.123-00:00");
  CHECK(wj::format_time(clock::time_point{}) == "1970-01-01T00:00:00.000-00:00");
  CHECK(wj::format_time(clock::time_point{} - 1ns) == "1969-12-31T23:59:59.999-00:00");
  CHECK(wj::parse_time("2026-11-30T11:20:43.123-00:00") == t0);
  CHECK(wj::parse_time("2026-11-30T11:20:43.123Z") == t0);
  CHECK(wj::parse_time("2026-11-30t11:20:43.123456789z") == t_ns);
  CHECK(wj::parse_time("2026-11-30 12:50:43.123+01:30") == t0);
  CHECK(wj::parse_time("2026-11-30T10:20:43.123-0100") == t0);
  CHECK(wj::parse_time("2026-11-30T11:20:43.1234567891234Z") == t_ns);  // past ns: dropped
  CHECK(wj::parse_time("1969-12-31T23:59:59.999-00:00") == clock::time_point{} - 1ms);
  for (const char* bad : {"", "2026-11-30", "2026-11-30T11:20:43", "2026-11-30T11:20:43.Z",
                          "2026-02-30T00:00:00Z", "2026-11-30T24:00:00Z", "2026-11-30T11:20:43Zx",
                          "2026-11-30T11:20:43+1", "3000-01-01T00:00:00Z", "yesterday"})
    CHECK_FALSE(wj::parse_time(bad));
  for (auto t : {t_ns, clock::time_point{} - 1ns, t2 + 999999ns})
    CHECK(wj::parse_time(wj::format_time(t)) == std::chrono::floor<std::chrono::milliseconds>(t));

  CHECK(wj::span_seconds(3ms) == 0.003);
  CHECK(wj::span_seconds(1500ms) == 1.5);
  for (auto d : {clock::duration{0ns}, clock::duration{1ns}, clock::duration{123456789ns},
                 clock::duration{-7ns}, clock::duration{std::chrono::hours(24 * 26)} + 1ns})
    CHECK(wj::span_from_seconds(wj::span_seconds(d)) == d);
  CHECK_FALSE(wj::span_from_seconds(1e300));
}

TEST_CASE("json: worker status, Octez's five shapes and our restarting", "[json]") {
  REQUIRE(all_statuses.size() == 7);
  const std::vector<std::string> expected = {
      R"({"phase":"launching","since":)" + s0 + "}",
      R"({"phase":"running","since":)" + s1 + "}",
      R"({"phase":"restarting","birth":)" + s0 + R"(,"since":)" + s1 +
          R"(,"attempt":2,"errors":["on_request threw: boom"],"next_attempt":)" + s2 + "}",
      R"({"phase":"restarting","birth":)" + s0 + R"(,"since":)" + s1 + R"(,"attempt":1})",
      R"({"phase":"closing","birth":)" + s0 + R"(,"since":)" + s2 + "}",
      R"({"phase":"closed","birth":)" + s0 + R"(,"since":)" + s2 + "}",
      R"({"phase":"crashed","birth":)" + s0 + R"(,"since":)" + s2 +
          R"(,"errors":["on_request threw: boom","second"]})",
  };
  for (std::size_t i = 0; i < all_statuses.size(); ++i) {
    const auto& s = all_statuses[i];
    CHECK(json_of(s) == expected[i]);
    CHECK(bj::serialize(bj::value_from(workers::worker_status(s))) == expected[i]);  // rvalue
    CHECK(bj::serialize(workers::json::to_value(s)) == expected[i]);
    std::visit([&](const auto& alternative) { CHECK(json_of(alternative) == expected[i]); }, s);
  }
  // Full nanoseconds are written to the millisecond.
  CHECK(json_of(workers::worker_status{workers::running{t_ns}}) ==
        R"({"phase":"running","since":)" + s0 + "}");
}

TEST_CASE("json: request status, information", "[json]") {
  CHECK(json_of(workers::request_status{t0, 3ms, 1500ms}) ==
        R"({"pushed":)" + s0 + R"(,"treated":3E-3,"completed":1.5E0})");
  CHECK(json_of(workers::worker_information{2, workers::running{t0}, 5}) ==
        R"({"instances":2,"status":{"phase":"running","since":)" + s0 + R"(},"queue_length":5})");
  CHECK(bj::serialize(workers::json::to_value(workers::request_status{t0, 0ns, 0ns})) ==
        R"({"pushed":)" + s0 + R"(,"treated":0E0,"completed":0E0})");
}

TEST_CASE("json: full status, busy and idle, views with and without a conversion", "[json]") {
  const std::string current_prefix =
      R"(,"current_request":{"pushed":)" + s0 + R"(,"treated":)" + s1 + R"(,"request":)";
  const std::string status = R"({"status":{"phase":"running","since":)" + s0 + "}";
  CHECK(json_of(busy_status<std::string>("add 1", "add 2", "hold")) ==
        status + R"(,"pending_requests":[{"pushed":)" + s1 + R"(,"request":"add 1"},{"pushed":)" +
            s2 + R"(,"request":"add 2"}])" + current_prefix + R"("hold"}})");
  CHECK(json_of(busy_status<json_views::op>({"add", 1}, {"sub", 2}, {"hold", 0})) ==
        status + R"(,"pending_requests":[{"pushed":)" + s1 +
            R"(,"request":{"op":"add","amount":1}},{"pushed":)" + s2 +
            R"(,"request":{"op":"sub","amount":2}}])" + current_prefix +
            R"({"op":"hold","amount":0}}})");
  CHECK(json_of(busy_status<json_views::label>({1}, {2}, {3})) ==
        status + R"(,"pending_requests":[{"pushed":)" + s1 +
            R"(,"request":"label #1"},{"pushed":)" + s2 + R"(,"request":"label #2"}])" +
            current_prefix + R"("label #3"}})");
  CHECK(json_of(busy_status<int>(1, 2, 3)) == status + R"(,"pending_requests":[{"pushed":)" + s1 +
                                                  R"(,"request":1},{"pushed":)" + s2 +
                                                  R"(,"request":2}])" + current_prefix + "3}}");
  // Idle: "current_request" omitted, as Octez's `opt`.
  CHECK(json_of(idle_status<std::string>()) == status + R"(,"pending_requests":[]})");
  CHECK(bj::serialize(workers::json::to_value(idle_status<json_views::label>())) ==
        status + R"(,"pending_requests":[]})");
}

TEST_CASE("json: a closing status shows its mode and deadline, read back", "[json]") {
  const workers::closing drain{t0, t1, workers::shutdown_mode::drain, t2};
  const std::string text = R"({"phase":"closing","birth":)" + s0 + R"(,"since":)" + s1 +
                           R"(,"mode":"drain","deadline":)" + s2 + "}";
  CHECK(json_of(workers::worker_status(drain)) == text);
  const auto back =
      std::get<workers::closing>(bj::value_to<workers::worker_status>(bj::parse(text)));
  CHECK(back.mode == workers::shutdown_mode::drain);
  CHECK(back.deadline == t2);
  CHECK(back.since == t1);
  // Upstream's shape (no mode) reads as an abort.
  const auto upstream = std::get<workers::closing>(bj::value_to<workers::worker_status>(
      bj::parse(R"({"phase":"closing","birth":)" + s0 + R"(,"since":)" + s1 + "}")));
  CHECK(upstream.mode == workers::shutdown_mode::abort);
  CHECK_FALSE(upstream.deadline);
  CHECK_FALSE(bj::try_value_to<workers::worker_status>(bj::parse(R"({"phase":"closing","birth":)" +
                                                                 s0 + R"(,"since":)" + s1 +
                                                                 R"(,"mode":"later"})"))
                  .has_value());
}

TEST_CASE("json: a restarting status, ours, read back", "[json]") {
  const workers::restarting r{t0, t1, 2, workers::error_list{"boom"}, t2};
  const std::string text = R"({"phase":"restarting","birth":)" + s0 + R"(,"since":)" + s1 +
                           R"(,"attempt":2,"errors":["boom"],"next_attempt":)" + s2 + "}";
  CHECK(json_of(workers::worker_status(r)) == text);
  const auto back =
      std::get<workers::restarting>(bj::value_to<workers::worker_status>(bj::parse(text)));
  CHECK(back.attempt == 2);
  CHECK(back.last_errors == workers::error_list{"boom"});
  CHECK(back.next_attempt == t2);
  CHECK_FALSE(bj::try_value_to<workers::worker_status>(
                  bj::parse(R"({"phase":"restarting","birth":)" + s0 + R"(,"since":)" + s1 + "}"))
                  .has_value());  // the attempt is required
  workers::worker_information i{2, r, 3, 2};
  CHECK(bj::serialize(bj::value_from(i)).find(R"("incarnations":2)") != std::string::npos);
  CHECK(bj::value_to<workers::worker_information>(bj::value_from(i)).incarnations == 2);
}

TEST_CASE("json: events, with their fields by Octez's names", "[json]") {
  namespace ev = workers::events;
  const auto view = workers::event_value::of(std::string("add 1"));
  const auto event = [&](workers::event_fields f) {
    const auto k = static_cast<workers::event_kind>(f.index());
    return workers::event{
        workers::level_of(k), {"test", "calc"}, "test-calc_alice", t0, std::move(f)};
  };
  CHECK(json_of(event(ev::request_no_errors{view, {t0, 3ms, 0ns}})) ==
        R"({"level":"debug","section":["test","calc"],"name":"request_no_errors_test-calc",)"
        R"("worker":"test-calc_alice","time":)" +
            s0 + R"(,"fields":{"view":"add 1","request_status":{"pushed":)" + s0 +
            R"(,"treated":3E-3,"completed":0E0}}})");
  const std::string report =
      R"({"asked":"drain","reached":"abort","handled":3,"answered_closed":2,)"
      R"("handler_cut":true,"deadline_expired":true,"took":5E0,"workers":1})";
  const workers::shutdown_report drained{
      workers::shutdown_mode::drain, workers::shutdown_mode::abort, 3, 2, true, true, 5s, 1};
  CHECK(json_of(event(ev::terminated{drained})) ==
        R"({"level":"info","section":["test","calc"],"name":"terminate_test-calc",)"
        R"("worker":"test-calc_alice","time":)" +
            s0 + R"(,"fields":{"report":)" + report + "}}");
  CHECK(bj::serialize(bj::value_from(drained)) == report);
  const auto fields = [&](workers::event_fields f) {
    return bj::serialize(bj::value_from(event(std::move(f))).at("fields"));
  };
  CHECK(fields(ev::started{}) == "{}");
  CHECK(fields(ev::started_for{"alice"}) == R"({"name":"alice"})");
  CHECK(fields(ev::triggering_shutdown{}) == "{}");
  CHECK(fields(ev::crashed{{"x", "y"}, drained}) ==
        R"({"error":["x","y"],"report":)" + report + "}");
  CHECK(fields(
            ev::shutdown_escalated{workers::shutdown_mode::drain, workers::shutdown_mode::abort}) ==
        R"({"from":"drain","to":"abort"})");
  CHECK(fields(ev::request_slow{view, 1500ms, false}) ==
        R"({"view":"add 1","running":1.5E0,"returned":false})");
  CHECK(fields(ev::request_stuck{view, 3s, true}) ==
        R"({"view":"add 1","running":3E0,"returned":true})");
  CHECK(
      fields(ev::request_error{view, {t0, 1s, 2s}, workers::event_value::of(std::string("no"))}) ==
      R"({"view":"add 1","request_status":{"pushed":)" + s0 +
          R"(,"treated":1E0,"completed":2E0},"errors":"no"})");
  CHECK(fields(ev::launch_failed{"refused"}) == R"({"error":"refused"})");
  CHECK(fields(ev::request_dropped{view, t0}) == R"({"view":"add 1","pushed":)" + s0 + "}");
  CHECK(fields(ev::request_cancelled{view, t0}) ==
        R"({"view":"add 1","pushed":)" + s0 + R"(,"handled":false})");
  CHECK(fields(ev::request_refused{view}) == R"({"view":"add 1"})");
  CHECK(fields(ev::handler_exception{"merge", "bad"}) == R"({"where":"merge","error":"bad"})");
  CHECK(fields(ev::queue_high{12, 250ms}) == R"({"length":12,"oldest_age":2.5E-1})");
  CHECK(fields(ev::queue_normal{3}) == R"({"length":3})");
  CHECK(fields(ev::restarting{2, workers::close_cause::handler_exception, {"boom"}, 250ms}) ==
        R"({"attempt":2,"cause":"handler exception","errors":["boom"],"delay":2.5E-1})");
  CHECK(fields(ev::restarted{2}) == R"({"attempt":2})");
  CHECK(fields(ev::restart_limit_reached{1, 5s, {"boom"}}) ==
        R"({"intensity":1,"period":5E0,"errors":["boom"]})");
  // The fields alone, through Boost's std::variant conversion.
  const workers::event_fields alone = ev::started_for{"bob"};
  CHECK(json_of(alone) == R"({"name":"bob"})");
  CHECK(json_of(workers::level::warning) == R"("warning")");
  CHECK(bj::serialize(workers::json::to_value(event(ev::queue_normal{3}))) ==
        json_of(event(ev::queue_normal{3})));
}

TEST_CASE("json: round trips of statuses, request status, information", "[json]") {
  for (const auto& s : all_statuses) {
    const auto jv = bj::value_from(s);
    CHECK(key(bj::value_to<workers::worker_status>(jv)) == key(s));
    auto tried = bj::try_value_to<workers::worker_status>(jv);
    REQUIRE(tried.has_value());
    CHECK(key(*tried) == key(s));
    CHECK(key(workers::json::status_from(jv)) == key(s));
    // An alternative reads its own phase only.
    std::visit(
        [&](const auto& alternative) {
          using A = std::decay_t<decltype(alternative)>;
          CHECK(key(workers::worker_status(bj::value_to<A>(jv))) == key(s));
          if constexpr (!std::is_same_v<A, workers::running>)
            CHECK(bj::try_value_to<workers::running>(jv).error() == bj::error::unknown_name);
        },
        s);
  }
  const workers::closed crashed_empty{t0, t1, workers::error_list{}};
  CHECK(key(bj::value_to<workers::worker_status>(bj::value_from(crashed_empty))) ==
        key(workers::worker_status(crashed_empty)));

  // Spans to the nanosecond; the pushed time at the precision written.
  const workers::request_status rs{t0, 123456789ns, 26 * 24h + 1ns};
  CHECK(key(bj::value_to<workers::request_status>(bj::value_from(rs))) == key(rs));
  CHECK(key(workers::json::request_status_from(workers::json::to_value(rs))) == key(rs));
  const workers::request_status fine{t_ns, 1ns, 2ns};
  CHECK(std::get<0>(key(bj::value_to<workers::request_status>(bj::value_from(fine)))) == t0);

  for (const auto& s : all_statuses) {
    const workers::worker_information info{3, s, 17};
    CHECK(key(bj::value_to<workers::worker_information>(bj::value_from(info))) == key(info));
    CHECK(key(workers::json::information_from(workers::json::to_value(info))) == key(info));
  }
}

TEST_CASE("json: round trips of full statuses", "[json]") {
  using workers::worker_full_status;
  for (const auto& f :
       {busy_status<std::string>("add 1", "add 2", "hold"), idle_status<std::string>()}) {
    CHECK(key(bj::value_to<worker_full_status<std::string>>(bj::value_from(f))) == key(f));
    CHECK(key(workers::json::full_status_from<std::string>(workers::json::to_value(f))) == key(f));
  }
  for (const auto& f : {busy_status<json_views::op>({"add", 1}, {"sub", 2}, {"hold", 0}),
                        idle_status<json_views::op>()})
    CHECK(key(bj::value_to<worker_full_status<json_views::op>>(bj::value_from(f))) == key(f));
  for (const auto& f : {busy_status<int>(1, 2, 3), idle_status<int>()})
    CHECK(key(bj::value_to<worker_full_status<int>>(bj::value_from(f))) == key(f));
  // A view without a conversion is written as its text, which reads back as a string.
  CHECK(key(bj::value_to<worker_full_status<std::string>>(
            bj::value_from(busy_status<json_views::label>({1}, {2}, {3})))) ==
        key(busy_status<std::string>("label #1", "label #2", "label #3")));
  CHECK(key(bj::value_to<worker_full_status<std::string>>(
            bj::value_from(idle_status<json_views::label>()))) == key(idle_status<std::string>()));
  // The elements convert alone too.
  const workers::pending_request<json_views::op> p{t0, {"add", 4}};
  CHECK(json_of(p) == R"({"pushed":)" + s0 + R"(,"request":{"op":"add","amount":4}})");
  const auto back = bj::value_to<workers::pending_request<json_views::op>>(bj::value_from(p));
  CHECK((back.pushed == t0 && back.view == p.view));
  const workers::active_request<std::string> a{t0, t1, "hold"};
  CHECK(bj::value_to<workers::active_request<std::string>>(bj::value_from(a)).treated == t1);
}

TEST_CASE("json: what reading accepts, and its errors", "[json]") {
  using workers::worker_status;
  const auto status = [](std::string_view text) {
    return bj::try_value_to<worker_status>(bj::parse(text));
  };
  // Octez's other spellings of a time: any offset, seconds since the epoch.
  CHECK(key(*status(R"({"phase":"running","since":"2026-11-30T11:20:43.123Z"})")) ==
        key(worker_status{workers::running{t0}}));
  CHECK(key(*status(R"({"phase":"running","since":1800000000})")) ==
        key(worker_status{workers::running{clock::time_point{1800000000s}}}));
  CHECK(key(*status(R"({"phase":"running","since":"1800000000"})")) ==
        key(worker_status{workers::running{clock::time_point{1800000000s}}}));
  // Octez's error objects are kept as their JSON text; unknown members are ignored.
  const auto crashed = status(
      R"({"phase":"crashed","birth":0,"since":1,"errors":["a",{"kind":"permanent"}],"x":1})");
  REQUIRE(crashed.has_value());
  CHECK(std::get<workers::closed>(*crashed).crash_errors ==
        workers::error_list{"a", R"({"kind":"permanent"})"});

  // Errors, by Boost.JSON's codes; the variant's own conversion is not the one used
  // (it would answer exhausted_variants).
  CHECK(status("[]").error() == bj::error::not_object);
  CHECK(status(R"({"since":0})").error() == bj::error::unknown_name);
  CHECK(status(R"({"phase":"sleeping","since":0})").error() == bj::error::unknown_name);
  CHECK(status(R"({"phase":"running"})").error() == bj::error::unknown_name);
  CHECK(status(R"({"phase":3,"since":0})").error() == bj::error::not_string);
  CHECK(status(R"({"phase":"running","since":"yesterday"})").error() ==
        boost::system::errc::invalid_argument);
  CHECK(status(R"({"phase":"running","since":1e300})").error() == bj::error::not_exact);
  CHECK(status(R"({"phase":"crashed","birth":0,"since":0,"errors":"x"})").error() ==
        bj::error::not_array);
  CHECK(bj::try_value_to<workers::request_status>(
            bj::parse(R"({"pushed":0,"treated":"fast","completed":0})"))
            .error() == bj::error::not_number);
  CHECK(
      bj::try_value_to<workers::worker_information>(
          bj::parse(R"({"instances":-1,"status":{"phase":"running","since":0},"queue_length":0})"))
          .error() == bj::error::not_exact);

  // value_to throws system_error naming the member.
  const auto bad_info =
      bj::parse(R"({"instances":1,"status":{"phase":"running","since":true},"queue_length":0})");
  CHECK(contains(thrown([&] { (void)bj::value_to<workers::worker_information>(bad_info); }),
                 "at status.since"));
  CHECK_THROWS_AS(workers::json::information_from(bad_info), boost::system::system_error);
  const auto bad_pending = bj::parse(R"({"status":{"phase":"running","since":0},)"
                                     R"("pending_requests":[{"pushed":0,"request":"a"},)"
                                     R"({"pushed":0,"request":7}]})");
  CHECK(contains(
      thrown([&] { (void)bj::value_to<workers::worker_full_status<std::string>>(bad_pending); }),
      "at pending_requests[1].request"));
  CHECK(bj::try_value_to<workers::worker_full_status<std::string>>(bad_pending).error() ==
        bj::error::not_string);
}

TEST_CASE("json: reads Octez's own full status, backlog included", "[json]") {
  const auto doc = bj::parse(R"({
    "status": {"phase": "running", "since": "2026-11-30T11:20:43.123-00:00"},
    "pending_requests": [{"pushed": "2026-11-30T11:20:45.128-00:00", "request": "add 1"}],
    "backlog": [{"level": "debug", "events": []}],
    "current_request": {"pushed": "2026-11-30T11:20:43.123-00:00",
                        "treated": "2026-11-30T11:20:45.128-00:00", "request": "hold"}})");
  const auto f = bj::value_to<workers::worker_full_status<std::string>>(doc);
  CHECK(key(f) == key(workers::worker_full_status<std::string>{
                      workers::running{t0},
                      {{t1, "add 1"}},
                      workers::active_request<std::string>{t0, t1, "hold"}}));
}

TEST_CASE("json: a live worker's full status and information", "[json]") {
  asio::io_context io;
  auto table = calc::create_table(workers::infinite_queue{});
  run(io, [&]() -> asio::awaitable<void> {
    auto w = co_await launch_ok(table, "json");
    const auto idle = bj::value_from(workers::full_status(w)).as_object();
    CHECK(keys_of(idle) == std::vector<std::string>{"status", "pending_requests"});
    CHECK(idle.at("status").at("phase") == "running");
    CHECK(idle.at("pending_requests").as_array().empty());

    busy_gate gate(io.get_executor());
    workers::push_request_now(w, gate.request());
    co_await gate.entered();
    for (int i = 1; i <= 3; ++i) workers::push_request_now(w, add{i});
    const auto snapshot = workers::full_status(w);
    const auto busy = bj::value_from(snapshot).as_object();
    CHECK(keys_of(busy) ==
          std::vector<std::string>{"status", "pending_requests", "current_request"});
    CHECK(keys_of(busy.at("status").as_object()) == std::vector<std::string>{"phase", "since"});
    const auto& pending = busy.at("pending_requests").as_array();
    REQUIRE(pending.size() == 3);
    for (std::size_t i = 0; i < 3; ++i) {
      CHECK(keys_of(pending[i].as_object()) == std::vector<std::string>{"pushed", "request"});
      CHECK(std::string(pending[i].at("request").as_string()) == fmt::format("add {}", i + 1));
    }
    const auto& current = busy.at("current_request").as_object();
    CHECK(keys_of(current) == std::vector<std::string>{"pushed", "treated", "request"});
    CHECK(current.at("request") == "hold");
    // The snapshot reads back, at the precision written.
    auto at_ms = snapshot;
    const auto ms = [](clock::time_point t) {
      return std::chrono::floor<std::chrono::milliseconds>(t);
    };
    at_ms.status = workers::running{ms(std::get<workers::running>(snapshot.status).since)};
    for (auto& p : at_ms.pending_requests) p.pushed = ms(p.pushed);
    at_ms.current_request->pushed = ms(at_ms.current_request->pushed);
    at_ms.current_request->treated = ms(at_ms.current_request->treated);
    CHECK(key(bj::value_to<workers::worker_full_status<std::string>>(bj::value(busy))) ==
          key(at_ms));

    const auto info = bj::value_from(workers::information(w)).as_object();
    CHECK(keys_of(info) == std::vector<std::string>{"instances", "status", "queue_length"});
    CHECK(info.at("instances") == 1);
    CHECK(info.at("queue_length") == 3);
    gate.open();
    co_await workers::push_request_and_wait(w, add{0});
    co_await workers::shutdown(w);
    const auto closed = bj::value_from(workers::full_status(w)).as_object();
    CHECK(closed.at("status").at("phase") == "closed");
    CHECK(keys_of(closed.at("status").as_object()) ==
          std::vector<std::string>{"phase", "birth", "since"});
  });
}

TEST_CASE("json: a live worker's events from a backlog_sink", "[json]") {
  asio::io_context io;
  auto backlog = std::make_shared<workers::backlog_sink>();
  auto table =
      calc::create_table(workers::infinite_queue{}, workers::table_options{.sink = backlog});
  run(io, [&]() -> asio::awaitable<void> {
    auto w = co_await launch_ok(table, "alice");
    co_await workers::push_request_and_wait(w, add{2});
    fail request{"no"};  // named: see README, "Compilers"
    co_await workers::push_request_and_wait(w, std::move(request));
    co_await workers::shutdown(w);
  });

  std::vector<std::string> names;
  bool saw_request = false, saw_error = false, saw_started = false, saw_terminated = false;
  for (const auto& [lvl, events] : backlog->snapshot()) {
    for (const auto& e : events) {
      const auto jv = bj::value_from(e);
      const auto& o = jv.as_object();
      CHECK(keys_of(o) ==
            std::vector<std::string>{"level", "section", "name", "worker", "time", "fields"});
      CHECK(o.at("level") == bj::string_view(workers::to_string(lvl)));
      CHECK(o.at("section") == bj::array{"test", "calc"});
      CHECK(o.at("name") == bj::string_view(e.name()));
      CHECK(o.at("worker") == "test-calc_alice");
      CHECK(workers::json::parse_time(o.at("time").as_string()) ==
            std::chrono::floor<std::chrono::milliseconds>(e.time));
      const auto& fields = o.at("fields").as_object();
      names.emplace_back(o.at("name").as_string());
      switch (e.kind()) {
        case workers::event_kind::started_for:
          saw_started = true;
          CHECK(fields.at("name") == "alice");
          break;
        case workers::event_kind::request_no_errors:
          if (fields.at("view") == "add 2") {
            saw_request = true;
            CHECK(keys_of(fields) == std::vector<std::string>{"view", "request_status"});
            const auto rs = bj::value_to<workers::request_status>(fields.at("request_status"));
            CHECK(rs.treated >= clock::duration::zero());
          }
          break;
        case workers::event_kind::request_error:
          saw_error = true;
          CHECK(keys_of(fields) == std::vector<std::string>{"view", "request_status", "errors"});
          CHECK(fields.at("view") == "fail no");
          CHECK(fields.at("errors") == "no");
          break;
        case workers::event_kind::terminated:
          saw_terminated = true;
          CHECK(keys_of(fields) == std::vector<std::string>{"report"});
          CHECK(fields.at("report").at("asked") == "abort");
          break;
        default:
          break;
      }
    }
  }
  CHECK(saw_started);
  CHECK(saw_request);
  CHECK(saw_error);
  CHECK(saw_terminated);
  CHECK(std::find(names.begin(), names.end(), "request_test-calc") != names.end());
}

}  // namespace json_tests
