// launch_options (<workers/launch_options.hpp>): the idle timeout
// (on_no_request), and how callers are answered (reply_mode), beyond what the
// contract tests run under both modes.

#include "support/calc.hpp"
#include "support/catch.hpp"
#include "support/run.hpp"

#include <workers/testing.hpp>
#include <workers/workers.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

// Named, so that the unity build keeps each file's helpers apart.
namespace launch_options_tests {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using boost::system::error_code;
using namespace test;
using workers::testing::manual_clock;
using workers::testing::run_for;
using workers::testing::run_until_idle;

// A link of a chain: its handler awaits the next link's reply, as a pipeline
// of workers calling each other does (dotnet/coreclr#1191's shape).
struct relay {
  using result_type = std::size_t;
  using error_type = std::string;
  std::shared_ptr<const std::function<asio::awaitable<std::size_t>(std::size_t)>> next;
  std::size_t at = 0;
};
struct chain_name {
  static constexpr std::string_view base[] = {"test", "chain"};
  using type = std::size_t;
};
struct chain_requests {
  using types = workers::request_types<relay>;
  using view_type = std::size_t;
  static std::size_t view(const relay& r) { return r.at; }
};
struct chain_types {
  using state_type = int;
  using parameters_type = int;
  using view_type = int;
  static int view(const int& state, const int&) { return state; }
};
using chain = workers::make_single<chain_name, chain_requests, chain_types>;
using chain_table = chain::table<workers::queue<workers::infinite>>;
using chain_worker = chain::worker<workers::queue<workers::infinite>>;

// The deepest and shallowest stack addresses the links' handlers ran at.
struct stack_span {
  std::uintptr_t low = UINTPTR_MAX;
  std::uintptr_t high = 0;
  void note() {
    char here = 0;
    const auto at = reinterpret_cast<std::uintptr_t>(&here);
    low = std::min(low, at);
    high = std::max(high, at);
  }
};

struct chain_handlers {
  std::size_t links = 0;
  std::shared_ptr<stack_span> span;
  template <class W>
  int on_launch(W&, std::size_t, int) {
    return 0;
  }
  template <class W>
  asio::awaitable<workers::result<std::size_t, std::string>> on_request(W&, const relay& r) {
    if (r.at + 1 == links) co_return 0;
    const std::size_t rest = co_await (*r.next)(r.at + 1);
    span->note();  // resumed by the next link's reply: as deep as replies nest
    co_return rest + 1;
  }
};

// 100,000 links (fewer under valgrind and TSan: WORKERS_TEST_CHAIN_LINKS; 20,000 nested replies
// would still take several MiB of stack).
std::size_t chain_links() {
  const char* v = std::getenv("WORKERS_TEST_CHAIN_LINKS");
  return v != nullptr ? std::strtoul(v, nullptr, 10) : 100'000;
}

TEST_CASE(
    "launch_options: dispatched replies along a 100,000-link chain of awaiting handlers keep the "
    "stack shallow",
    "[launch_options]") {
  const std::size_t links = chain_links();
  asio::io_context io;
  auto table = chain::create_table(workers::infinite_queue{});
  auto span = std::make_shared<stack_span>();
  std::vector<chain_worker> workers_;
  workers_.reserve(links);
  std::shared_ptr<const std::function<asio::awaitable<std::size_t>(std::size_t)>> next;
  next = std::make_shared<std::function<asio::awaitable<std::size_t>(std::size_t)>>(
      [&](std::size_t at) -> asio::awaitable<std::size_t> {
        // Named: GCC 12 destroys a class temporary of a co_await expression
        // twice (README, Compilers).
        relay link{next, at};
        auto r = co_await workers::push_request_and_wait(workers_[at], std::move(link),
                                                         asio::use_awaitable);
        co_return r.value();
      });
  std::size_t answer = 0;
  test::run(
      io,
      [&]() -> asio::awaitable<void> {
        const auto ex = co_await asio::this_coro::executor;
        const workers::launch_options dispatched{.reply = workers::reply_mode::dispatch};
        for (std::size_t i = 0; i < links; ++i) {
          chain_handlers h{links, span};
          auto w = co_await workers::launch(table, ex, i, 0, h, dispatched, asio::use_awaitable);
          workers_.push_back(w.value());
        }
        relay first{next, 0};
        auto r = co_await workers::push_request_and_wait(workers_[0], std::move(first),
                                                         asio::use_awaitable);
        answer = r.value();
        for (auto& w : workers_) workers::trigger_shutdown(w);
      },
      1, std::chrono::seconds(50));  // heavy under a sanitizer; below ctest's 60 s
  REQUIRE(answer == links - 1);
  // Each nested reply costs a few hundred bytes of stack: unbounded, the chain
  // would take tens of MiB (and crash an 8 MiB stack past ~12,000 links).
  REQUIRE(span->high - span->low < 1024 * 1024);
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

TEST_CASE("launch_options: on_no_request runs after the idle timeout, not while requests flow",
          "[launch_options]") {
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

}  // namespace launch_options_tests
