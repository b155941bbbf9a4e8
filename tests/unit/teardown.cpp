// What a destroyed execution context does to its workers: they are abandoned,
// as Asio abandons pending operations, and nothing that outlives the context
// (a handle, a caller's cancellation signal, a table) refers to it afterwards.

#include "support/calc.hpp"
#include "support/catch.hpp"
#include "support/run.hpp"

#include <workers/testing.hpp>

#include <atomic>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <vector>

// Named, so that the unity build keeps each file's helpers apart.
namespace teardown_tests {

using namespace test;
using namespace std::chrono_literals;
using boost::system::error_code;

TEST_CASE("teardown: destroying the io_context with live workers and waiting callers is clean",
          "[teardown]") {
  auto table = make_table();
  calc_handlers h;
  calc_worker busy, idle;
  std::future<workers::reply_result<add>> queued;
  {
    asio::io_context io;
    run(io, [&]() -> asio::awaitable<void> {
      busy = co_await launch_ok(table, "busy", h);
      idle = co_await launch_ok(table, "idle");
      busy_gate gate(io.get_executor());
      workers::push_request_now(busy, gate.request());
      co_await gate.entered();  // busy is suspended in an awaitable handler
      queued = workers::push_request_and_wait(busy, add{1}, asio::use_future);
    });
    REQUIRE(table.size() == 2);
  }  // no shutdown: the context dies with a handler in flight, a queued caller and a parked loop
  REQUIRE(table.size() == 0);
  for (const auto* w : {&busy, &idle}) {
    const auto st = workers::status(*w);
    REQUIRE(std::holds_alternative<workers::closed>(st));
    REQUIRE(std::get<workers::closed>(st).crash_errors->at(0).find("abandoned") !=
            std::string::npos);
  }
  // The queued caller was abandoned with the context, as Asio abandons pending operations.
  REQUIRE_THROWS_AS(queued.get(), std::future_error);
  REQUIRE(h.j->closes == 0);
  // A push to a worker whose context is gone is refused.
  REQUIRE_FALSE(workers::push_request_now(idle, add{1}));
}

TEST_CASE("teardown: destroying the io_context with a dropbox holding merged and unmerged puts",
          "[teardown][dropbox]") {
  auto table = make_dropbox_table();
  calc_handlers h;
  dropbox_worker w;
  std::vector<std::future<workers::reply_result<add>>> callers;
  {
    asio::io_context io;
    run(io, [&]() -> asio::awaitable<void> {
      w = co_await launch_as<dropbox_worker>(table, "d", h, calc_parameters{});
      busy_gate gate(io.get_executor());
      workers::put_request(w, gate.request());
      co_await gate.entered();  // the worker is suspended in an awaitable handler
      for (int i = 0; i < 2; ++i)
        callers.push_back(workers::put_request_and_wait(w, add{1}, asio::use_future));
      co_await workers::with_state(w, [](int&) {});  // merged into the slot
      REQUIRE(workers::pending_requests_length(w) == 1);
      // Taken by no merge before the context dies: still in the intake.
      callers.push_back(workers::put_request_and_wait(w, add{1}, asio::use_future));
    });
  }  // no shutdown: a handler in flight, a merged slot and a put not merged
  REQUIRE(table.size() == 0);
  const auto st = workers::status(w);
  REQUIRE(std::holds_alternative<workers::closed>(st));
  REQUIRE(std::get<workers::closed>(st).crash_errors->at(0).find("abandoned") != std::string::npos);
  for (auto& c : callers) REQUIRE_THROWS_AS(c.get(), std::future_error);
  REQUIRE(h.j->closes == 0);
  REQUIRE_FALSE(workers::put_request(w, add{1}));
}

TEST_CASE("teardown: launches still queued when the io_context is destroyed are abandoned",
          "[teardown]") {
  // The context destroys the strand's queue (the launch, holding its reply)
  // before the scheduler's (the strand's invoker, whose memory is in the
  // reply's room): under ASan, a use-after-free if the room went with the reply.
  auto table = make_table();
  auto answered = std::make_shared<int>(0);
  {
    asio::io_context io;
    for (int i = 0; i < 4; ++i)
      workers::launch(table, io, "queued" + std::to_string(i), calc_parameters{}, calc_handlers{},
                      [answered](auto) { ++*answered; });
    REQUIRE(table.size() == 4);
    // Destroyed without running: the launches are still queued.
  }
  CHECK(*answered == 0);  // abandoned, as Asio abandons pending operations
  CHECK(table.size() == 0);
}

// A closed worker's strand outliving its io_context.
TEST_CASE("teardown: a closed worker's last handle may be dropped after its io_context is gone",
          "[teardown]") {
  // Fails under ASan only: heap-use-after-free in the strand's destructor,
  // which reaches into the destroyed context's strand service.
  auto table = make_table();
  calc_handlers h;
  calc_worker w;  // outlives the io_context
  {
    asio::io_context io;
    run(io, [&]() -> asio::awaitable<void> {
      w = co_await launch_ok(table, "closed-early", h);
      co_await workers::shutdown(w);
    });
  }  // run() returned: the worker had closed; the context is destroyed
  REQUIRE(std::holds_alternative<workers::closed>(workers::status(w)));
  w = calc_worker{};  // the last reference: the worker and its strand go now
  REQUIRE(h.j->closes == 1);
  REQUIRE(table.size() == 0);
}

// Canceler hooks of an abandoned worker.
TEST_CASE("teardown: a worker abandoned with its io_context runs its canceler hooks",
          "[teardown]") {
  auto table = make_table();
  calc_handlers h;
  calc_worker w;
  auto hooks = std::make_shared<std::atomic<int>>(0);
  {
    asio::io_context io;
    run(io, [&]() -> asio::awaitable<void> {
      w = co_await launch_ok(table, "abandoned", h);
      workers::canceler(w).on_cancel([hooks] { ++*hooks; });
    });
  }  // no shutdown: the context is destroyed under the running worker
  REQUIRE(std::holds_alternative<workers::closed>(workers::status(w)));
  CHECK(*hooks == 1);
  CHECK(workers::canceler(w).canceled());
}

// A cancellation signal outliving the io_context.
TEST_CASE(
    "teardown: a caller's cancellation signal may outlive the io_context its pending push "
    "waited on",
    "[teardown]") {
  // Fails under ASan only: heap-use-after-free when the signal is destroyed.
  std::optional<asio::cancellation_signal> signal(std::in_place);  // outlives the io_context
  auto table = make_table();
  calc_handlers h;
  auto answered = std::make_shared<std::atomic<int>>(0);
  {
    asio::io_context io;
    run(io, [&]() -> asio::awaitable<void> {
      auto w = co_await launch_ok(table, "cancellable", h);
      busy_gate gate(io.get_executor());
      workers::push_request_now(w, gate.request());
      co_await gate.entered();
      // Queued behind the held request when the context goes.
      workers::push_request_and_wait(
          w, add{1},
          asio::bind_cancellation_slot(signal->slot(),
                                       [answered](workers::reply_result<add>) { ++*answered; }));
      REQUIRE(workers::pending_requests_length(w) == 1);
    });
  }  // abandons the worker and its queued caller
  REQUIRE(table.size() == 0);
  signal.reset();         // destroys what the push left in the signal's slot
  CHECK(*answered == 0);  // abandoned, as Asio abandons pending operations
}

// An io_context destroyed during an awaitable on_launch.
// An awaitable on_launch that waits for what never comes.
struct stuck_launch : calc_handlers {
  gate_channel* entered = nullptr;
  gate_channel* never = nullptr;

  asio::awaitable<workers::result<int, std::string>> on_launch(calc_worker&, const std::string&,
                                                               const calc_parameters&) {
    entered->try_send(error_code{});
    co_await never->async_receive(asio::use_awaitable);
    co_return 0;
  }
};

TEST_CASE("teardown: an io_context destroyed during an awaitable on_launch abandons the worker",
          "[teardown]") {
  // Besides the checks below, under ASan: destroying the table at the end is a
  // stack-use-after-scope (the queued caller's work on the dead io_context).
  auto table = make_table();
  std::optional<calc_worker> w;
  {
    asio::io_context io;
    gate_channel entered(io.get_executor(), 1);
    gate_channel never(io.get_executor(), 1);
    stuck_launch h;
    h.entered = &entered;
    h.never = &never;
    run(io, [&]() -> asio::awaitable<void> {
      auto ex = co_await asio::this_coro::executor;
      std::string name = "stuck";
      calc_parameters p;
      workers::launch(table, ex, std::move(name), p, h, [](auto) {});
      co_await entered.async_receive(asio::use_awaitable);  // on_launch waits now
      w = workers::find_opt(table, "stuck");
      REQUIRE(w);
      workers::push_request_and_wait(*w, add{1}, [](workers::reply_result<add>) {});
    });
  }  // the context is destroyed under the launching worker
  REQUIRE(w);
  INFO("status after the context was destroyed: " << fmt::format("{}", workers::status(*w)));
  CHECK(table.size() == 0);
  CHECK(std::holds_alternative<workers::closed>(workers::status(*w)));
}

TEST_CASE("teardown: idle timers on a clock that outlives the io_context die with the context",
          "[teardown]") {
  // The clock (shared by the table) and the handles outlive the context: a timer still armed
  // would post its function to a destroyed io_context at the next advance (ASan and valgrind
  // see it; pending_timers counts it).
  auto clock = std::make_shared<workers::testing::manual_clock>();
  auto table = make_table({.clock = clock});
  calc_handlers h;
  std::vector<calc_worker> ws;
  {
    asio::io_context io;
    auto options = test_launch_options();
    options.timeout = 40ms;
    for (const char* name : {"a", "b"})
      workers::launch(table, io, name, calc_parameters{}, h, options,
                      [&](auto r) { ws.push_back(std::move(r).value()); });
    workers::testing::run_for(io, *clock, 50ms);  // each ran on_no_request once, and re-armed
    REQUIRE(ws.size() == 2);
    REQUIRE(clock->pending_timers() == 2);
  }  // no shutdown: the context dies with both idle timers armed
  CHECK(clock->pending_timers() == 0);
  clock->advance(1h);  // would fire the timers on the dead context
  CHECK(table.size() == 0);
  for (const auto& w : ws) CHECK(std::holds_alternative<workers::closed>(workers::status(w)));
}

TEST_CASE("teardown: a cancel_with_caller handler in flight when the io_context dies leaks nothing",
          "[teardown]") {
  // While the handler runs, its caller's waiter holds a hook for the caller's cancellation; the
  // context's end must release it (LeakSanitizer saw it leak), and the caller's signal, which
  // outlives the context, must reach nothing.
  auto table = make_table();
  calc_handlers h;
  calc_worker w;
  asio::cancellation_signal signal;
  {
    asio::io_context io;
    run(io, [&]() -> asio::awaitable<void> {
      w = co_await launch_ok(table, "patient", h);
      busy_gate gate(io.get_executor());
      patient_hold request{gate.request()};
      workers::push_request_and_wait(w, std::move(request),
                                     asio::bind_cancellation_slot(signal.slot(), [](auto) {}));
      co_await gate.entered();  // the handler awaits, its caller's hook armed
    });
  }  // the context dies under the handler
  signal.emit(asio::cancellation_type::terminal);
  CHECK(std::holds_alternative<workers::closed>(workers::status(w)));
  CHECK(table.size() == 0);
}

}  // namespace teardown_tests
