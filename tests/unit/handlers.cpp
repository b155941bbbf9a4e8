// Handlers (<workers/handlers.hpp>): what a handler that throws, on_error's
// answer (proceed, shutdown, crash) and on_close (told why the worker closes)
// do to the worker, its callers and the requests after them.

#include "support/calc.hpp"
#include "support/catch.hpp"
#include "support/fixture.hpp"
#include "support/run.hpp"

#include <future>
#include <optional>
#include <string>
#include <variant>
#include <vector>

// Named, so that the unity build keeps each file's helpers apart.
namespace handlers_tests {

using namespace test;
using workers::errc;

TEST_CASE_METHOD(calc_fixture,
                 "handlers: a throwing handler crashes the worker, its caller gets the exception",
                 "[handlers]") {
  run(io, [&]() -> asio::awaitable<void> {
    busy_gate gate(io.get_executor());
    workers::push_request_now(w, gate.request());
    co_await gate.entered();
    auto thrower = workers::push_request_and_wait(w, boom{}, asio::use_future);
    auto after = workers::push_request_and_wait(w, add{1}, asio::use_future);
    gate.open();
    co_await workers::wait_for_completion(w);
    auto t = thrower.get();
    REQUIRE_FALSE(t.has_value());
    REQUIRE(t.error().is_exception());
    REQUIRE(t.error().code() == errc::handler_exception);
    REQUIRE_THROWS_WITH(t.value(), "boom");
    auto a = after.get();
    REQUIRE(is_closed_with(a, true));
    REQUIRE(std::get<workers::worker_closed>(a.error()).crash_errors->at(0).find("boom") !=
            std::string::npos);
    auto got3 = co_await workers::push_request_and_wait(w, add{1});
    REQUIRE(is_closed_with(got3, true));
  });
  const auto st = workers::status(w);
  REQUIRE(std::holds_alternative<workers::closed>(st));
  REQUIRE(std::get<workers::closed>(st).crash_errors);
  REQUIRE(h.j->closes == 1);
  REQUIRE(table.size() == 0);
}

TEST_CASE("handlers: on_error answering shutdown closes cleanly, the failing caller gets its error",
          "[handlers]") {
  asio::io_context io;
  auto table = make_table();
  calc_handlers h;
  calc_worker w;
  run(io, [&]() -> asio::awaitable<void> {
    w = co_await launch_ok(table, "e", h, {.policy = on_error_policy::shutdown});
    // GCC 12 miscompiles class temporaries holding a std::string inside a
    // co_await expression (see README, "Compilers"): name the request first.
    fail request{"bad"};
    auto r = co_await workers::push_request_and_wait(w, std::move(request));
    REQUIRE_FALSE(r.has_value());
    REQUIRE(r.error().is_request_error());
    REQUIRE(r.error().error() == "bad");
    co_await workers::wait_for_completion(w);
    auto got4 = co_await workers::push_request_and_wait(w, add{1});
    REQUIRE(is_closed_with(got4, false));
  });
  REQUIRE_FALSE(std::get<workers::closed>(workers::status(w)).crash_errors);
  REQUIRE(h.j->snapshot() == std::vector<std::string>{"launch e", "error fail bad: bad", "close"});
}

TEST_CASE("handlers: on_error answering crash errors closes as crashed with those errors",
          "[handlers]") {
  asio::io_context io;
  auto table = make_table();
  calc_handlers h;
  calc_worker w;
  run(io, [&]() -> asio::awaitable<void> {
    w = co_await launch_ok(table, "e", h, {.policy = on_error_policy::crash});
    // GCC 12 miscompiles class temporaries holding a std::string inside a
    // co_await expression (see README, "Compilers"): name the request first.
    fail request{"bad"};
    auto r = co_await workers::push_request_and_wait(w, std::move(request));
    REQUIRE(r.error().is_request_error());
    co_await workers::wait_for_completion(w);
  });
  const auto st = std::get<workers::closed>(workers::status(w));
  REQUIRE(st.crash_errors == workers::error_list{"crashed: bad"});
}

TEST_CASE("handlers: a resource released from on_error and on_close is released once on both paths",
          "[handlers]") {
  for (auto policy : {on_error_policy::shutdown, on_error_policy::crash}) {
    asio::io_context io;
    auto table = make_table();
    calc_handlers h;
    run(io, [&]() -> asio::awaitable<void> {
      auto w = co_await launch_ok(table, "r", h, {.policy = policy});
      // GCC 12 miscompiles class temporaries holding a std::string inside a
      // co_await expression (see README, "Compilers"): name the request first.
      fail request{"x"};
      co_await workers::push_request_and_wait(w, std::move(request));
      co_await workers::wait_for_completion(w);
    });
    REQUIRE(h.j->releases == 1);
    REQUIRE(h.j->closes == 1);
  }
  // And when the worker is simply shut down, on_close alone releases it.
  asio::io_context io;
  auto table = make_table();
  calc_handlers h;
  run(io, [&]() -> asio::awaitable<void> {
    auto w = co_await launch_ok(table, "r", h);
    co_await workers::shutdown(w);
  });
  REQUIRE(h.j->releases == 1);
}

TEST_CASE_METHOD(calc_fixture, "handlers: requests after a crashing one are refused",
                 "[handlers]") {
  run(io, [&]() -> asio::awaitable<void> {
    auto got5 = co_await workers::push_request_and_wait(w, add{1});
    REQUIRE(*got5 == 1);
    auto got6 = co_await workers::push_request_and_wait(w, boom{});
    REQUIRE(got6.error().is_exception());
    co_await workers::wait_for_completion(w);
    auto [got7] = co_await workers::push_request(w, add{1}, asio::as_tuple(asio::use_awaitable));
    REQUIRE(got7 == errc::closed);
    auto got8 = co_await workers::push_request_and_wait(w, add{2});
    REQUIRE(is_closed_with(got8, true));
  });
  REQUIRE(h.j->snapshot() == std::vector<std::string>{"launch w", "done add 1", "close"});
}

// Records why it closes, and the status it can read meanwhile.
struct reason_recorder : calc_handlers {
  std::shared_ptr<std::vector<workers::close_reason>> reasons =
      std::make_shared<std::vector<workers::close_reason>>();
  template <class W>
  void on_close(W&, const workers::close_reason& why) {
    reasons->push_back(why);
  }
};

TEST_CASE("handlers: on_close is told why the worker closes, with the crash errors", "[handlers]") {
  using workers::close_cause;
  struct scenario {
    const char* name;
    calc_parameters parameters;
    std::optional<calc_any> request;  // none: a plain shutdown
    close_cause cause;
    bool crashed;
  };
  const std::vector<scenario> scenarios = {
      {"shutdown", {}, std::nullopt, close_cause::shutdown, false},
      {"on_error shutdown",
       {.policy = on_error_policy::shutdown},
       fail{"no"},
       close_cause::on_error_shutdown,
       false},
      {"on_error crash", {.policy = on_error_policy::crash}, fail{"no"}, close_cause::crash, true},
      {"handler exception", {}, boom{}, close_cause::handler_exception, true},
  };
  for (const auto& s : scenarios) {
    INFO(s.name);
    asio::io_context io;
    auto table = make_table();
    reason_recorder h;
    run(io, [&]() -> asio::awaitable<void> {
      auto w = co_await launch_ok(table, "why", h, s.parameters);
      if (s.request)
        std::visit([&](auto r) { workers::push_request_now(w, std::move(r)); }, *s.request);
      else
        workers::trigger_shutdown(w);
      co_await workers::wait_for_completion(w);
    });
    REQUIRE(h.reasons->size() == 1);
    CHECK(h.reasons->front().cause == s.cause);
    CHECK(h.reasons->front().crashed() == s.crashed);
  }
  // The end of a callback source.
  asio::io_context io;
  auto table = make_callback_table();
  reason_recorder h;
  run(io, [&]() -> asio::awaitable<void> {
    auto stream = std::make_shared<request_stream>(io.get_executor());
    const calc_parameters p{.stream = stream};
    auto w = co_await launch_as<callback_worker>(table, "source", h, p);
    stream->close();
    co_await workers::wait_for_completion(w);
  });
  REQUIRE(h.reasons->size() == 1);
  CHECK(h.reasons->front().cause == close_cause::end_of_source);
  CHECK_FALSE(h.reasons->front().crashed());
}

}  // namespace handlers_tests
