// Bounded queues: exactly `size` requests, backpressure with FIFO admission,
// and no producer left waiting when the worker closes.

#include "support/calc.hpp"
#include "support/catch.hpp"
#include "support/fixture.hpp"
#include "support/run.hpp"

#include <atomic>
#include <cstdio>
#include <thread>

// Named, so that the unity build keeps each file's helpers apart.
namespace bounded_queue_tests {

using namespace test;

TEST_CASE("bounded_queue: a size below 1 is rejected when the table is created",
          "[bounded_queue]") {
  try {
    (void)make_bounded_table(0);
    FAIL("create_table(bounded_queue{0}) must throw");
  } catch (const std::invalid_argument& e) {
    REQUIRE(std::string(e.what()).find("test-calc") != std::string::npos);
  }
  REQUIRE(make_bounded_table(1).size() == 0);
}

TEST_CASE_METHOD(
    bounded_fixture<3>,
    "bounded_queue: holds exactly size requests, try_push_request_now is false when full",
    "[bounded_queue]") {
  run(io, [&]() -> asio::awaitable<void> {
    busy_gate gate(io.get_executor());
    REQUIRE(workers::try_push_request_now(w, gate.request()));
    co_await gate.entered();  // the hold left the queue: it is being handled
    for (int i = 1; i <= 3; ++i) REQUIRE(workers::try_push_request_now(w, add{i}));
    REQUIRE_FALSE(workers::try_push_request_now(w, add{100}));
    REQUIRE(workers::pending_requests_length(w) == 3);
    REQUIRE(workers::information(w).queue_length == 3);
    gate.open();
    auto sum = co_await workers::push_request_and_wait(w, add{0});
    REQUIRE(*sum == 6);  // the refused 100 never got in
    co_await workers::shutdown(w);
  });
}

// dotnet/runtime#81011's shape: a caller that gave up must not keep its place.
TEST_CASE_METHOD(
    bounded_fixture<2>,
    "bounded_queue: a push-and-wait that gives up while queued releases its place at once and "
    "leaves pending_requests_length, and a producer waiting for room takes it",
    "[bounded_queue]") {
  run(io, [&]() -> asio::awaitable<void> {
    busy_gate gate(io.get_executor());
    REQUIRE(workers::try_push_request_now(w, gate.request()));
    co_await gate.entered();
    asio::cancellation_signal first, second;
    int cancelled = 0;
    for (auto* signal : {&first, &second})
      workers::push_request_and_wait(
          w, add{100},
          asio::bind_cancellation_slot(signal->slot(), [&](workers::reply_result<add> r) {
            CHECK(r.error().code() == asio::error::operation_aborted);
            ++cancelled;
          }));
    REQUIRE(workers::pending_requests_length(w) == 2);
    std::optional<workers::error_code> waiting;  // a live producer, waiting for room
    workers::push_request(w, add{5}, [&](workers::error_code ec) { waiting = ec; });
    for (int i = 0; i < 10; ++i) co_await asio::post(io, asio::use_awaitable);
    REQUIRE_FALSE(waiting);

    first.emit(asio::cancellation_type::terminal);
    while (cancelled < 1 || !waiting) co_await asio::post(io, asio::use_awaitable);
    REQUIRE(*waiting == workers::error_code{});  // admitted in the place given back
    second.emit(asio::cancellation_type::terminal);
    while (cancelled < 2) co_await asio::post(io, asio::use_awaitable);
    // The worker is still held: nothing was taken, and yet the places are free.
    REQUIRE(workers::pending_requests_length(w) == 1);
    REQUIRE(workers::pending_requests(w).size() == 1);
    REQUIRE(workers::information(w).queue_length == 1);
    REQUIRE(workers::try_push_request_now(w, add{1}));
    REQUIRE_FALSE(workers::try_push_request_now(w, add{1000}));
    gate.open();
    auto sum = co_await workers::push_request_and_wait(w, add{0});
    REQUIRE(*sum == 5 + 1);  // neither 100 was handled
    co_await workers::shutdown(w);
  });
}

TEST_CASE_METHOD(
    bounded_fixture<2>,
    "bounded_queue: a push on a full queue waits for room, producers are admitted in FIFO order",
    "[bounded_queue]") {
  run(io, [&]() -> asio::awaitable<void> {
    busy_gate gate(io.get_executor());
    workers::try_push_request_now(w, gate.request());
    co_await gate.entered();
    REQUIRE(workers::try_push_request_now(w, add{1}));
    REQUIRE(workers::try_push_request_now(w, add{2}));
    std::vector<int> admitted;
    for (int i = 3; i <= 6; ++i)
      workers::push_request(w, add{i}, [&admitted, i](workers::error_code ec) {
        REQUIRE_FALSE(ec);
        admitted.push_back(i);
      });
    // Backpressure: while the worker is held, nobody gets in, whatever runs meanwhile.
    for (int i = 0; i < 20; ++i) co_await asio::post(io, asio::use_awaitable);
    REQUIRE(admitted.empty());
    REQUIRE(workers::pending_requests_length(w) == 2);
    REQUIRE_FALSE(workers::try_push_request_now(w, add{100}));  // others wait: FIFO
    gate.open();
    auto sum = co_await workers::push_request_and_wait(w, add{0});  // waits its turn too
    REQUIRE(*sum == 1 + 2 + 3 + 4 + 5 + 6);
    // The admissions complete on the worker's strand, in no set order with this reply.
    while (admitted.size() < 4) co_await asio::post(io, asio::use_awaitable);
    REQUIRE(admitted == std::vector<int>{3, 4, 5, 6});
    co_await workers::shutdown(w);
  });
  auto events = h.j->snapshot();
  REQUIRE(events.size() == 10);  // launch, hold, adds 1..6, add 0, close
  for (int i = 1; i <= 6; ++i) REQUIRE(events[i + 1] == fmt::format("done add {}", i));
}

TEST_CASE("bounded_queue: producers waiting for room when the worker closes get false or closed",
          "[bounded_queue]") {
  asio::io_context io;
  auto table = make_bounded_table(1);
  run(io, [&]() -> asio::awaitable<void> {
    auto w = co_await launch_ok(table, "close");
    busy_gate gate(io.get_executor());
    workers::try_push_request_now(w, gate.request());
    co_await gate.entered();
    REQUIRE(workers::try_push_request_now(w, add{1}));
    std::optional<workers::error_code> pushed;
    workers::push_request(w, add{2}, [&](workers::error_code ec) { pushed = ec; });
    auto waiting = workers::push_request_and_wait(w, add{3}, asio::use_future);
    co_await workers::shutdown(w);
    while (!pushed) co_await asio::post(io, asio::use_awaitable);
    REQUIRE(*pushed == workers::errc::closed);  // not enqueued
    auto r = waiting.get();
    REQUIRE(!r.has_value());
    REQUIRE(r.error().is_closed());
  });
}

TEST_CASE(
    "bounded_queue: a waiting push whose caller cancels completes with operation_aborted and is "
    "not enqueued",
    "[bounded_queue]") {
  asio::io_context io;
  auto table = make_bounded_table(1);
  calc_handlers h;
  run(io, [&]() -> asio::awaitable<void> {
    auto w = co_await launch_ok(table, "cancel", h);
    busy_gate gate(io.get_executor());
    workers::try_push_request_now(w, gate.request());
    co_await gate.entered();
    REQUIRE(workers::try_push_request_now(w, add{1}));
    asio::cancellation_signal signal;
    std::optional<workers::error_code> got;
    workers::push_request(
        w, add{100},
        asio::bind_cancellation_slot(signal.slot(), [&](workers::error_code ec) { got = ec; }));
    signal.emit(asio::cancellation_type::terminal);
    while (!got) co_await asio::post(io, asio::use_awaitable);
    REQUIRE(*got == asio::error::operation_aborted);
    gate.open();
    auto sum = co_await workers::push_request_and_wait(w, add{0});
    REQUIRE(*sum == 1);  // the cancelled 100 was never enqueued
    co_await workers::shutdown(w);
  });
  for (const auto& e : h.j->snapshot()) REQUIRE(e != "done add 100");
}

TEST_CASE(
    "bounded_queue: producer threads held back by backpressure on a multi-threaded io_context",
    "[bounded_queue]") {
  constexpr int producers = 4;
  constexpr int per_producer = 500;
  constexpr std::size_t capacity = 4;
  asio::io_context io(2);
  auto guard = asio::make_work_guard(io);
  std::vector<std::thread> pool;
  for (int i = 0; i < 2; ++i) pool.emplace_back([&] { io.run(); });
  auto table = make_bounded_table(capacity);
  calc_handlers h;
  auto w = *workers::launch(table, io.get_executor(), "mt", calc_parameters{}, h, asio::use_future)
                .get();
  std::atomic<std::size_t> max_seen{0};
  std::atomic<int> refused{0};  // Catch2 v2 assertions are not thread-safe: count, check later
  std::vector<std::thread> threads;
  for (int p = 0; p < producers; ++p)
    threads.emplace_back([&, p] {
      for (int i = 0; i < per_producer; ++i) {
        // Each push completes once admitted: the producer is held back while the queue is full.
        try {
          workers::push_request(w, add{p * 1000 + i}, asio::use_future).get();
        } catch (const boost::system::system_error&) {
          ++refused;
        }
        std::size_t len = workers::pending_requests_length(w);
        std::size_t seen = max_seen.load();
        while (len > seen && !max_seen.compare_exchange_weak(seen, len)) {
        }
      }
    });
  for (auto& t : threads) t.join();
  auto sum = workers::push_request_and_wait(w, add{0}, asio::use_future).get();
  workers::shutdown(w, asio::use_future).get();
  guard.reset();
  for (auto& t : pool) t.join();

  long expected = 0;
  for (int p = 0; p < producers; ++p)
    for (int i = 0; i < per_producer; ++i) expected += p * 1000 + i;
  REQUIRE(refused == 0);
  REQUIRE(*sum == expected);
  REQUIRE(max_seen.load() <= capacity);
  // Each producer's requests were handled in the order it pushed them.
  std::vector<int> last(producers, -1);
  for (const auto& e : h.j->snapshot()) {
    int amount = 0;
    if (std::sscanf(e.c_str(), "done add %d", &amount) != 1 || amount == 0) continue;
    const int p = amount / 1000, i = amount % 1000;
    REQUIRE(i > last[p]);
    last[p] = i;
  }
  for (int p = 0; p < producers; ++p) REQUIRE(last[p] == per_producer - 1);
}

}  // namespace bounded_queue_tests
