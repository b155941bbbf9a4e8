// Infinite queues: FIFO order, typed replies, completions through the
// token's executor, the expected history of random sequences (on a bounded
// queue too), fairness, the caller answered before on_completion, a request
// that cannot fail, and a caller that gives up while queued.

#include "support/calc.hpp"
#include "support/catch.hpp"
#include "support/fixture.hpp"
#include "support/run.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/cancellation_signal.hpp>

#include <future>

#include <random>

// Named, so that the unity build keeps each file's helpers apart.
namespace infinite_queue_tests {

using namespace test;
using namespace std::chrono_literals;
using boost::system::error_code;

TEST_CASE_METHOD(calc_fixture, "infinite_queue: requests are handled one at a time in FIFO order",
                 "[infinite_queue]") {
  run(io, [&]() -> asio::awaitable<void> {
    co_await workers::push_request(w, add{1});  // throws if refused
    for (int i = 2; i <= 300; ++i) REQUIRE(workers::push_request_now(w, add{i}));
    auto sum = co_await workers::push_request_and_wait(w, add{0});
    REQUIRE(*sum == 300 * 301 / 2);
    co_await workers::shutdown(w);
  });
  auto events = h.j->snapshot();
  REQUIRE(events.size() == 1 + 301 + 1);
  for (int i = 1; i <= 300; ++i) REQUIRE(events[i] == fmt::format("done add {}", i));
}

TEST_CASE("infinite_queue: push_request_and_wait gives the typed result or the request's own error",
          "[infinite_queue]") {
  asio::io_context io;
  auto table = make_table();
  run(io, [&]() -> asio::awaitable<void> {
    calc_handlers typed_handlers;
    auto w = co_await launch_ok(table, "typed", typed_handlers, {.initial = 40});
    workers::reply_result<add> ok = co_await workers::push_request_and_wait(w, add{2});
    REQUIRE(ok.has_value());
    REQUIRE(*ok == 42);
    // GCC 12 miscompiles class temporaries holding a std::string inside a
    // co_await expression (see README, "Compilers"): name the request first.
    fail request{"no"};
    workers::reply_result<fail> bad =
        co_await workers::push_request_and_wait(w, std::move(request));
    REQUIRE_FALSE(bad.has_value());
    REQUIRE(bad.error().code() == workers::errc::request_failed);
    REQUIRE(bad.error().error() == "no");
    REQUIRE_THROWS_AS(bad.value(), workers::message_error_exception);
    co_await workers::shutdown(w);
  });
}

TEST_CASE_METHOD(
    calc_fixture,
    "infinite_queue: a callback token completes through its associated executor, never inline",
    "[infinite_queue]") {
  run(io, [&]() -> asio::awaitable<void> {
    bool pushed = false;
    bool initiating = true;
    workers::push_request(w, add{1}, [&](workers::error_code ec) {
      REQUIRE_FALSE(initiating);
      pushed = !ec;
    });
    std::optional<workers::reply_result<add>> reply;
    workers::push_request_and_wait(w, add{1}, [&](workers::reply_result<add> r) {
      REQUIRE_FALSE(initiating);
      reply = std::move(r);
    });
    initiating = false;
    co_await workers::shutdown(w);
    // The callbacks complete on the worker's strand, in no set order with the
    // shutdown's completion, which runs on this coroutine's executor.
    while (!pushed || !reply) co_await asio::post(io, asio::use_awaitable);
    REQUIRE(reply->error().is_closed());  // queued when the shutdown began
  });
}

struct on_infinite_queue {
  static calc_table table() { return make_table(); }
};
struct on_bounded_queue_of_2 {
  static bounded_table table() { return make_bounded_table(2); }
};

// Upstream's history property test: a random sequence of successes and simple
// errors on a fresh worker gives exactly the expected history of completions.
TEMPLATE_TEST_CASE("infinite_queue: random sequences of requests give exactly the expected history",
                   "[infinite_queue]", on_infinite_queue, on_bounded_queue_of_2) {
  for (unsigned seed = 1; seed <= 200; ++seed) {
    std::mt19937 rng(seed);
    const int n = std::uniform_int_distribution<int>(0, 40)(rng);
    std::vector<std::string> expected{"launch h"};
    asio::io_context io;
    auto table = TestType::table();
    calc_handlers h;
    int sum = 0;
    run(io, [&]() -> asio::awaitable<void> {
      auto w = co_await launch_ok(table, "h", h);
      for (int i = 0; i < n; ++i) {
        const int choice = std::uniform_int_distribution<int>(0, 2)(rng);
        if (choice == 0) {
          const int amount = std::uniform_int_distribution<int>(-5, 5)(rng);
          sum += amount;
          expected.push_back(fmt::format("done add {}", amount));
          auto got = co_await workers::push_request_and_wait(w, add{amount});
          REQUIRE(*got == sum);
        } else if (choice == 1) {
          const auto msg = fmt::format("e{}", i);
          expected.push_back(fmt::format("error fail {}: {}", msg, msg));
          // GCC 12 miscompiles class temporaries holding a std::string inside a
          // co_await expression (see README, "Compilers"): name the request first.
          fail request{msg};
          auto got = co_await workers::push_request_and_wait(w, std::move(request));
          REQUIRE(got.error().error() == msg);
        } else {
          // Fire and forget; on the bounded queue it may wait for room.
          const int amount = std::uniform_int_distribution<int>(0, 9)(rng);
          sum += amount;
          expected.push_back(fmt::format("done add {}", amount));
          co_await workers::push_request(w, add{amount});  // throws if refused
        }
      }
      // Requests still queued at shutdown are not handled: flush them first.
      auto flushed = co_await workers::push_request_and_wait(w, add{0});
      REQUIRE(*flushed == sum);
      co_await workers::shutdown(w);
    });
    expected.push_back("done add 0");
    expected.push_back("close");
    INFO("seed " << seed);
    REQUIRE(h.j->snapshot() == expected);
  }
}

TEST_CASE("infinite_queue: a worker flooded with requests does not starve other tasks",
          "[infinite_queue]") {
  asio::io_context io(1);
  auto table = make_table();
  run(io, [&]() -> asio::awaitable<void> {
    auto w = co_await launch_ok(table, "flood");
    for (int i = 0; i < 20000; ++i) workers::push_request_now(w, add{1});
    // This coroutine yields 10 times; it completes while the worker still has work queued.
    for (int i = 0; i < 10; ++i) co_await asio::post(io, asio::use_awaitable);
    REQUIRE(workers::pending_requests_length(w) > 0);
    co_await workers::shutdown(w);
  });
}

// The caller answered before on_completion.
// on_completion waits until the request's caller has been answered (5 s at most).
struct completion_waits : calc_handlers {
  std::shared_ptr<std::shared_future<void>> caller_answered;
  std::shared_ptr<std::atomic<int>> seen = std::make_shared<std::atomic<int>>(0);
  std::shared_ptr<gate_channel> returned;

  void on_completion(calc_worker&, const add&, const int&, const workers::request_status&) {
    const bool answered = caller_answered->wait_for(5s) == std::future_status::ready;
    *seen = answered ? 1 : 2;
    returned->try_send(error_code{});
  }
};

TEST_CASE("infinite_queue: a push_request_and_wait caller is answered before on_completion runs",
          "[infinite_queue]") {
  asio::io_context io;
  auto table = make_table();
  completion_waits h;
  auto answer = std::make_shared<std::promise<void>>();
  h.caller_answered = std::make_shared<std::shared_future<void>>(answer->get_future().share());
  h.returned = std::make_shared<gate_channel>(io.get_executor(), 1);
  int value = 0;
  run(
      io,
      [&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        std::string name = "slow-completion";
        calc_parameters p;
        auto w = (co_await workers::launch(table, ex, std::move(name), p, h)).value();
        auto done = std::make_shared<gate_channel>(ex, 1);
        // Completed on the io_context (the other thread), not on the worker's strand.
        workers::push_request_and_wait(
            w, add{5},
            asio::bind_executor(io.get_executor(),
                                [answer, done, &value](workers::reply_result<add> r) {
                                  value = r ? *r : -1;
                                  answer->set_value();
                                  done->try_send(error_code{});
                                }));
        const bool caller_done =
            co_await completes_within(done->async_receive(asio::use_awaitable));
        const bool completion_done =
            co_await completes_within(h.returned->async_receive(asio::use_awaitable));
        co_await workers::shutdown(w);
        REQUIRE(caller_done);
        REQUIRE(completion_done);
      },
      2);
  REQUIRE(value == 5);
  INFO("on_completion: 1 = saw its caller answered, 2 = waited 5 s in vain");
  CHECK(*h.seen == 1);
}

// A group whose request cannot fail: its error type is workers::never (OCaml's empty type).
struct sure_thing {
  using result_type = int;
  using error_type = workers::never;
  int value = 0;
};
struct sure_requests {
  using types = workers::request_types<sure_thing>;
  using view_type = std::string;
  static std::string view(const sure_thing& r) { return fmt::format("sure {}", r.value); }
};
using sure = workers::make_single<calc_name, sure_requests, calc_types>;
struct sure_handlers {
  workers::result<int, workers::never> on_request(sure::worker<workers::queue<workers::infinite>>&,
                                                  const sure_thing& r) {
    return r.value * 2;
  }
  template <class W, class R>
  void on_completion(W&, const R&, const int&, const workers::request_status&) {}
  template <class W, class R>
  workers::error_action on_error(W&, const workers::request_status&, const R&,
                                 const workers::never&) {
    return workers::error_action::proceed();
  }
};

TEST_CASE("infinite_queue: a request that cannot fail has the error type never",
          "[infinite_queue]") {
  asio::io_context io;
  auto table = sure::create_table(workers::infinite_queue{});
  run(io, [&]() -> asio::awaitable<void> {
    sure_handlers h;
    // Launched with the io_context itself, as Asio's I/O objects are made.
    auto w = (co_await workers::launch(table, io, "sure", calc_parameters{}, h)).value();
    auto r = co_await workers::push_request_and_wait(w, sure_thing{21});
    REQUIRE(r.has_value());
    REQUIRE(*r == 42);
    co_await workers::shutdown(w);
  });
}

TEST_CASE_METHOD(
    calc_fixture,
    "infinite_queue: a push-and-wait that gives up while queued leaves pending_requests",
    "[infinite_queue]") {
  run(io, [&]() -> asio::awaitable<void> {
    busy_gate gate(io.get_executor());
    workers::push_request_now(w, gate.request());
    co_await gate.entered();
    workers::push_request_now(w, add{1});
    asio::cancellation_signal signal;
    std::optional<workers::reply_result<add>> got;
    workers::push_request_and_wait(
        w, add{100}, asio::bind_cancellation_slot(signal.slot(), [&](workers::reply_result<add> r) {
          got = std::move(r);
        }));
    workers::push_request_now(w, add{2});
    REQUIRE(workers::pending_requests_length(w) == 3);
    signal.emit(asio::cancellation_type::terminal);
    while (!got) co_await asio::post(io, asio::use_awaitable);
    REQUIRE(got->error().code() == asio::error::operation_aborted);
    REQUIRE(workers::pending_requests_length(w) == 2);
    const auto pending = workers::pending_requests(w);
    REQUIRE(pending.size() == 2);
    CHECK(pending[0].view == "add 1");
    CHECK(pending[1].view == "add 2");
    REQUIRE(workers::information(w).queue_length == 2);
    gate.open();
    auto last = co_await workers::push_request_and_wait(w, add{0});
    REQUIRE(*last == 3);
    co_await workers::shutdown(w);
  });
}

}  // namespace infinite_queue_tests
