// What only a callback worker does: reading on demand (never ahead), the end
// of its source, read faults, and the idle timeout beside a pending read.

#include "support/calc.hpp"
#include "support/catch.hpp"
#include "support/run.hpp"

#include <workers/testing.hpp>

#include <atomic>
#include <optional>
#include <stdexcept>

// Named, so that the unity build keeps each file's helpers apart.
namespace callback_tests {

using namespace test;
using workers::errc;

const calc_parameters no_parameters{};

using namespace std::chrono_literals;
using workers::testing::manual_clock;
using workers::testing::run_for;
using workers::testing::run_until_idle;

// Logs when on_no_request runs, in ms of the clock since its launch.
struct idle_log : calc_handlers {
  std::shared_ptr<manual_clock> clock;
  workers::steady_clock::time_point start = clock->steady_now();
  std::shared_ptr<std::vector<double>> at = std::make_shared<std::vector<double>>();
  explicit idle_log(std::shared_ptr<manual_clock> c) : clock(std::move(c)) {}
  template <class W>
  void on_no_request(W&) {
    at->push_back(std::chrono::duration<double, std::milli>(clock->steady_now() - start).count());
  }
};

TEST_CASE("callback: reads 10 requests in order, and the end of the stream closes it normally",
          "[callback]") {
  asio::io_context io;
  auto table = make_callback_table();
  calc_handlers h;
  callback_worker w;
  run(io, [&]() -> asio::awaitable<void> {
    auto stream = std::make_shared<request_stream>(io.get_executor());
    const calc_parameters p{.stream = stream};
    w = co_await launch_as<callback_worker>(table, "c", h, p);
    for (int i = 1; i <= 10; ++i) stream->send(add{i});
    stream->close();
    co_await workers::wait_for_completion(w);
  });
  std::vector<std::string> expected{"launch c"};
  for (int i = 1; i <= 10; ++i) expected.push_back(fmt::format("done add {}", i));
  expected.push_back("close");
  REQUIRE(h.j->snapshot() == expected);
  REQUIRE_FALSE(std::get<workers::closed>(workers::status(w)).crash_errors);
}

TEST_CASE("callback: a plain read is called only when the worker wants a request", "[callback]") {
  asio::io_context io;
  auto source = std::make_shared<std::deque<calc_any>>();
  auto reads = std::make_shared<int>(0);  // the strand only
  auto table = calc::create_table(
      workers::callback_source{[source, reads](callback_worker&) -> std::optional<calc_any> {
        ++*reads;
        if (source->empty()) return std::nullopt;
        auto r = std::move(source->front());
        source->pop_front();
        return r;
      }});
  calc_handlers h;
  busy_gate gate(io.get_executor());
  source->push_back(gate.request());
  for (int i = 1; i <= 3; ++i) source->push_back(add{i});
  run(io, [&]() -> asio::awaitable<void> {
    auto w = co_await launch_as<callback_worker>(table, "c", h, no_parameters);
    co_await gate.entered();
    // Busy: nothing was read ahead, nothing is pending.
    const auto while_busy = co_await workers::with_state(w, [&](int&) { return *reads; });
    REQUIRE(while_busy == 1);
    REQUIRE(workers::pending_requests_length(w) == 0);
    REQUIRE(workers::current_request(w)->view == "hold");
    gate.open();
    co_await workers::wait_for_completion(w);  // the source ran dry
  });
  REQUIRE(*reads == 5);  // hold, three adds, and the end
  REQUIRE(h.j->snapshot() == std::vector<std::string>{"launch c", "done hold", "done add 1",
                                                      "done add 2", "done add 3", "close"});
}

TEST_CASE("callback: the idle timeout fires while a read is pending and loses nothing",
          "[callback]") {
  asio::io_context io;
  auto clock = std::make_shared<manual_clock>();
  auto table = make_callback_table({.clock = clock});
  idle_log h(clock);
  auto stream = std::make_shared<request_stream>(io.get_executor());
  const calc_parameters p{.stream = stream};
  auto options = test_launch_options();
  options.timeout = 40ms;
  std::optional<callback_worker> w;
  workers::launch(table, io, "c", p, h, options, [&](auto r) { w.emplace(std::move(r).value()); });
  run_until_idle(io);
  REQUIRE(w);
  run_for(io, *clock, 100ms);  // the read waits; on_no_request runs beside it
  CHECK(*h.at == std::vector<double>{40, 80});
  stream->send(add{5});  // at 100 ms: read and handled; idle again from 100
  run_until_idle(io);
  run_for(io, *clock, 100ms);
  CHECK(*h.at == std::vector<double>{40, 80, 140, 180});
  stream->send(add{7});  // at 200 ms
  run_until_idle(io);
  run_for(io, *clock, 40ms - 1ns);
  CHECK(h.at->size() == 4);
  run_for(io, *clock, 1ns);
  CHECK(*h.at == std::vector<double>{40, 80, 140, 180, 240});
  std::optional<int> sum;
  workers::with_state(
      *w, [](int& s) { return s; }, [&](std::exception_ptr, std::optional<int> s) { sum = s; });
  run_until_idle(io);
  CHECK(sum == 12);  // neither request was lost to an on_no_request
  bool closed = false;
  workers::shutdown(*w, [&](boost::system::error_code) { closed = true; });
  run_until_idle(io);
  REQUIRE(closed);
  REQUIRE(h.j->closes == 1);
  CHECK(h.j->snapshot() ==
        std::vector<std::string>{"launch c", "done add 5", "done add 7", "close"});
}

TEST_CASE("callback: a read that throws crashes the worker", "[callback]") {
  asio::io_context io;
  auto table = calc::create_table(workers::callback_source{
      [](callback_worker& self) -> asio::awaitable<std::optional<calc_any>> {
        auto r = co_await self.parameters().stream->read();
        if (r && std::holds_alternative<boom>(*r)) throw std::runtime_error("bad read");
        co_return r;
      }});
  calc_handlers h;
  callback_worker w;
  run(io, [&]() -> asio::awaitable<void> {
    auto stream = std::make_shared<request_stream>(io.get_executor());
    const calc_parameters p{.stream = stream};
    w = co_await launch_as<callback_worker>(table, "c", h, p);
    stream->send(add{1});
    stream->send(boom{});
    co_await workers::wait_for_completion(w);
  });
  REQUIRE(std::get<workers::closed>(workers::status(w)).crash_errors ==
          workers::error_list{"read threw: bad read"});
  REQUIRE(h.j->snapshot() == std::vector<std::string>{"launch c", "done add 1", "close"});
}

}  // namespace callback_tests
