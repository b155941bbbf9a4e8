// Several producer threads and a multi-threaded io_context: every waiter is
// answered exactly once, whatever the interleaving with shutdowns.

#include "support/calc.hpp"
#include "support/catch.hpp"
#include "support/run.hpp"

#include <boost/asio/executor_work_guard.hpp>

#include <array>
#include <atomic>
#include <thread>

using namespace test;

TEST_CASE(
    "concurrency: producers on many threads push and wait on workers while some are shut down") {
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

TEST_CASE("concurrency: introspection from other threads while workers are busy") {
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
