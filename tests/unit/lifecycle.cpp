// Launch, tables, status, state and shutdown.

#include "support/calc.hpp"
#include "support/catch.hpp"
#include "support/run.hpp"

#include <workers/testing.hpp>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>

#include <future>
#include <list>
#include <string>
#include <vector>

// Named, so that the unity build keeps each file's helpers apart.
namespace lifecycle_tests {

using namespace test;
using namespace std::chrono_literals;
using boost::system::error_code;
using workers::errc;
using workers::testing::manual_clock;
using workers::testing::run_for;
using workers::testing::run_until_idle;

TEST_CASE("launch: runs on_launch, registers the worker by name, status is running",
          "[lifecycle]") {
  asio::io_context io;
  auto table = make_table();
  run(io, [&]() -> asio::awaitable<void> {
    calc_handlers h;
    auto w = co_await launch_ok(table, "a", h, {.initial = 7});
    REQUIRE(std::holds_alternative<workers::running>(workers::status(w)));
    REQUIRE(w.full_name() == "test-calc_a");
    REQUIRE(table.size() == 1);
    auto found = workers::find_opt(table, "a");
    REQUIRE(found);
    REQUIRE(*found == w);
    REQUIRE_FALSE(workers::find_opt(table, "b"));
    auto all = workers::list(table);
    REQUIRE(all.size() == 1);
    REQUIRE(all[0].first == "a");
    auto s = co_await workers::with_state(w, [](int& state) { return state; });
    REQUIRE(s == 7);
    REQUIRE(h.j->snapshot() == std::vector<std::string>{"launch a"});
    co_await workers::shutdown(w);
  });
}

TEST_CASE("launch: a launch's post to the new strand rides in its reply's room", "[lifecycle]") {
  // Launches made before their context runs are all alive at once, and each
  // block one frees when it completes leaves a hole in the heap. The strand's
  // operation and the strand's invoker ride in the reply's one block; before,
  // they took two blocks of the thread's operation cache per launch.
  asio::io_context io;
  auto table = make_table();
  calc_handlers h;
  const auto& cache = workers::detail::op_block_cache::local();
  const std::size_t out_before = cache.out();
  std::vector<calc_worker> ws;
  for (int i = 0; i < 8; ++i)
    workers::launch(table, io, "w" + std::to_string(i), calc_parameters{}, h,
                    [&ws](auto r) { ws.push_back(r.value()); });
  CHECK(cache.out() == out_before);
  while (ws.size() < 8 && io.poll() != 0) {
  }
  REQUIRE(ws.size() == 8);
  for (const auto& w : ws) workers::trigger_shutdown(w);
  io.run();
  CHECK(table.size() == 0);
}

TEST_CASE("launch: a name live in the table is rejected with an error naming the worker",
          "[lifecycle]") {
  asio::io_context io;
  auto table = make_table();
  run(io, [&]() -> asio::awaitable<void> {
    auto w = co_await launch_ok(table, "dup");
    calc_handlers other;
    auto again =
        co_await workers::launch(table, io.get_executor(), "dup", calc_parameters{}, other);
    REQUIRE_FALSE(again.has_value());
    REQUIRE(again.error().code == errc::name_taken);
    REQUIRE(again.error().message.find("test-calc_dup") != std::string::npos);
    REQUIRE(table.size() == 1);
    co_await workers::shutdown(w);
    // Once closed, the name is free again.
    auto third = co_await launch_ok(table, "dup");
    co_await workers::shutdown(third);
  });
}

TEST_CASE("launch: a failed launch returns the handlers' error and leaves no trace",
          "[lifecycle]") {
  asio::io_context io;
  auto table = make_table();
  run(io, [&]() -> asio::awaitable<void> {
    calc_handlers h;
    auto r = co_await workers::launch(table, io.get_executor(), "f",
                                      calc_parameters{.fail_launch = true}, h);
    REQUIRE_FALSE(r.has_value());
    REQUIRE(r.error().code == errc::launch_failed);
    REQUIRE(r.error().error == std::optional<std::string>("refused"));
    REQUIRE(r.error().message.find("test-calc_f") != std::string::npos);
    REQUIRE(table.size() == 0);
    REQUIRE_FALSE(workers::find_opt(table, "f"));
    REQUIRE(h.j->closes == 0);  // it never ran, so it does not close
    auto w = co_await launch_ok(table, "f");
    co_await workers::shutdown(w);
  });
}

struct self_pushing : calc_handlers {
  workers::result<int, std::string> on_launch(calc_worker& self, const std::string&,
                                              const calc_parameters& p) {
    // During on_launch there is no state yet, and the queue already accepts pushes.
    j->log(workers::state_opt(self) == nullptr ? "no state yet" : "state?");
    workers::push_request_now(self, add{5});
    return p.initial;
  }
};
struct throwing_launch : calc_handlers {
  workers::result<int, std::string> on_launch(calc_worker&, const std::string&,
                                              const calc_parameters&) {
    throw std::runtime_error("cannot start");
  }
};
struct async_launch : calc_handlers {
  asio::awaitable<int> on_launch(calc_worker&, const std::string&, const calc_parameters& p) {
    // Suspends once: the launch completes only after this coroutine resumes.
    co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
    co_return p.initial + 1;
  }
};

TEST_CASE("launch: on_launch may push requests to its own worker", "[lifecycle]") {
  asio::io_context io;
  auto table = make_table();
  run(io, [&]() -> asio::awaitable<void> {
    self_pushing h;
    auto r =
        co_await workers::launch(table, io.get_executor(), "p", calc_parameters{.initial = 10}, h);
    REQUIRE(r.has_value());
    auto sum = co_await workers::push_request_and_wait(*r, add{0});
    REQUIRE(*sum == 15);
    REQUIRE(h.j->snapshot().at(0) == "no state yet");
    co_await workers::shutdown(*r);
  });
}

TEST_CASE("launch: an on_launch that throws fails the launch with the exception", "[lifecycle]") {
  asio::io_context io;
  auto table = make_table();
  run(io, [&]() -> asio::awaitable<void> {
    throwing_launch h;
    auto r = co_await workers::launch(table, io.get_executor(), "t", calc_parameters{}, h);
    REQUIRE_FALSE(r.has_value());
    REQUIRE(r.error().code == errc::handler_exception);
    REQUIRE(r.error().exception);
    REQUIRE(r.error().message.find("cannot start") != std::string::npos);
    REQUIRE(table.size() == 0);
  });
}

TEST_CASE("launch: an awaitable on_launch, a deferred token and a future token work",
          "[lifecycle]") {
  asio::io_context io;
  auto table = make_table();
  run(io, [&]() -> asio::awaitable<void> {
    async_launch h;
    auto op = workers::launch(table, io.get_executor(), "c", calc_parameters{.initial = 1}, h,
                              asio::deferred);
    auto r = co_await std::move(op)(asio::use_awaitable);
    REQUIRE(r.has_value());
    auto sum = co_await workers::push_request_and_wait(*r, add{0}, asio::deferred);
    REQUIRE(*sum == 2);
    co_await workers::shutdown(*r, asio::deferred);
  });
  // From a plain thread, with a future.
  asio::io_context io2;
  auto guard = asio::make_work_guard(io2);
  std::thread runner([&] { io2.run(); });
  auto fut = workers::launch(table, io2.get_executor(), "f", calc_parameters{.initial = 3},
                             calc_handlers{}, asio::use_future);
  auto w = fut.get();
  REQUIRE(w.has_value());
  REQUIRE(*workers::push_request_and_wait(*w, add{4}, asio::use_future).get() == 7);
  workers::shutdown(*w, asio::use_future).get();
  guard.reset();
  runner.join();
}

TEST_CASE("shutdown: running → closing → closed, on_close once, leaves the table, state dropped",
          "[lifecycle]") {
  asio::io_context io;
  auto table = make_table();
  calc_handlers h;
  calc_worker w;
  run(io, [&]() -> asio::awaitable<void> {
    w = co_await launch_ok(table, "s", h);
    busy_gate gate(io.get_executor());
    workers::push_request_now(w, gate.request());
    co_await gate.entered();
    workers::trigger_shutdown(w);
    REQUIRE(workers::is_shutting_down(w));
    // The handler in flight holds the close back until it is cancelled, so closing is visible.
    const auto st = workers::status(w);
    REQUIRE((std::holds_alternative<workers::closing>(st) ||
             std::holds_alternative<workers::closed>(st)));
    co_await workers::wait_for_completion(w);
  });
  const auto st = workers::status(w);
  REQUIRE(std::holds_alternative<workers::closed>(st));
  REQUIRE_FALSE(std::get<workers::closed>(st).crash_errors);
  REQUIRE(h.j->closes == 1);
  REQUIRE(table.size() == 0);
  REQUIRE_THROWS_AS(workers::state(w), std::logic_error);
  REQUIRE(workers::state_opt(w) == nullptr);
  // A second shutdown of a closed worker completes at once and changes nothing.
  asio::io_context io2;
  run(io2, [&]() -> asio::awaitable<void> { co_await workers::shutdown(w); });
  REQUIRE(h.j->closes == 1);
}

TEST_CASE("shutdown: called from inside a handler it completes at once, no deadlock",
          "[lifecycle]") {
  asio::io_context io;
  auto table = make_table();
  calc_handlers h;
  run(io, [&]() -> asio::awaitable<void> {
    auto w = co_await launch_ok(table, "in", h);
    auto r = co_await workers::push_request_and_wait(w, stop_self{});
    REQUIRE(r.has_value());  // the handler that asked for its worker's end is not cancelled
    co_await workers::wait_for_completion(w);
    REQUIRE(std::holds_alternative<workers::closed>(workers::status(w)));
  });
  REQUIRE(h.j->snapshot() ==
          std::vector<std::string>{"launch in", "stop_self returned", "done stop_self", "close"});
}

TEST_CASE(
    "wait_for_completion: completes when the worker closes, at once if closed, and is "
    "cancellable",
    "[lifecycle]") {
  asio::io_context io;
  auto table = make_table();
  calc_handlers h;
  std::optional<calc_worker> w;
  workers::launch(table, io, "wait", calc_parameters{}, h,
                  [&](auto r) { w.emplace(std::move(r).value()); });
  run_until_idle(io);
  REQUIRE(w);
  // A caller who stops waiting gets operation_aborted, at once; the worker runs on.
  int aborted = 0, other = 0;
  const auto waiter = [&](boost::system::error_code ec) {
    ++(ec == asio::error::operation_aborted ? aborted : other);
  };
  int given_up = 0;
  for (auto type : {asio::cancellation_type::terminal, asio::cancellation_type::partial,
                    asio::cancellation_type::total}) {
    asio::cancellation_signal give_up;
    workers::wait_for_completion(*w, asio::bind_cancellation_slot(give_up.slot(), waiter));
    run_until_idle(io);
    CHECK(aborted == given_up);  // still waiting
    give_up.emit(type);
    run_until_idle(io);
    CHECK(aborted == ++given_up);
  }
  CHECK(aborted == 3);
  CHECK(other == 0);
  REQUIRE(std::holds_alternative<workers::running>(workers::status(*w)));
  // Many abandoned waits must not pile up: each is answered once, none later.
  std::list<asio::cancellation_signal> signals;  // each outlives its wait's completion
  for (int i = 0; i < 50; ++i) {
    auto& give_up = signals.emplace_back();
    workers::wait_for_completion(*w, asio::bind_cancellation_slot(give_up.slot(), waiter));
    give_up.emit(asio::cancellation_type::terminal);
  }
  run_until_idle(io);
  CHECK(aborted == 53);
  // One that waits on is answered by the close, with success.
  int completed = 0;
  workers::wait_for_completion(*w,
                               [&](boost::system::error_code ec) { completed += !ec ? 1 : 100; });
  workers::trigger_shutdown(*w);
  run_until_idle(io);
  CHECK(completed == 1);
  CHECK(aborted == 53);  // the abandoned waits were not answered again by the close
  CHECK(other == 0);
  workers::wait_for_completion(*w,
                               [&](boost::system::error_code ec) { completed += !ec ? 1 : 100; });
  run_until_idle(io);
  CHECK(completed == 2);  // closed already: completes at once
  REQUIRE(h.j->closes == 1);
}

TEST_CASE("canceler: hooks run once when the worker closes, and at once afterwards",
          "[lifecycle]") {
  asio::io_context io;
  auto table = make_table();
  int before = 0, after = 0;
  run(io, [&]() -> asio::awaitable<void> {
    auto w = co_await launch_ok(table, "cx");
    auto c = workers::canceler(w);
    c.on_cancel([&] { ++before; });
    REQUIRE_FALSE(c.canceled());
    REQUIRE(before == 0);
    co_await workers::shutdown(w);
    REQUIRE(c.canceled());
    REQUIRE(before == 1);
    workers::canceler(w).on_cancel([&] { ++after; });
    REQUIRE(after == 1);
  });
  REQUIRE(before == 1);
}

// Logs when on_no_request runs, in ms of the clock since its launch.
struct idle_log : calc_handlers {
  std::shared_ptr<manual_clock> clock;
  workers::steady_clock::time_point start = clock->steady_now();
  std::shared_ptr<std::vector<double>> at = std::make_shared<std::vector<double>>();
  explicit idle_log(std::shared_ptr<manual_clock> c) : clock(std::move(c)) {}
  void on_no_request(calc_worker&) {
    at->push_back(std::chrono::duration<double, std::milli>(clock->steady_now() - start).count());
  }
};

TEST_CASE("timeout: on_no_request runs after the idle timeout, not while requests flow",
          "[lifecycle]") {
  asio::io_context io;
  auto clock = std::make_shared<manual_clock>();
  auto table = make_table({.clock = clock});
  idle_log h(clock);
  auto options = test_launch_options();
  options.timeout = 40ms;
  std::optional<calc_worker> w;
  workers::launch(table, io, "idle", calc_parameters{}, h, options,
                  [&](auto r) { w.emplace(std::move(r).value()); });
  run_until_idle(io);
  REQUIRE(w);
  run_for(io, *clock, 40ms - 1ns);
  CHECK(h.at->empty());  // idle since the launch, 1 ns short of the timeout
  run_for(io, *clock, 1ns);
  CHECK(*h.at == std::vector<double>{40});
  run_for(io, *clock, 50ms);  // to 90 ms: again 40 ms after the last on_no_request
  CHECK(*h.at == std::vector<double>{40, 80});
  // Requests every 10 ms from 90 to 190 ms: each restarts the idle time.
  for (int i = 0; i <= 10; ++i) {
    std::optional<int> sum;
    workers::push_request_and_wait(*w, add{1}, [&](workers::reply_result<add> r) { sum = *r; });
    run_until_idle(io);
    REQUIRE(sum == i + 1);
    if (i < 10) run_for(io, *clock, 10ms);
  }
  CHECK(*h.at == std::vector<double>{40, 80});
  run_for(io, *clock, 40ms);  // 40 ms after the last request (190 ms), not at 120 or 200
  CHECK(*h.at == std::vector<double>{40, 80, 230});
  bool closed = false;
  workers::shutdown(*w, [&](error_code) { closed = true; });
  run_until_idle(io);
  REQUIRE(closed);
  CHECK(clock->pending_timers() == 0);  // the close cancelled the idle timer
}

TEST_CASE("lifecycle: an idle worker keeps run() going until it closes, like a pending operation",
          "[lifecycle]") {
  asio::io_context io;
  auto table = make_table();
  calc_handlers h;
  auto launched =
      workers::launch(table, io.get_executor(), "idle", calc_parameters{}, h, asio::use_future);
  std::thread runner([&] { io.run(); });
  auto w = launched.get().value();
  // Between these calls the worker is idle with nothing queued: run() must not return.
  for (int i = 0; i < 3; ++i) {
    auto state = workers::with_state(
        w, [](int& s) { return s; }, asio::use_future);
    REQUIRE(state.wait_for(watchdog) == std::future_status::ready);
    auto r = workers::push_request_and_wait(w, add{1}, asio::use_future);
    REQUIRE(r.wait_for(watchdog) == std::future_status::ready);
    REQUIRE(r.get().value() == i + 1);
  }
  workers::trigger_shutdown(w);
  runner.join();  // returns once the worker has closed
  REQUIRE(table.size() == 0);
  REQUIRE(h.j->closes == 1);
}

TEST_CASE("launch: value() of a failed launch throws system_error naming the worker",
          "[lifecycle]") {
  asio::io_context io;
  auto table = make_table();
  calc_handlers h;
  calc_parameters refuse;
  refuse.fail_launch = true;
  auto launched = workers::launch(table, io.get_executor(), "no", refuse, h, asio::use_future);
  io.run();
  auto r = launched.get();
  try {
    (void)r.value();
    FAIL("value() did not throw");
  } catch (const boost::system::system_error& e) {
    REQUIRE(e.code() == errc::launch_failed);
    REQUIRE(std::string(e.what()).find("test-calc_no") != std::string::npos);
  }
}

// Shutdown from code on the worker's strand that is none of its handlers.
// What the child worker saw of its parent from inside its handler.
struct parent_report {
  calc_worker parent;
  bool parent_strand_here = false;
  bool state_passed = false;
  bool shutdown_returned = false;
  std::optional<workers::worker_status> status_after_shutdown;
};

// The child: shuts its parent down from inside its own handler.
struct child_handlers : calc_handlers {
  std::shared_ptr<parent_report> report = std::make_shared<parent_report>();

  asio::awaitable<workers::result<workers::unit, std::string>> on_request(calc_worker&,
                                                                          const stop_self&) {
    auto& r = *report;
    r.parent_strand_here = r.parent.get_executor().running_in_this_thread();
    try {
      (void)workers::state(r.parent);
      r.state_passed = true;
    } catch (const std::logic_error&) {
    }
    co_await workers::shutdown(r.parent);
    r.shutdown_returned = true;
    r.status_after_shutdown = workers::status(r.parent);
    co_return workers::unit{};
  }
  using calc_handlers::on_request;
};

// The parent: launches the child from inside its handler, on the handler's executor.
struct parent_handlers : calc_handlers {
  std::shared_ptr<calc_table> table = std::make_shared<calc_table>(make_table());
  std::shared_ptr<std::optional<calc_worker>> child =
      std::make_shared<std::optional<calc_worker>>();
  child_handlers for_child;

  asio::awaitable<workers::result<workers::unit, std::string>> on_request(calc_worker&,
                                                                          const stop_self&) {
    auto ex = co_await asio::this_coro::executor;  // the executor of this handler
    std::string name = "child";
    calc_parameters p;
    auto r = co_await workers::launch(*table, ex, std::move(name), p, for_child);
    *child = r.value();
    co_return workers::unit{};
  }
  using calc_handlers::on_request;
};

TEST_CASE(
    "lifecycle: a worker launched on another worker's handler executor does not share its "
    "strand: shutting that other worker down from it waits for its close",
    "[lifecycle]") {
  asio::io_context io;
  auto table = make_table();
  parent_handlers h;
  calc_worker parent, child;
  parent_report child_report;
  run(io, [&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    std::string name = "parent";
    calc_parameters p;
    auto launched = co_await workers::launch(table, ex, std::move(name), p, h);
    parent = launched.value();
    // The parent's handler launches the child with `co_await asio::this_coro::executor`
    // (the same executor as `self.get_executor()`).
    auto made = co_await workers::push_request_and_wait(parent, stop_self{});
    REQUIRE(made.has_value());
    REQUIRE(*h.child);
    child = **h.child;
    h.for_child.report->parent = parent;

    // The parent is busy, suspended in an awaitable handler: its strand is free.
    busy_gate gate(ex);
    workers::push_request_now(parent, gate.request());
    co_await gate.entered();
    // The child's handler shuts the parent down and waits for it.
    bool child_answered = co_await completes_within(
        workers::push_request_and_wait(child, stop_self{}, asio::use_awaitable));
    const auto parent_status = workers::status(parent);
    gate.open();  // lets the parent's handler return if the close did not cancel it
    co_await workers::shutdown(parent);
    co_await workers::shutdown(child);
    // The handles the handlers hold form a cycle (parent -> child -> parent): break it.
    h.child->reset();
    child_report = *h.for_child.report;
    h.for_child.report->parent = calc_worker{};
    REQUIRE(child_answered);
    INFO("parent status when the child's shutdown(parent) completed: "
         << (h.for_child.report->status_after_shutdown
                 ? fmt::format("{}", *h.for_child.report->status_after_shutdown)
                 : std::string("-"))
         << "; when the child was answered: " << fmt::format("{}", parent_status));
    const auto& r = child_report;
    CHECK_FALSE(r.parent_strand_here);
    CHECK_FALSE(r.state_passed);  // state(parent) from the child: off the parent's strand
    REQUIRE(r.shutdown_returned);
    REQUIRE(r.status_after_shutdown);
    CHECK(std::holds_alternative<workers::closed>(*r.status_after_shutdown));
  });
  REQUIRE(table.size() == 0);
  REQUIRE(h.table->size() == 0);
}

TEST_CASE("shutdown: called from a plain completion on the worker's strand, it waits for the close",
          "[lifecycle]") {
  asio::io_context io;
  auto table = make_table();
  calc_handlers h;
  std::optional<workers::worker_status> status_at_completion;
  run(io, [&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto w = co_await launch_ok(table, "plain-callback", h);
    busy_gate gate(ex);
    workers::push_request_now(w, gate.request());
    co_await gate.entered();  // busy in a suspended handler
    auto done = std::make_shared<gate_channel>(ex, 1);
    // A plain callback with no executor completes on the worker's strand; it is
    // none of the worker's handlers, so its shutdown must wait for the close.
    workers::with_state(
        w, [](int&) {},
        [&status_at_completion, w, done](std::exception_ptr, bool) {
          workers::shutdown(w, [&status_at_completion, w, done](error_code) {
            status_at_completion = workers::status(w);
            done->try_send(error_code{});
          });
        });
    bool completed = co_await completes_within(done->async_receive(asio::use_awaitable));
    gate.open();  // lets the handler return if the close did not cancel it
    co_await workers::wait_for_completion(w);
    REQUIRE(completed);
  });
  REQUIRE(status_at_completion);
  INFO("status when shutdown completed: " << fmt::format("{}", *status_at_completion));
  CHECK(std::holds_alternative<workers::closed>(*status_at_completion));
}

}  // namespace lifecycle_tests
