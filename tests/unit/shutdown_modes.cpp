// Shutdown modes (<workers/shutdown_report.hpp>): drain, finish_current and
// abort, their deadline on the worker's clock and its escalation, tightening
// by a second shutdown, the report, shutdown_all and shutdown_guard. Time
// moves only through a manual clock.

#include "support/calc.hpp"
#include "support/catch.hpp"
#include "support/fixture.hpp"

#include <workers/table_shutdown.hpp>
#include <workers/testing.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_future.hpp>

#include <future>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

namespace shutdown_modes_tests {

using namespace test;
using namespace std::chrono_literals;
using boost::system::error_code;
using workers::shutdown_mode;
using workers::shutdown_report;
using workers::testing::manual_clock;
using workers::testing::run_until_idle;

// A calc worker on a manual clock, with the answers of its callers.
template <class Table>
struct clocked {
  asio::io_context io;
  std::shared_ptr<manual_clock> clock = std::make_shared<manual_clock>();
  Table table;
  calc_handlers h;
  typename Table::worker_type w;
  std::vector<std::string> answers;  // in the order the callers were answered

  explicit clocked(Table (*make)(workers::table_options))
      : table(make({.clock = clock})), w(launch_now(io, table, "w", h, test_launch_options())) {
    io.restart();
  }
  // Pushes `r` and logs its caller's answer: the value, or "closed".
  template <class R>
  void push(R r, std::string name) {
    workers::push_request_and_wait(w, std::move(r), [this, name](auto got) {
      answers.push_back(name + (got ? " ok" : got.error().is_closed() ? " closed" : " error"));
    });
  }
  // Shuts down and keeps the report.
  void shut(shutdown_mode mode, std::chrono::steady_clock::duration deadline,
            std::optional<shutdown_report>& out) {
    workers::shutdown(w, mode, deadline, [&out](error_code ec, shutdown_report r) {
      REQUIRE_FALSE(ec);
      out = r;
    });
  }
};

// A hold on `io`, with room for its entered signal and one release.
hold make_hold(asio::io_context& io) { return busy_gate(io.get_executor()).request(); }

calc_table infinite(workers::table_options o) { return make_table(std::move(o)); }
bounded_table bounded_2(workers::table_options o) { return make_bounded_table(2, std::move(o)); }

TEST_CASE("shutdown_modes: drain handles everything accepted, then closes", "[shutdown_modes]") {
  clocked<calc_table> t(infinite);
  for (int i = 0; i < 3; ++i) t.push(add{1}, "add" + std::to_string(i));
  std::optional<shutdown_report> report;
  t.shut(shutdown_mode::drain, workers::no_deadline, report);
  REQUIRE(workers::is_shutting_down(t.w));
  t.push(add{1}, "late");  // refused: the close has begun
  run_until_idle(t.io);
  REQUIRE(t.answers == std::vector<std::string>{"late closed", "add0 ok", "add1 ok", "add2 ok"});
  REQUIRE(report);
  CHECK(report->asked == shutdown_mode::drain);
  CHECK(report->reached == shutdown_mode::drain);
  CHECK(report->handled == 3);
  CHECK(report->answered_closed == 0);
  CHECK_FALSE(report->handler_cut);
  CHECK_FALSE(report->deadline_expired);
  CHECK(report->workers == 1);
}

TEST_CASE(
    "shutdown_modes: finish_current lets the handler in flight end and answers the rest closed",
    "[shutdown_modes]") {
  clocked<calc_table> t(infinite);
  hold gate = make_hold(t.io);
  t.push(gate, "hold");
  run_until_idle(t.io);  // the hold handler is in flight
  t.push(add{1}, "add");
  std::optional<shutdown_report> report;
  t.shut(shutdown_mode::finish_current, workers::no_deadline, report);
  run_until_idle(t.io);
  REQUIRE(t.answers == std::vector<std::string>{"add closed"});
  REQUIRE_FALSE(report);  // the handler has not returned
  gate.release->try_send(error_code{});
  run_until_idle(t.io);
  REQUIRE(t.answers == std::vector<std::string>{"add closed", "hold ok"});
  REQUIRE(report);
  CHECK(report->reached == shutdown_mode::finish_current);
  CHECK(report->handled == 1);
  CHECK(report->answered_closed == 1);
  CHECK_FALSE(report->handler_cut);
}

TEST_CASE("shutdown_modes: abort cuts the handler in flight", "[shutdown_modes]") {
  clocked<calc_table> t(infinite);
  hold gate = make_hold(t.io);
  t.push(gate, "hold");
  run_until_idle(t.io);
  t.push(add{1}, "add");
  std::optional<shutdown_report> report;
  t.shut(shutdown_mode::abort, workers::no_deadline, report);
  run_until_idle(t.io);
  REQUIRE(report);
  REQUIRE(t.answers.size() == 2);
  CHECK(report->reached == shutdown_mode::abort);
  CHECK(report->handled == 0);
  CHECK(report->answered_closed == 2);
  CHECK(report->handler_cut);
}

TEST_CASE("shutdown_modes: a drain's deadline escalates to abort on the worker's clock",
          "[shutdown_modes]") {
  clocked<calc_table> t(infinite);
  hold gate = make_hold(t.io);
  t.push(gate, "hold");
  run_until_idle(t.io);
  t.push(add{1}, "add");
  std::optional<shutdown_report> report;
  t.shut(shutdown_mode::drain, 5s, report);
  run_until_idle(t.io);
  REQUIRE_FALSE(report);
  auto s = workers::status(t.w);
  REQUIRE(std::holds_alternative<workers::closing>(s));
  CHECK(std::get<workers::closing>(s).mode == shutdown_mode::drain);
  CHECK(std::get<workers::closing>(s).deadline == manual_clock::default_wall_start + 5s);
  t.clock->advance(4999ms);
  run_until_idle(t.io);
  REQUIRE_FALSE(report);
  t.clock->advance(1ms);
  run_until_idle(t.io);
  REQUIRE(report);
  // The seal answers what waits; the cut handler's caller, once it returned.
  CHECK(t.answers == std::vector<std::string>{"add closed", "hold closed"});
  CHECK(report->asked == shutdown_mode::drain);
  CHECK(report->reached == shutdown_mode::abort);
  CHECK(report->deadline_expired);
  CHECK(report->handler_cut);
  CHECK(report->handled == 0);
  CHECK(report->answered_closed == 2);
  CHECK(report->took == 5s);
}

TEST_CASE("shutdown_modes: a stronger shutdown tightens a drain, a weaker one never loosens",
          "[shutdown_modes]") {
  clocked<calc_table> t(infinite);
  hold gate = make_hold(t.io);
  t.push(gate, "hold");
  run_until_idle(t.io);
  t.push(add{1}, "add");
  std::optional<shutdown_report> first, second;
  t.shut(shutdown_mode::drain, workers::no_deadline, first);
  run_until_idle(t.io);
  REQUIRE(t.answers.empty());
  t.shut(shutdown_mode::finish_current, workers::no_deadline, second);  // tightens
  run_until_idle(t.io);
  REQUIRE(t.answers == std::vector<std::string>{"add closed"});
  workers::trigger_shutdown(t.w, shutdown_mode::drain);  // weaker: nothing changes
  run_until_idle(t.io);
  REQUIRE(std::get<workers::closing>(workers::status(t.w)).mode == shutdown_mode::finish_current);
  gate.release->try_send(error_code{});
  run_until_idle(t.io);
  REQUIRE(first);
  REQUIRE(second);
  CHECK(*first == *second);
  CHECK(first->asked == shutdown_mode::finish_current);
  CHECK(first->reached == shutdown_mode::finish_current);
  CHECK(first->handled == 1);
}

TEST_CASE("shutdown_modes: an earlier deadline replaces a later one", "[shutdown_modes]") {
  clocked<calc_table> t(infinite);
  hold gate = make_hold(t.io);
  t.push(gate, "hold");
  run_until_idle(t.io);
  std::optional<shutdown_report> report;
  t.shut(shutdown_mode::drain, 10s, report);
  run_until_idle(t.io);
  workers::trigger_shutdown(t.w, shutdown_mode::drain, 2s);
  workers::trigger_shutdown(t.w, shutdown_mode::drain, 30s);  // later: ignored
  run_until_idle(t.io);
  t.clock->advance(2s);
  run_until_idle(t.io);
  REQUIRE(report);
  CHECK(report->deadline_expired);
  CHECK(report->took == 2s);
}

TEST_CASE("shutdown_modes: a drain lets producers waiting for room in", "[shutdown_modes]") {
  clocked<bounded_table> t(bounded_2);
  for (int i = 0; i < 5; ++i) t.push(add{1}, "add" + std::to_string(i));  // 2 queued, 3 wait
  std::optional<shutdown_report> report;
  t.shut(shutdown_mode::drain, workers::no_deadline, report);
  run_until_idle(t.io);
  REQUIRE(report);
  CHECK(t.answers ==
        std::vector<std::string>{"add0 ok", "add1 ok", "add2 ok", "add3 ok", "add4 ok"});
  CHECK(report->handled == 5);
}

TEST_CASE("shutdown_modes: a drain handles a dropbox's slot", "[shutdown_modes]") {
  asio::io_context io;
  auto table = make_dropbox_table();
  calc_handlers h;
  auto w = launch_now(io, table, "d", h, test_launch_options());
  io.restart();
  std::optional<int> got;
  workers::put_request_and_wait(w, add{2}, [&](auto r) {
    if (r)
      got = *r;
    else
      FAIL("closed: " << r.error().is_closed());
  });
  std::optional<shutdown_report> report;
  workers::shutdown(w, shutdown_mode::drain, [&](error_code, shutdown_report r) { report = r; });
  run_until_idle(io);
  REQUIRE(got);
  REQUIRE(report);
  CHECK(report->handled == 1);
}

// on_close keeps its reason.
struct reason_handlers : calc_handlers {
  std::shared_ptr<std::optional<workers::close_reason>> seen =
      std::make_shared<std::optional<workers::close_reason>>();
  template <class W>
  void on_close(W&, const workers::close_reason& why) {
    *seen = why;
  }
};

// An on_close that waits a day.
struct slow_close : calc_handlers {
  std::shared_ptr<std::optional<error_code>> cut = std::make_shared<std::optional<error_code>>();
  template <class W>
  asio::awaitable<void> on_close(W&) {
    asio::steady_timer never(co_await asio::this_coro::executor, std::chrono::hours(24));
    auto [ec] = co_await never.async_wait(asio::as_tuple(asio::use_awaitable));
    *cut = ec;
  }
};

TEST_CASE("shutdown_modes: on_close learns the mode reached", "[shutdown_modes]") {
  asio::io_context io;
  auto table = make_table();
  reason_handlers h;
  auto w = launch_now(io, table, "w", h, test_launch_options());
  io.restart();
  workers::trigger_shutdown(w, shutdown_mode::drain);
  run_until_idle(io);
  REQUIRE(*h.seen);
  CHECK((*h.seen)->mode == shutdown_mode::drain);
  CHECK((*h.seen)->cause == workers::close_cause::shutdown);
}

TEST_CASE("shutdown_modes: the deadline cuts an awaited on_close", "[shutdown_modes]") {
  asio::io_context io;
  auto clock = std::make_shared<manual_clock>();
  auto table = make_table({.clock = clock});
  slow_close h;
  auto w = launch_now(io, table, "w", h, test_launch_options());
  io.restart();
  std::optional<shutdown_report> report;
  workers::shutdown(w, shutdown_mode::abort, 1s,
                    [&](error_code, shutdown_report r) { report = r; });
  run_until_idle(io);
  REQUIRE_FALSE(report);
  clock->advance(1s);
  run_until_idle(io);
  REQUIRE(report);
  REQUIRE(*h.cut);
  CHECK(**h.cut == asio::error::operation_aborted);
  CHECK(report->deadline_expired);
  CHECK(report->handler_cut);
  CHECK(report->reached == shutdown_mode::abort);
}

TEST_CASE("shutdown_modes: shutdown_all closes every worker and sums their reports",
          "[shutdown_modes]") {
  asio::io_context io;
  auto table = make_table();
  calc_handlers h;
  std::vector<calc_worker> ws;
  for (int i = 0; i < 3; ++i) ws.push_back(launch_now(io, table, std::to_string(i), h, {}));
  io.restart();
  int answered = 0;
  for (auto& w : ws)
    for (int i = 0; i < 2; ++i)
      workers::push_request_and_wait(w, add{1}, [&](auto r) { answered += r ? 1 : 0; });
  std::optional<shutdown_report> report;
  workers::shutdown_all(table, shutdown_mode::drain, [&](error_code ec, shutdown_report r) {
    REQUIRE_FALSE(ec);
    report = r;
  });
  run_until_idle(io);
  REQUIRE(report);
  CHECK(answered == 6);
  CHECK(report->workers == 3);
  CHECK(report->handled == 6);
  CHECK(report->reached == shutdown_mode::drain);
  CHECK(table.size() == 0);

  std::optional<shutdown_report> empty;
  // No worker: the handler's own executor (else the system executor's).
  workers::shutdown_all(table, shutdown_mode::abort,
                        asio::bind_executor(io, [&](error_code, shutdown_report r) { empty = r; }));
  io.restart();
  run_until_idle(io);
  REQUIRE(empty);
  CHECK(empty->workers == 0);
}

TEST_CASE("shutdown_modes: a shutdown_guard closes the workers an exception left behind",
          "[shutdown_modes]") {
  asio::io_context io;
  auto table = make_table();
  calc_handlers h;
  try {
    workers::shutdown_guard guard(table);
    for (int i = 0; i < 2; ++i)
      workers::launch(table, io, std::to_string(i), calc_parameters{}, h, {}, [](auto) {});
    throw std::runtime_error("cannot bind the port");
  } catch (const std::runtime_error&) {
  }
  io.run();  // returns: the guard shut the workers down
  CHECK(table.size() == 0);
  CHECK(h.j->closes == 2);  // launched (their on_launch ran first), then closed
}

TEST_CASE("shutdown_modes: shutdown_all on a table whose workers are launching",
          "[shutdown_modes][teardown]") {
  asio::io_context io;
  auto table = make_table();
  calc_handlers h;
  int launched = 0;
  for (int i = 0; i < 3; ++i)
    workers::launch(table, io, std::to_string(i), calc_parameters{}, h, {},
                    [&](auto r) { launched += r ? 1 : 0; });
  std::optional<shutdown_report> report;
  workers::shutdown_all(table, shutdown_mode::drain, 1s,
                        [&](error_code, shutdown_report r) { report = r; });
  run_until_idle(io);
  REQUIRE(report);
  CHECK(report->workers == 3);
  CHECK(launched == 3);  // on_launch had begun: each launch completed, then each worker closed
  CHECK(table.size() == 0);
}

TEST_CASE("shutdown_modes: the context destroyed during a drain abandons who waits",
          "[shutdown_modes][teardown]") {
  std::future<workers::reply_result<hold>> held;
  std::future<workers::reply_result<add>> queued;
  std::future<shutdown_report> closing;
  std::optional<calc_worker> w;
  {
    clocked<calc_table> t(infinite);
    hold gate = make_hold(t.io);
    held = workers::push_request_and_wait(t.w, gate, asio::use_future);
    run_until_idle(t.io);
    queued = workers::push_request_and_wait(t.w, add{1}, asio::use_future);
    closing = workers::shutdown(t.w, shutdown_mode::drain, 10s, asio::use_future);
    run_until_idle(t.io);
    REQUIRE(std::holds_alternative<workers::closing>(workers::status(t.w)));
    w = t.w;
  }  // the io_context, with the drain in progress
  CHECK_THROWS_AS(held.get(), std::future_error);
  CHECK_THROWS_AS(queued.get(), std::future_error);
  CHECK_THROWS_AS(closing.get(), std::future_error);
  const auto s = workers::status(*w);
  REQUIRE(std::holds_alternative<workers::closed>(s));
  CHECK(std::get<workers::closed>(s).crash_errors);
}

TEST_CASE("shutdown_modes: a shutdown made with deferred does nothing until launched",
          "[shutdown_modes][teardown]") {
  clocked<calc_table> t(infinite);
  auto never = workers::shutdown(t.w, shutdown_mode::drain, asio::deferred);
  auto late = workers::shutdown(t.w, shutdown_mode::finish_current, 1s, asio::deferred);
  run_until_idle(t.io);
  REQUIRE(std::holds_alternative<workers::running>(workers::status(t.w)));
  t.push(add{1}, "add");
  std::optional<shutdown_report> first, second;
  t.shut(shutdown_mode::drain, workers::no_deadline, first);
  run_until_idle(t.io);
  REQUIRE(first);
  std::move(late)([&](error_code ec, shutdown_report r) {
    CHECK_FALSE(ec);
    second = r;
  });
  run_until_idle(t.io);
  REQUIRE(second);
  CHECK(*second == *first);  // launched after the close: the report of that close
  CHECK(first->handled == 1);
  (void)never;
}

TEST_CASE(
    "shutdown_modes: hooks that throw during a drain: the close goes on, every caller answered",
    "[shutdown_modes][teardown]") {
  asio::io_context io;
  auto table = make_table();
  calc_handlers h;
  std::optional<calc_worker> w;
  workers::launch(table, io, "w", calc_parameters{.throw_on_close = true}, h, {},
                  [&](auto r) { w = r.value(); });
  run_until_idle(io);
  REQUIRE(w);
  io.restart();
  std::vector<std::string> answers;
  for (auto r : {calc_any{add{1}}, calc_any{boom{}}, calc_any{add{2}}})
    std::visit(
        [&](auto req) {
          workers::push_request_and_wait(*w, std::move(req), [&](auto got) {
            answers.push_back(got ? "ok" : got.error().is_closed() ? "closed" : "error");
          });
        },
        r);
  std::optional<shutdown_report> report;
  workers::shutdown(*w, shutdown_mode::drain, [&](error_code ec, shutdown_report r) {
    CHECK_FALSE(ec);
    report = r;
  });
  run_until_idle(io);
  // The boom crashes the drain into an abort: the add behind it is answered closed.
  CHECK(answers == std::vector<std::string>{"ok", "error", "closed"});
  REQUIRE(report);
  CHECK(report->asked == shutdown_mode::drain);
  CHECK(report->reached == shutdown_mode::abort);
  CHECK(report->handled == 2);
  CHECK(report->answered_closed == 1);
  const auto s = workers::status(*w);
  REQUIRE(std::holds_alternative<workers::closed>(s));
  const auto& errors = std::get<workers::closed>(s).crash_errors;
  REQUIRE(errors);
  CHECK(errors->size() == 2);  // the handler's throw, then on_close's
  CHECK(h.j->closes == 1);
}

}  // namespace shutdown_modes_tests
