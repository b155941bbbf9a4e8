// Stress with accounting: 1,000 workers of three kinds (infinite, bounded,
// dropbox) on 4 io threads, 8 producer threads sending push-and-wait /
// put-and-wait requests, while a chaos thread crashes workers, shuts them
// down and launches replacements. Every caller must be answered exactly once,
// and per worker: answers = requests sent, and what was handled = what was
// answered "ok". Usage: workers_stress [requests] (default 1,000,000).

#include "support/calc.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include <fmt/format.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <random>
#include <semaphore>
#include <string>
#include <thread>
#include <variant>
#include <vector>

using namespace test;

namespace {

constexpr int io_threads = 4;
constexpr int producers = 8;
constexpr int slots_per_kind = 334;  // 1,002 workers at any time
constexpr int in_flight_per_producer = 512;
constexpr auto time_limit = std::chrono::seconds(240);

// What happened to the requests of one worker.
struct account {
  std::atomic<long> sent{0}, answered{0}, ok{0}, closed{0}, exception{0}, dropped{0}, other{0};
  std::atomic<long> handled{0};  // amounts handled, counted by the handler
};

// Counts what the handler handles into the worker's account.
struct counting_handlers : calc_handlers {
  std::shared_ptr<account> acc;
  template <class W>
  workers::result<int, std::string> on_request(W& self, const add& r) {
    acc->handled += r.amount;
    return workers::state(self) += r.amount;
  }
  using calc_handlers::on_request;
};

using any_worker = std::variant<calc_worker, bounded_worker, dropbox_worker>;

struct slot {
  std::mutex mutex;
  any_worker worker;
  std::shared_ptr<account> acc;
  int generation = 0;
};

struct totals {
  long workers = 0, crashed = 0, shut_down = 0;
};

template <class Table>
typename Table::worker_type launch_one(Table& table, asio::io_context& io, const std::string& name,
                                       const std::shared_ptr<account>& acc) {
  counting_handlers h;
  h.acc = acc;
  auto r =
      workers::launch(table, io.get_executor(), name, calc_parameters{}, h, asio::use_future).get();
  if (!r) throw std::runtime_error(fmt::format("launch {}: {}", name, r.error()));
  return *r;
}

}  // namespace

int main(int argc, char** argv) {
  const long requests = argc > 1 ? std::atol(argv[1]) : 1'000'000;
  const auto start = std::chrono::steady_clock::now();
  std::atomic<bool> finished{false};
  std::thread watchdog([&] {
    while (!finished) {
      if (std::chrono::steady_clock::now() - start > time_limit) {
        std::fprintf(stderr, "stress: not finished after %lld s\n",
                     static_cast<long long>(time_limit.count()));
        std::_Exit(2);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });

  asio::io_context io(io_threads);
  auto guard = asio::make_work_guard(io);
  std::vector<std::thread> pool;
  for (int i = 0; i < io_threads; ++i) pool.emplace_back([&] { io.run(); });

  auto infinite_table = make_table();
  auto bounded_table = make_bounded_table(16);
  auto dropbox_table = make_dropbox_table();
  std::vector<std::shared_ptr<account>> accounts;  // every worker ever launched
  std::mutex accounts_mutex;
  totals t;

  const auto relaunch = [&](slot& s, int index) {
    auto acc = std::make_shared<account>();
    const auto name = fmt::format("w{}_{}", index, s.generation++);
    switch (index % 3) {
      case 0:
        s.worker = launch_one(infinite_table, io, name, acc);
        break;
      case 1:
        s.worker = launch_one(bounded_table, io, name, acc);
        break;
      default:
        s.worker = launch_one(dropbox_table, io, name, acc);
        break;
    }
    s.acc = acc;
    std::lock_guard lock(accounts_mutex);
    accounts.push_back(std::move(acc));
    ++t.workers;
  };

  std::vector<std::unique_ptr<slot>> slots;
  for (int i = 0; i < 3 * slots_per_kind; ++i) {
    slots.push_back(std::make_unique<slot>());
    relaunch(*slots.back(), i);
  }

  // Sends `r` to the slot's current worker, counting its answer. A boom put
  // into a dropbox may be merged away (dropped): then the worker is shut down
  // instead, so that the chaos thread's wait for its end completes.
  const auto send = [&](slot& s, auto r, std::counting_semaphore<>* window) {
    std::shared_ptr<account> acc;
    any_worker w;
    {
      std::lock_guard lock(s.mutex);
      acc = s.acc;
      w = s.worker;
    }
    ++acc->sent;
    auto on_answer = [acc, window, w](auto result) {
      ++acc->answered;
      if (result)
        ++acc->ok;
      else if (result.error().is_closed())
        ++acc->closed;
      else if (result.error().is_exception())
        ++acc->exception;
      else if (result.error().is_dropped()) {
        ++acc->dropped;
        if (!window) std::visit([](auto& worker) { workers::trigger_shutdown(worker); }, w);
      } else
        ++acc->other;
      if (window) window->release();
    };
    std::visit(
        [&](auto& worker) {
          if constexpr (std::is_same_v<std::decay_t<decltype(worker)>, dropbox_worker>)
            workers::put_request_and_wait(worker, std::move(r), std::move(on_answer));
          else
            workers::push_request_and_wait(worker, std::move(r), std::move(on_answer));
        },
        w);
  };

  // Chaos: crash a worker (boom) or shut one down, then launch its replacement.
  std::thread chaos([&] {
    std::mt19937 rng(7);
    while (!finished) {
      const int index = static_cast<int>(rng() % slots.size());
      slot& s = *slots[index];
      any_worker w;
      {
        std::lock_guard lock(s.mutex);
        w = s.worker;
      }
      if (rng() % 2) {
        send(s, boom{}, nullptr);
        ++t.crashed;
      } else {
        std::visit([](auto& worker) { workers::trigger_shutdown(worker); }, w);
        ++t.shut_down;
      }
      std::visit([](auto& worker) { workers::wait_for_completion(worker, asio::use_future).get(); },
                 w);
      {
        std::lock_guard lock(s.mutex);
        relaunch(s, index);
      }
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  });

  std::vector<std::thread> senders;
  for (int p = 0; p < producers; ++p)
    senders.emplace_back([&, p] {
      std::mt19937 rng(static_cast<unsigned>(p));
      std::counting_semaphore<> window(in_flight_per_producer);
      const long mine = requests / producers + (p < requests % producers ? 1 : 0);
      for (long i = 0; i < mine; ++i) {
        window.acquire();
        send(*slots[rng() % slots.size()], add{1}, &window);
      }
      for (int i = 0; i < in_flight_per_producer; ++i) window.acquire();  // all answered
    });
  for (auto& s : senders) s.join();
  finished = true;
  chaos.join();

  // Close everything, then check the accounts.
  for (auto& s : slots)
    std::visit([](auto& worker) { workers::shutdown(worker, asio::use_future).get(); }, s->worker);
  const std::size_t left = infinite_table.size() + bounded_table.size() + dropbox_table.size();
  guard.reset();
  for (auto& th : pool) th.join();
  watchdog.join();

  long sent = 0, answered = 0, ok = 0, closed = 0, exception = 0, dropped = 0, bad = 0;
  for (const auto& a : accounts) {
    sent += a->sent;
    answered += a->answered;
    ok += a->ok;
    closed += a->closed;
    exception += a->exception;
    dropped += a->dropped;
    // Each caller answered exactly once; what was handled is what was answered ok.
    if (a->answered != a->sent || a->handled != a->ok || a->other != 0) ++bad;
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf(
      "stress: %ld requests (%ld sent with the chaos thread's) to %ld workers (%ld crashed, %ld "
      "shut down) by %d producers on %d io threads in %.1f s\n"
      "  answered %ld exactly once: ok %ld, closed %ld, exception %ld, dropped %ld\n"
      "  workers whose accounts do not balance: %ld; workers left in tables: %zu\n",
      requests, sent, t.workers, t.crashed, t.shut_down, producers, io_threads, seconds, answered,
      ok, closed, exception, dropped, bad, left);
  return bad == 0 && left == 0 && answered == sent && sent >= requests ? 0 : 1;
}
