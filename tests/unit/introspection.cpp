// Introspection (<workers/introspection.hpp>): current and pending requests
// of a busy worker, information(), and on a manual clock the exact push and
// take stamps and each request's request_status.

#include "support/calc.hpp"
#include "support/catch.hpp"
#include "support/fixture.hpp"
#include "support/run.hpp"

#include <workers/sinks.hpp>
#include <workers/testing.hpp>

#include <chrono>
#include <ctime>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

// Named, so that the unity build keeps each file's helpers apart.
namespace introspection_tests {

using namespace test;
using namespace std::chrono_literals;
using workers::testing::manual_clock;
using workers::testing::run_until_idle;

TEST_CASE_METHOD(calc_fixture,
                 "introspection: current and pending requests while the worker is busy",
                 "[introspection]") {
  run(io, [&]() -> asio::awaitable<void> {
    REQUIRE_FALSE(workers::current_request(w));
    busy_gate gate(io.get_executor());
    const auto before = workers::clock::now();
    workers::push_request_now(w, gate.request());
    co_await gate.entered();
    for (int i = 1; i <= 3; ++i) workers::push_request_now(w, add{i});
    auto current = workers::current_request(w);
    REQUIRE(current);
    REQUIRE(current->view == "hold");
    REQUIRE(current->pushed >= before);
    REQUIRE(current->treated >= current->pushed);
    auto pending = workers::pending_requests(w);
    REQUIRE(pending.size() == 3);
    for (int i = 0; i < 3; ++i) REQUIRE(pending[i].view == fmt::format("add {}", i + 1));
    REQUIRE(pending[0].pushed <= pending[2].pushed);
    REQUIRE(workers::pending_requests_length(w) == 3);
    auto info = workers::information(w);
    REQUIRE(info.queue_length == 3);
    REQUIRE(info.instances_number == 1);
    REQUIRE(std::holds_alternative<workers::running>(info.status));
    gate.open();
    auto got12 = co_await workers::push_request_and_wait(w, add{0});
    REQUIRE(*got12 == 6);
    REQUIRE(workers::pending_requests_length(w) == 0);
    co_await workers::shutdown(w);
  });
}

// Keeps each request's status, as on_completion gets it.
struct status_log : calc_handlers {
  using done_type = std::vector<std::pair<std::string, workers::request_status>>;
  std::shared_ptr<done_type> done = std::make_shared<done_type>();
  template <class W, class R>
  void on_completion(W&, const R& r, const typename R::result_type&,
                     const workers::request_status& st) {
    done->emplace_back(calc_requests::view(r), st);
  }
};

TEST_CASE("introspection: on a manual clock, push and take stamps and request_status are exact",
          "[introspection]") {
  asio::io_context io;
  auto clock = std::make_shared<manual_clock>();
  auto table = make_table({.clock = clock});
  status_log h;
  std::optional<calc_worker> launched;
  workers::launch(table, io, "stamps", calc_parameters{}, h, test_launch_options(),
                  [&](auto r) { launched.emplace(std::move(r).value()); });
  run_until_idle(io);
  REQUIRE(launched);
  const calc_worker w = *launched;
  const auto w0 = manual_clock::default_wall_start;
  CHECK(std::get<workers::running>(workers::status(w)).since == w0);

  clock->advance(2ms);
  const auto t = w0 + 2ms;
  busy_gate first(io.get_executor()), measured(io.get_executor());
  workers::push_request_now(w, first.request());  // taken at once, at t
  run_until_idle(io);
  workers::push_request_now(w, measured.request());  // pushed at t
  clock->advance(1ms);
  workers::push_request_now(w, add{1});  // pushed at t + 1 ms
  clock->advance(2ms);
  auto current = workers::current_request(w);
  REQUIRE(current);
  CHECK(current->pushed == t);
  CHECK(current->treated == t);
  auto pending = workers::pending_requests(w);
  REQUIRE(pending.size() == 2);
  CHECK(pending[0].pushed == t);
  CHECK(pending[0].view == "hold");
  CHECK(pending[1].pushed == t + 1ms);
  CHECK(pending[1].view == "add 1");

  first.open();  // at t + 3 ms: the measured hold is taken
  run_until_idle(io);
  const auto full = workers::full_status(w);
  REQUIRE(full.current_request);
  CHECK(full.current_request->view == "hold");
  CHECK(full.current_request->pushed == t);
  CHECK(full.current_request->treated == t + 3ms);
  REQUIRE(full.pending_requests.size() == 1);
  CHECK(full.pending_requests[0].pushed == t + 1ms);

  clock->advance(5ms);
  measured.open();  // handled in 5 ms; add 1 is taken at t + 8 ms
  run_until_idle(io);
  CHECK(!workers::current_request(w));
  REQUIRE(h.done->size() == 3);
  const auto& [first_view, first_status] = (*h.done)[0];
  CHECK(first_view == "hold");
  CHECK(first_status.pushed == t);
  CHECK(first_status.treated == 0ns);
  CHECK(first_status.completed == 3ms);
  const auto& [view, status] = (*h.done)[1];
  CHECK(view == "hold");
  CHECK(status.pushed == t);
  CHECK(status.treated == 3ms);
  CHECK(status.completed == 5ms);
  const auto& [add_view, add_status] = (*h.done)[2];
  CHECK(add_view == "add 1");
  CHECK(add_status.pushed == t + 1ms);
  CHECK(add_status.treated == 7ms);
  CHECK(add_status.completed == 0ns);

  clock->advance(1s);
  shut_down(io, w);
  const auto st = std::get<workers::closed>(workers::status(w));
  CHECK(st.born == w0);
  CHECK(st.since == t + 8ms + 1s);
}

// Push and take times: the kernel tick's resolution unless something measures
// the requests (status.hpp). 50 pushes in a row, the worker not running:
// read coarsely they share one or two ticks' times; precisely, nearly all differ.
struct tick_name {
  static constexpr std::string_view base[] = {"ticks"};
  using type = int;
};
struct tick {
  using result_type = int;
  using error_type = int;
  int v;
};
struct tick_requests {
  using types = workers::request_types<tick>;
  using view_type = int;
  static int view(const tick& t) { return t.v; }
};
struct tick_types {
  using state_type = int;
  using parameters_type = int;
  using view_type = int;
  static int view(const int& s, const int&) { return s; }
};
using tick_group = workers::make_single<tick_name, tick_requests, tick_types>;
struct unmeasured {
  template <class S>
  workers::result<int, int> on_request(S&, const tick& t) {
    return {boost::system::in_place_value, t.v};
  }
};
struct reads_status : unmeasured {
  template <class S>
  void on_completion(S&, const tick&, const int&, const workers::request_status&) {}
};

template <class H>
std::size_t distinct_push_times(H handlers, workers::table_options options = {}) {
  asio::io_context io;
  auto table = tick_group::create_table(workers::infinite_queue{}, std::move(options));
  std::optional<tick_group::worker<workers::queue<workers::infinite>>> w;
  workers::launch(table, io, 0, 0, handlers, [&](auto r) { w.emplace(std::move(r).value()); });
  run_until_idle(io);
  REQUIRE(w);
  for (int i = 0; i < 50; ++i) workers::push_request_now(*w, tick{i});
  std::set<workers::clock::time_point> times;
  for (const auto& p : workers::pending_requests(*w)) times.insert(p.pushed);
  shut_down(io, *w);
  return times.size();
}

TEST_CASE("introspection: push times are coarse unless the requests are measured",
          "[introspection]") {
#ifdef CLOCK_MONOTONIC_COARSE
  CHECK(distinct_push_times(unmeasured{}) <= 5);  // a tick or two, a preemption or two
#endif
  CHECK(distinct_push_times(reads_status{}) >= 40);
  CHECK(distinct_push_times(unmeasured{}, {.metrics = true}) >= 40);
  CHECK(distinct_push_times(unmeasured{}, {.sink = std::make_shared<workers::backlog_sink>()}) >=
        40);
}

// A default sink that wants debug events makes stamps precise while it is
// installed: a request pushed then (precise) and taken after it is gone
// (coarse, up to a tick behind) is still never taken before its push.
struct records_take : unmeasured {
  std::optional<workers::active_request<int>>* seen;
  template <class S>
  workers::result<int, int> on_request(S& self, const tick& t) {
    *seen = workers::current_request(self);
    return {boost::system::in_place_value, t.v};
  }
};

TEST_CASE("introspection: a take is never stamped before its push, whatever each read's precision",
          "[introspection]") {
  asio::io_context io;
  auto table = tick_group::create_table(workers::infinite_queue{});
  std::optional<workers::active_request<int>> seen;
  std::optional<tick_group::worker<workers::queue<workers::infinite>>> w;
  workers::launch(table, io, 0, 0, records_take{{}, &seen},
                  [&](auto r) { w.emplace(std::move(r).value()); });
  run_until_idle(io);
  REQUIRE(w);
  workers::set_default_sink(std::make_shared<workers::backlog_sink>());
  workers::push_request_now(*w, tick{1});
  workers::set_default_sink({});
  run_until_idle(io);
  REQUIRE(seen);
  CHECK(seen->treated >= seen->pushed);
  shut_down(io, *w);
}

}  // namespace introspection_tests
