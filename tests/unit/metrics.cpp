// Metrics (<workers/metrics.hpp>): a worker's counters, gauges and histograms,
// exact on a manual clock, and what crashes, drops and cancellations count.

#include "support/calc.hpp"
#include "support/catch.hpp"
#include "support/fixture.hpp"
#include "support/run.hpp"

#include <workers/testing.hpp>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/deferred.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <variant>
#include <vector>

// Named, so that the unity build keeps each file's helpers apart.
namespace metrics_tests {

using namespace test;
using namespace std::chrono_literals;
using workers::testing::manual_clock;
using workers::testing::run_until_idle;

TEST_CASE("metrics: counters, gauges and histograms of a worker", "[metrics]") {
  asio::io_context io;
  auto table = make_table({.metrics = true});
  calc_handlers h;
  run(io, [&]() -> asio::awaitable<void> {
    auto w = co_await launch_ok(table, "m", h);
    add one{1};
    fail no{"no"};
    for (int i = 0; i < 3; ++i)
      (void)co_await workers::push_request_and_wait(w, one, asio::use_awaitable);
    (void)co_await workers::push_request_and_wait(w, no, asio::use_awaitable);
    // busy: one in flight, two waiting, seen together by full_status
    busy_gate gate(io.get_executor());
    workers::push_request_now(w, gate.request());
    co_await gate.entered();
    workers::push_request_now(w, add{5});
    workers::push_request_now(w, add{6});
    auto m = workers::metrics(w).value();
    CHECK(m.in_flight == 1);
    CHECK(m.queue_length == 2);
    const auto full = workers::full_status(w);
    CHECK(std::holds_alternative<workers::running>(full.status));
    REQUIRE(full.current_request);
    CHECK(full.current_request->view == "hold");
    REQUIRE(full.pending_requests.size() == 2);
    CHECK(full.pending_requests[0].view == "add 5");
    CHECK(full.pending_requests[1].view == "add 6");
    // the state's view, through the strand, between two handlers
    gate.open();
    auto view = co_await workers::state_view(w);
    CHECK(view == std::optional<int>(3 + 5 + 6));
    co_await workers::shutdown(w);
    CHECK(!workers::push_request_now(w, add{7}));
    m = workers::metrics(w).value();
    CHECK(m.handled == 7);  // 3 adds, fail, hold, add 5, add 6
    CHECK(m.failed == 1);
    CHECK(m.refused == 1);
    CHECK(m.in_flight == 0);
    CHECK(m.queue_length == 0);
    CHECK(m.queue_wait.count == m.handled);
    CHECK(m.service_time.count == m.handled);
    const auto idle = workers::full_status(w);
    CHECK(!idle.current_request);
  });
  // A table without metrics keeps none.
  auto plain = make_table();
  asio::io_context io2;
  run(io2, [&]() -> asio::awaitable<void> {
    auto w = co_await launch_ok(plain, "p", h);
    CHECK(!workers::metrics(w));
    co_await workers::shutdown(w);
  });
}

// A histogram's buckets, for comparing and printing.
std::vector<std::uint64_t> buckets(const workers::histogram& h) {
  return {h.buckets.begin(), h.buckets.end()};
}
// The histogram's sum of `d`, computed as the histogram computes it.
double seconds(std::chrono::nanoseconds d) { return static_cast<double>(d.count()) * 1e-9; }

TEST_CASE("metrics: on a manual clock, queue_wait and service_time land in exact buckets",
          "[metrics]") {
  asio::io_context io;
  auto clock = std::make_shared<manual_clock>();
  auto table = make_table({.metrics = true, .clock = clock});
  calc_handlers h;
  auto w = launch_now(io, table, "m", h, test_launch_options());
  // A hold taken at once, and one pushed behind it, measured: it waits `wait`
  // (until the first is let go) and is handled in `service`.
  const auto measure = [&](std::chrono::nanoseconds wait, std::chrono::nanoseconds service) {
    busy_gate first(io.get_executor()), measured(io.get_executor());
    workers::push_request_now(w, first.request());
    run_until_idle(io);
    workers::push_request_now(w, measured.request());
    clock->advance(wait);
    first.open();  // the first ends, in `wait`; the measured one is taken
    run_until_idle(io);
    clock->advance(service);
    measured.open();
    run_until_idle(io);  // it ends; the worker parks, which closes its service span
  };
  // Bounds (le): 1e-6, 1e-5, 1e-4, 1e-3, 5e-3, 1e-2, 5e-2, ... +Inf.
  using counts = std::vector<std::uint64_t>;
  measure(3ms, 5ms);  // pushed at t, taken at t + 3 ms, handled in 5 ms
  auto m = workers::metrics(w).value();
  CHECK(m.handled == 2);
  CHECK(m.in_flight == 0);
  // queue_wait: the first hold 0 (le 1e-6), the measured one 3 ms (le 5e-3)
  CHECK(buckets(m.queue_wait) == counts{1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0});
  CHECK(m.queue_wait.count == 2);
  CHECK(m.queue_wait.sum == seconds(3ms));
  // service_time: the first hold 3 ms, the measured one 5 ms, both le 5e-3 (a bound is inclusive)
  CHECK(buckets(m.service_time) == counts{0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0});
  CHECK(m.service_time.count == 2);
  CHECK(m.service_time.sum == seconds(8ms));
  // Spans end when the worker does, not when they are read.
  clock->advance(1h);
  m = workers::metrics(w).value();
  CHECK(m.service_time.sum == seconds(8ms));
  CHECK(m.queue_wait.sum == seconds(3ms));

  // On each bound and 1 ns past it.
  measure(1ms, 10ms);
  measure(1ms + 1ns, 10ms + 1ns);
  m = workers::metrics(w).value();
  CHECK(m.handled == 6);
  // waits: 0, 3 ms, 0, 1 ms, 0, 1 ms + 1 ns
  CHECK(buckets(m.queue_wait) == counts{3, 0, 0, 1, 2, 0, 0, 0, 0, 0, 0, 0, 0});
  CHECK(m.queue_wait.sum == seconds(5ms + 1ns));
  // services: 3 ms, 5 ms, 1 ms, 10 ms, 1 ms + 1 ns, 10 ms + 1 ns
  CHECK(buckets(m.service_time) == counts{0, 0, 0, 1, 3, 1, 1, 0, 0, 0, 0, 0, 0});
  CHECK(m.service_time.sum == seconds(30ms + 2ns));
  CHECK(m.service_time.count == 6);

  // A long one lands in +Inf.
  measure(0ns, 10s + 1ns);
  m = workers::metrics(w).value();
  CHECK(m.service_time.buckets.back() == 1);
  CHECK(m.queue_wait.buckets.front() == 5);
  shut_down(io, w);
}

TEST_CASE("metrics: crashes, drops and cancellations are counted", "[metrics]") {
  asio::io_context io;
  auto table = make_table({.metrics = true});
  calc_handlers h;
  run(io, [&]() -> asio::awaitable<void> {
    auto w = co_await launch_ok(table, "c", h);
    busy_gate gate(io.get_executor());
    workers::push_request_now(w, gate.request());
    co_await gate.entered();
    asio::cancellation_signal cancel;
    auto op = workers::push_request_and_wait(w, add{1}, asio::deferred);
    std::move(op)(asio::bind_cancellation_slot(cancel.slot(), [](auto) {}));
    cancel.emit(asio::cancellation_type::terminal);
    workers::push_request_now(w, boom{});
    workers::push_request_now(w, add{2});  // dropped: boom crashes the worker first
    gate.open();
    co_await workers::wait_for_completion(w);
    const auto m = workers::metrics(w).value();
    CHECK(m.cancelled == 1);
    CHECK(m.crashed == 1);
    CHECK(m.dropped == 1);
    CHECK(m.handled == 2);  // hold, boom
  });
}

}  // namespace metrics_tests
