// State access (<workers/state_access.hpp>): `state` on the worker's strand only,
// `with_state` from anywhere, and what a with_state function's failure or a
// completion elsewhere does.

#include "support/calc.hpp"
#include "support/catch.hpp"
#include "support/run.hpp"

#include <boost/asio/bind_executor.hpp>

#include <atomic>
#include <future>
#include <memory>
#include <thread>

// Named, so that the unity build keeps each file's helpers apart.
namespace state_access_tests {

using namespace test;
using namespace std::chrono_literals;
using boost::system::error_code;

TEST_CASE("state_access: throws a clear logic_error off the strand, before launch and after close",
          "[state_access]") {
  asio::io_context io;
  auto table = make_table();
  run(io, [&]() -> asio::awaitable<void> {
    auto w = co_await launch_ok(table, "st");
    // The test coroutine is not on the worker's strand.
    try {
      (void)workers::state(w);
      FAIL("state() off the strand must throw");
    } catch (const std::logic_error& e) {
      REQUIRE(std::string(e.what()).find("test-calc_st") != std::string::npos);
      REQUIRE(std::string(e.what()).find("with_state") != std::string::npos);
    }
    co_await workers::shutdown(w);
    try {
      (void)workers::state(w);
      FAIL("state() after close must throw");
    } catch (const std::logic_error& e) {
      REQUIRE(std::string(e.what()).find("closed") != std::string::npos);
    }
    auto ran = co_await workers::with_state(w, [](int&) {});
    REQUIRE_FALSE(ran);
    auto value = co_await workers::with_state(w, [](int& s) { return s; });
    REQUIRE_FALSE(value);
  });
}

// A with_state function that throws.
TEST_CASE(
    "state_access: a with_state function that throws reaches its caller, not io_context::run()",
    "[state_access]") {
  asio::io_context io;
  auto table = make_table();
  calc_handlers h;
  auto launched = workers::launch(table, io.get_executor(), "throwing-with-state",
                                  calc_parameters{}, h, asio::use_future);
  io_runner runner(io);
  auto w = get_within(launched).value();

  auto answer = std::make_shared<std::promise<void>>();
  auto answered = answer->get_future();
  // The completion's signature is not decided for this case: any call counts.
  workers::with_state(
      w, [](int&) { throw std::runtime_error("with_state threw"); },
      [answer = std::move(answer)](auto&&...) { answer->set_value(); });
  const bool caller_answered = answered_within(answered);
  workers::trigger_shutdown(w);
  const bool returned = runner.returns_within();
  CHECK(runner.escaped() == 0);  // exceptions that escaped io_context::run()
  CHECK(caller_answered);
  CHECK(returned);
}

// With_state completing on another io_context.
TEST_CASE(
    "state_access: with_state keeps the io_context of its bound completion running until it ran",
    "[state_access]") {
  asio::io_context io;
  auto table = make_table();
  calc_handlers h;
  auto launched = workers::launch(table, io.get_executor(), "other-context", calc_parameters{}, h,
                                  asio::use_future);
  io_runner runner(io);
  auto w = get_within(launched).value();

  asio::io_context other;
  std::promise<void> other_returned;
  auto returned = other_returned.get_future().share();
  std::atomic<bool> completed{false};
  // The function holds the worker until other.run() has returned (or 1 s passed):
  // the completion can then be posted to `other` only after that.
  workers::with_state(
      w, [returned](int&) { returned.wait_for(1s); },
      asio::bind_executor(other, [&completed](std::exception_ptr, bool) { completed = true; }));
  // Watchdog: stops `other` if its run() has not returned in time.
  std::promise<void> other_done;
  std::thread dog([&other, done = other_done.get_future()] {
    if (done.wait_for(answer_limit) != std::future_status::ready) other.stop();
  });
  other.run();  // must not return before the completion ran
  const bool completed_before_return = completed.load();
  other_done.set_value();
  dog.join();
  other_returned.set_value();

  workers::trigger_shutdown(w);
  REQUIRE(runner.returns_within());
  CHECK(completed_before_return);
}

}  // namespace state_access_tests
