// Several producer threads and a multi-threaded io_context: every waiter is
// answered exactly once, whatever the interleaving with shutdowns.

#include "support/calc.hpp"
#include "support/catch.hpp"
#include "support/fixture.hpp"
#include "support/run.hpp"

#include <future>

#include <boost/asio/executor_work_guard.hpp>

#include <array>
#include <atomic>
#include <thread>

// Named, so that the unity build keeps each file's helpers apart.
namespace concurrency_tests {

using namespace test;
using namespace std::chrono_literals;
using boost::system::error_code;

TEST_CASE(
    "concurrency: producers on many threads push and wait on workers while some are shut down",
    "[concurrency]") {
  constexpr int worker_count = 8;
  constexpr int producer_count = 4;
  constexpr int per_producer = 2000;

  asio::io_context io(4);
  auto guard = asio::make_work_guard(io);
  std::vector<std::thread> pool;
  for (int i = 0; i < 4; ++i) pool.emplace_back([&] { io.run(); });

  auto table = make_table();
  std::vector<calc_worker> ws;
  for (int i = 0; i < worker_count; ++i) {
    auto r = workers::launch(table, io.get_executor(), fmt::format("w{}", i), calc_parameters{},
                             calc_handlers{}, asio::use_future)
                 .get();
    REQUIRE(r.has_value());
    ws.push_back(*r);
  }
  REQUIRE(table.size() == worker_count);

  // answers[p][i]: how many times request i of producer p was answered.
  std::vector<std::vector<std::atomic<int>>> answers(producer_count);
  std::atomic<long> ok_sum[worker_count] = {};
  std::atomic<int> closed{0}, succeeded{0}, other{0};
  std::atomic<int> outstanding{producer_count * per_producer};
  for (auto& a : answers) a = std::vector<std::atomic<int>>(per_producer);

  std::vector<std::thread> producers;
  for (int p = 0; p < producer_count; ++p) {
    producers.emplace_back([&, p] {
      for (int i = 0; i < per_producer; ++i) {
        const int target = (p + i) % worker_count;
        workers::push_request_and_wait(ws[target], add{1},
                                       [&, p, i, target](workers::reply_result<add> r) {
                                         answers[p][i].fetch_add(1);
                                         if (r) {
                                           ++succeeded;
                                           ok_sum[target].fetch_add(1);
                                         } else if (r.error().is_closed()) {
                                           ++closed;
                                         } else {
                                           ++other;
                                         }
                                         --outstanding;
                                       });
        // Half the workers are shut down while the traffic flows.
        if (p == 0 && i == per_producer / 2)
          for (int k = 0; k < worker_count; k += 2) workers::trigger_shutdown(ws[k]);
      }
    });
  }
  for (auto& t : producers) t.join();

  // Wait for every answer, with a watchdog.
  const auto deadline = std::chrono::steady_clock::now() + watchdog;
  while (outstanding.load() > 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::yield();
  REQUIRE(outstanding.load() == 0);

  // The surviving workers' state is exactly the number of adds they answered.
  for (int k = 1; k < worker_count; k += 2) {
    auto s = workers::with_state(
                 ws[k], [](int& v) { return v; }, asio::use_future)
                 .get();
    REQUIRE(s == static_cast<int>(ok_sum[k].load()));
  }
  for (auto& w : ws) workers::shutdown(w, asio::use_future).get();
  guard.reset();
  for (auto& t : pool) t.join();

  for (auto& per : answers)
    for (auto& a : per) REQUIRE(a.load() == 1);
  REQUIRE(succeeded + closed == producer_count * per_producer);
  REQUIRE(other == 0);
  REQUIRE(table.size() == 0);
  for (auto& w : ws) REQUIRE(std::holds_alternative<workers::closed>(workers::status(w)));
}

TEST_CASE("concurrency: introspection from other threads while workers are busy", "[concurrency]") {
  asio::io_context io(2);
  auto guard = asio::make_work_guard(io);
  std::vector<std::thread> pool;
  for (int i = 0; i < 2; ++i) pool.emplace_back([&] { io.run(); });
  auto table = make_table();
  auto w = *workers::launch(table, io.get_executor(), "intro", calc_parameters{}, calc_handlers{},
                            asio::use_future)
                .get();
  std::atomic<bool> stop{false};
  std::thread reader([&] {
    std::size_t seen = 0;
    while (!stop) {
      for (const auto& p : workers::pending_requests(w)) seen += p.view.size();
      if (auto c = workers::current_request(w)) seen += c->view.size();
      seen += workers::information(w).queue_length;
      (void)workers::status(w);
    }
    (void)seen;
  });
  for (int i = 0; i < 20000; ++i) workers::push_request_now(w, add{1});
  auto last = workers::push_request_and_wait(w, add{1}, asio::use_future).get();
  stop = true;
  reader.join();
  REQUIRE(*last == 20001);
  workers::shutdown(w, asio::use_future).get();
  guard.reset();
  for (auto& t : pool) t.join();
}

// Pending_requests with several producers.
TEST_CASE_METHOD(
    calc_fixture,
    "concurrency: pending_requests lists requests oldest first with several producer threads",
    "[concurrency]") {
  std::vector<workers::pending_request<std::string>> pending;
  int ticks = 0;
  run(io, [&]() -> asio::awaitable<void> {
    busy_gate gate(io.get_executor());
    workers::push_request_now(w, gate.request());
    co_await gate.entered();  // busy: whatever is pushed now waits in the queue
    std::atomic<bool> stop{false};
    std::vector<std::thread> producers;
    for (int i = 0; i < 4; ++i)
      producers.emplace_back([&] {
        for (int n = 0; n < 200'000 && !stop.load(std::memory_order_relaxed); ++n)
          workers::push_request_now(w, add{1});
      });
    // Until the coarse clock (kernel tick) has ticked 10 times, or the producers are done.
    auto last = workers::clock::now();
    const auto give_up = std::chrono::steady_clock::now() + 5s;
    while (ticks < 10 && std::chrono::steady_clock::now() < give_up) {
      const auto now = workers::clock::now();
      if (now != last) {
        ++ticks;
        last = now;
      }
      std::this_thread::yield();
    }
    stop = true;
    for (auto& t : producers) t.join();
    pending = workers::pending_requests(w);
    co_await workers::shutdown(w);
  });
  REQUIRE(pending.size() > 1);
  const auto later = [](const auto& a, const auto& b) { return a.pushed > b.pushed; };
  const auto inversion = std::adjacent_find(pending.begin(), pending.end(), later);
  const auto inversions = [&] {
    std::size_t n = 0;
    for (std::size_t i = 1; i < pending.size(); ++i)
      if (pending[i - 1].pushed > pending[i].pushed) ++n;
    return n;
  }();
  INFO(pending.size() << " pending requests over " << ticks << " clock ticks; " << inversions
                      << " of them pushed earlier than the one listed before them, the first at "
                      << (inversion - pending.begin()));
  CHECK(inversion == pending.end());
}

// An awaitable handler that never suspends.
struct tick_name {
  static constexpr std::string_view base[] = {"test", "tick"};
  using type = std::string;
};
// A request that carries a cancellation signal with a handler installed by its
// producer, a plain thread. Asio recycles the small blocks of cancellation
// handlers per io thread, which hides a block freed too early from ASan: a
// tick destroyed on an io thread hands its block to that thread's cache, so
// that the block the library frees goes back to the heap, where ASan sees it.
struct tick {
  using result_type = int;
  using error_type = std::string;
  std::shared_ptr<asio::cancellation_signal> signal;
};
struct tick_requests {
  using types = workers::request_types<tick>;
  using view_type = std::string;
  static std::string view(const tick&) { return "tick"; }
};
struct tick_types {
  using state_type = int;
  using parameters_type = int;
  using view_type = int;
  static int view(const int& s, const int&) { return s; }
};
using tick_group = workers::make_single<tick_name, tick_requests, tick_types>;

// An awaitable handler that completes without suspending.
struct instant_async {
  std::shared_ptr<std::atomic<int>> handled = std::make_shared<std::atomic<int>>(0);
  template <class W>
  asio::awaitable<workers::result<int, std::string>> on_request(W&, const tick&) {
    ++*handled;
    co_return 1;
  }
};

tick make_tick() {
  tick t{std::make_shared<asio::cancellation_signal>()};
  t.signal->slot().assign([](asio::cancellation_type) {});
  return t;
}

TEST_CASE(
    "concurrency: an awaitable handler that never suspends, woken over and over from another "
    "thread on two io threads, handles every request",
    "[concurrency]") {
  // Fails under ASan: heap-use-after-free in cancellation_slot::clear (the
  // worker's previous coroutine, still finishing, clears the cancellation
  // state its successor's spawn has destroyed), typically within the first
  // second. 50,000 requests in all: under a second in a plain build.
  constexpr int rounds = 5;
  constexpr int per_round = 10'000;
  asio::io_context io(2);
  auto table = tick_group::create_table(workers::infinite_queue{});
  instant_async h;
  run(
      io,
      [&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        std::string name = "instant";
        int p = 0;
        auto w = (co_await workers::launch(table, ex, std::move(name), p, h)).value();
        for (int round = 0; round < rounds; ++round) {
          auto done = std::make_shared<gate_channel>(ex, 1);
          std::thread producer([w, done, handled = h.handled] {
            for (int i = 0; i < per_round; ++i) {
              const int before = handled->load();
              workers::push_request_now(w, make_tick());
              // Pause, yielding, until the worker has handled it and parked again.
              for (int k = 0; k < 100'000 && handled->load() == before; ++k)
                std::this_thread::yield();
              for (int k = 0; k < 1'000 && workers::current_request(w); ++k)
                std::this_thread::yield();
            }
            done->try_send(error_code{});
          });
          co_await done->async_receive(asio::use_awaitable);
          producer.join();
          auto last = co_await workers::push_request_and_wait(w, make_tick());
          REQUIRE(last.has_value());
          REQUIRE(*h.handled == (round + 1) * (per_round + 1));
        }
        co_await workers::shutdown(w);
      },
      2, 60s);
}

}  // namespace concurrency_tests
