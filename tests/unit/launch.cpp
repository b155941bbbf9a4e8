// Launch (<workers/launch.hpp>): on_launch runs, the worker is registered by
// name in its table and runs; a name live in the table, a failed launch and an
// on_launch that throws leave no trace; on_launch may push to its own worker;
// an awaitable on_launch and the deferred and future tokens.

#include "support/calc.hpp"
#include "support/catch.hpp"
#include "support/run.hpp"

#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

// Named, so that the unity build keeps each file's helpers apart.
namespace launch_tests {

using namespace test;
using workers::errc;

TEST_CASE("launch: runs on_launch, registers the worker by name, status is running", "[launch]") {
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

TEST_CASE("launch: a launch's post to the new strand rides in its reply's room", "[launch]") {
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
          "[launch]") {
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

TEST_CASE("launch: a failed launch returns the handlers' error and leaves no trace", "[launch]") {
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

TEST_CASE("launch: on_launch may push requests to its own worker", "[launch]") {
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

TEST_CASE("launch: an on_launch that throws fails the launch with the exception", "[launch]") {
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

TEST_CASE("launch: an awaitable on_launch, a deferred token and a future token work", "[launch]") {
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

TEST_CASE("launch: value() of a failed launch throws system_error naming the worker", "[launch]") {
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

}  // namespace launch_tests
