// Lifecycle operations (<workers/lifecycle_operations.hpp>): shutdown,
// trigger_shutdown and wait_for_completion. The closing rules (SPEC §5): every
// waiter answered exactly once, on_close once, the worker out of its table and
// its state dropped; shutdown from a handler, from a plain completion on the
// strand, from another worker; an idle worker keeping run() going.

#include "support/calc.hpp"
#include "support/catch.hpp"
#include "support/fixture.hpp"
#include "support/run.hpp"

#include <workers/testing.hpp>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>

#include <atomic>
#include <future>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

// Named, so that the unity build keeps each file's helpers apart.
namespace lifecycle_operations_tests {

using namespace test;
using boost::system::error_code;
using workers::errc;
using workers::testing::run_until_idle;

TEST_CASE(
    "lifecycle_operations: waiters in flight, queued and arriving after close each get closed",
    "[lifecycle_operations]") {
  asio::io_context io;
  auto table = make_table();
  calc_handlers h;
  run(io, [&]() -> asio::awaitable<void> {
    auto w = co_await launch_ok(table, "c", h);
    busy_gate gate(io.get_executor());
    auto in_flight = workers::push_request_and_wait(w, gate.request(), asio::use_future);
    co_await gate.entered();
    std::vector<std::future<workers::reply_result<add>>> queued;
    for (int i = 0; i < 3; ++i)
      queued.push_back(workers::push_request_and_wait(w, add{1}, asio::use_future));
    REQUIRE(workers::pending_requests_length(w) == 3);
    co_await workers::shutdown(w);
    // The hold handler was cancelled through Asio cancellation: its caller gets closed.
    REQUIRE(is_closed_with(in_flight.get(), false));
    for (auto& f : queued) REQUIRE(is_closed_with(f.get(), false));
    // After close: refused, never queued into the void.
    auto [got1] = co_await workers::push_request(w, add{1}, asio::as_tuple(asio::use_awaitable));
    REQUIRE(got1 == errc::closed);
    REQUIRE_FALSE(workers::push_request_now(w, add{1}));
    auto got2 = co_await workers::push_request_and_wait(w, add{1});
    REQUIRE(is_closed_with(got2, false));
    REQUIRE(workers::pending_requests_length(w) == 0);
  });
  REQUIRE(h.j->closes == 1);
  // The adds never ran.
  for (const auto& e : h.j->snapshot()) REQUIRE(e.find("add") == std::string::npos);
}

// A shutdown during an awaitable on_launch.
// An awaitable on_launch that pushes twice to its own bounded queue of 1: the
// second push waits for room that only the running worker can make.
struct fills_own_queue : calc_handlers {
  std::shared_ptr<gate_channel> second_push;  // signalled just before the second push
  std::shared_ptr<std::atomic<int>> pushes_answered = std::make_shared<std::atomic<int>>(0);

  asio::awaitable<workers::result<int, std::string>> on_launch(bounded_worker& self,
                                                               const std::string&,
                                                               const calc_parameters&) {
    try {
      co_await workers::push_request(self, add{1});
      ++*pushes_answered;
      second_push->try_send(error_code{});
      co_await workers::push_request(self, add{1});
      ++*pushes_answered;
    } catch (...) {
      ++*pushes_answered;  // a cancelled push answers too
      throw;
    }
    co_return 0;
  }
};

TEST_CASE(
    "lifecycle_operations: a shutdown during an awaitable on_launch waiting for room in its own "
    "queue answers every waiter, the launch included",
    "[lifecycle_operations]") {
  asio::io_context io;
  auto table = make_bounded_table(1);
  fills_own_queue h;
  h.second_push = std::make_shared<gate_channel>(io.get_executor(), 1);
  auto launch_answered = std::make_shared<std::atomic<bool>>(false);
  bool shutdown_completed = false;
  run(io, [&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto launch_done = std::make_shared<gate_channel>(ex, 1);
    std::string name = "self-filler";
    calc_parameters p;
    workers::launch(table, ex, std::move(name), p, h, [launch_answered, launch_done](auto) {
      *launch_answered = true;
      launch_done->try_send(error_code{});
    });
    co_await h.second_push->async_receive(asio::use_awaitable);  // its queue is full now
    auto w = workers::find_opt(table, "self-filler");
    REQUIRE(w);  // in its table from the start of its launch
    shutdown_completed = co_await completes_within(workers::shutdown(*w, asio::use_awaitable));
    if (shutdown_completed)
      (void)co_await completes_within(launch_done->async_receive(asio::use_awaitable));
  });
  CHECK(shutdown_completed);
  CHECK(*launch_answered);
  CHECK(*h.pushes_answered == 2);
}

// A handler that catches the close's cancellation.
// A handler that catches the cancellation of its awaited operation and returns a value.
struct swallows_cancellation : calc_handlers {
  asio::awaitable<workers::result<int, std::string>> on_request(calc_worker&, const hold& r) {
    r.entered->try_send(error_code{});
    try {
      co_await r.release->async_receive(asio::use_awaitable);
    } catch (const boost::system::system_error&) {
      co_return 42;  // cut short: returns a value all the same
    }
    co_return 1;
  }
  using calc_handlers::on_request;
};

TEST_CASE(
    "lifecycle_operations: the caller of an awaitable handler cut short by a close gets "
    "worker_closed, even if the handler returns a value",
    "[lifecycle_operations]") {
  asio::io_context io;
  auto table = make_table();
  swallows_cancellation h;
  std::optional<workers::reply_result<hold>> got;
  run(io, [&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    std::string name = "swallower";
    calc_parameters p;
    auto w = (co_await workers::launch(table, ex, std::move(name), p, h)).value();
    busy_gate gate(ex);
    auto answered = std::make_shared<gate_channel>(ex, 1);
    workers::push_request_and_wait(w, gate.request(),
                                   [&got, answered](workers::reply_result<hold> r) {
                                     got.emplace(std::move(r));
                                     answered->try_send(error_code{});
                                   });
    co_await gate.entered();
    co_await workers::shutdown(w);  // cancels the handler in flight
    const bool in_time = co_await completes_within(answered->async_receive(asio::use_awaitable));
    REQUIRE(in_time);
  });
  REQUIRE(got);
  INFO("the caller got " << (got->has_value() ? fmt::format("the value {}", **got)
                                              : fmt::format("{}", got->error())));
  CHECK_FALSE(got->has_value());
  CHECK((!got->has_value() && got->error().is_closed()));
}

TEST_CASE(
    "lifecycle_operations: shutdown goes running → closing → closed, on_close once, leaves the "
    "table, state dropped",
    "[lifecycle_operations]") {
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

TEST_CASE_METHOD(
    calc_fixture,
    "lifecycle_operations: shutdown called from inside a handler completes at once, no deadlock",
    "[lifecycle_operations]") {
  run(io, [&]() -> asio::awaitable<void> {
    auto r = co_await workers::push_request_and_wait(w, stop_self{});
    REQUIRE(r.has_value());  // the handler that asked for its worker's end is not cancelled
    co_await workers::wait_for_completion(w);
    REQUIRE(std::holds_alternative<workers::closed>(workers::status(w)));
  });
  REQUIRE(h.j->snapshot() ==
          std::vector<std::string>{"launch w", "stop_self returned", "done stop_self", "close"});
}

TEST_CASE_METHOD(calc_fixture,
                 "lifecycle_operations: wait_for_completion completes when the worker closes, at "
                 "once if closed, and is cancellable",
                 "[lifecycle_operations]") {
  // A caller who stops waiting gets operation_aborted, at once; the worker runs on.
  int aborted = 0, other = 0;
  const auto waiter = [&](boost::system::error_code ec) {
    ++(ec == asio::error::operation_aborted ? aborted : other);
  };
  int given_up = 0;
  for (auto type : {asio::cancellation_type::terminal, asio::cancellation_type::partial,
                    asio::cancellation_type::total}) {
    asio::cancellation_signal give_up;
    workers::wait_for_completion(w, asio::bind_cancellation_slot(give_up.slot(), waiter));
    run_until_idle(io);
    CHECK(aborted == given_up);  // still waiting
    give_up.emit(type);
    run_until_idle(io);
    CHECK(aborted == ++given_up);
  }
  CHECK(aborted == 3);
  CHECK(other == 0);
  REQUIRE(std::holds_alternative<workers::running>(workers::status(w)));
  // Many abandoned waits must not pile up: each is answered once, none later.
  std::list<asio::cancellation_signal> signals;  // each outlives its wait's completion
  for (int i = 0; i < 50; ++i) {
    auto& give_up = signals.emplace_back();
    workers::wait_for_completion(w, asio::bind_cancellation_slot(give_up.slot(), waiter));
    give_up.emit(asio::cancellation_type::terminal);
  }
  run_until_idle(io);
  CHECK(aborted == 53);
  // One that waits on is answered by the close, with success.
  int completed = 0;
  workers::wait_for_completion(w,
                               [&](boost::system::error_code ec) { completed += !ec ? 1 : 100; });
  workers::trigger_shutdown(w);
  run_until_idle(io);
  CHECK(completed == 1);
  CHECK(aborted == 53);  // the abandoned waits were not answered again by the close
  CHECK(other == 0);
  workers::wait_for_completion(w,
                               [&](boost::system::error_code ec) { completed += !ec ? 1 : 100; });
  run_until_idle(io);
  CHECK(completed == 2);  // closed already: completes at once
  REQUIRE(h.j->closes == 1);
}

TEST_CASE(
    "lifecycle_operations: an idle worker keeps run() going until it closes, like a pending "
    "operation",
    "[lifecycle_operations]") {
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
    "lifecycle_operations: a worker launched on another worker's handler executor does not share "
    "its strand: shutting that other worker down from it waits for its close",
    "[lifecycle_operations]") {
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

TEST_CASE(
    "lifecycle_operations: shutdown called from a plain completion on the worker's strand waits "
    "for the close",
    "[lifecycle_operations]") {
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

// Shuts another worker down from inside its own handler.
struct stopper : calc_handlers {
  std::shared_ptr<calc_worker> other = std::make_shared<calc_worker>();
  asio::awaitable<workers::result<workers::unit, std::string>> on_request(calc_worker&,
                                                                          const stop_self&) {
    co_await workers::shutdown(*other);  // waits for the other worker's close
    co_return workers::unit{};
  }
  using calc_handlers::on_request;
};
// Triggers its own shutdown while launching.
struct quitter : calc_handlers {
  workers::result<int, std::string> on_launch(calc_worker& self, const std::string&,
                                              const calc_parameters&) {
    workers::trigger_shutdown(self);
    return 0;
  }
};

TEST_CASE("lifecycle_operations: one worker shuts another down from inside its handler",
          "[lifecycle_operations]") {
  asio::io_context io(2);
  auto table = make_table();
  stopper h;
  calc_handlers other_handlers;
  run(
      io,
      [&]() -> asio::awaitable<void> {
        *h.other = co_await launch_ok(table, "other", other_handlers);
        auto launched =
            co_await workers::launch(table, io.get_executor(), "stopper", calc_parameters{}, h);
        auto a = *launched;
        auto r = co_await workers::push_request_and_wait(a, stop_self{});
        REQUIRE(r.has_value());
        REQUIRE(std::holds_alternative<workers::closed>(workers::status(*h.other)));
        REQUIRE(std::holds_alternative<workers::running>(workers::status(a)));
        co_await workers::shutdown(a);
      },
      2);
  REQUIRE(other_handlers.j->closes == 1);
  REQUIRE(table.size() == 0);
}

TEST_CASE(
    "lifecycle_operations: a shutdown triggered during on_launch lets the launch succeed, then "
    "closes",
    "[lifecycle_operations]") {
  asio::io_context io;
  auto table = make_table();
  quitter h;
  run(io, [&]() -> asio::awaitable<void> {
    auto r = co_await workers::launch(table, io.get_executor(), "q", calc_parameters{}, h);
    REQUIRE(r.has_value());
    co_await workers::wait_for_completion(*r);
    REQUIRE(std::holds_alternative<workers::closed>(workers::status(*r)));
    auto [late] = co_await workers::push_request(*r, add{1}, asio::as_tuple(asio::use_awaitable));
    REQUIRE(late == workers::errc::closed);
  });
  REQUIRE(h.j->closes == 1);
  REQUIRE(table.size() == 0);
}

TEST_CASE("lifecycle_operations: a worker outlives its destroyed table and still works",
          "[lifecycle_operations]") {
  asio::io_context io;
  calc_handlers h;
  run(io, [&]() -> asio::awaitable<void> {
    calc_worker w;
    {
      auto table = make_table();
      w = co_await launch_ok(table, "orphan", h);
    }  // the table handle is gone
    auto got = co_await workers::push_request_and_wait(w, add{2});
    REQUIRE(*got == 2);
    REQUIRE(workers::information(w).instances_number == 0);
    co_await workers::shutdown(w);
  });
  REQUIRE(h.j->closes == 1);
}

}  // namespace lifecycle_operations_tests
