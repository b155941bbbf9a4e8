// Stress with accounting: 1,000 workers of three kinds (infinite, bounded,
// dropbox) on 4 io threads, 8 producer threads sending push-and-wait /
// put-and-wait requests (one in eight given up at a random moment), and
// fire-and-forget pushes that give up waiting for room at random moments,
// while a chaos thread crashes workers, shuts them down (in every mode, some
// with a deadline) and launches replacements; half the queue workers are
// supervised (transient: a crash restarts them, their queue and callers
// kept), and crashing one does not replace it. Every caller must be answered exactly once, and per
// worker: answers = requests sent; a push answered operation_aborted is never handled; and, for the
// queues, every request has exactly one outcome in the metrics, the one its caller was told. Usage:
// workers_stress [requests] (default 1,000,000).

#include "support/calc.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_future.hpp>

#include <fmt/format.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <semaphore>
#include <set>
#include <string>
#include <thread>
#include <utility>
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
  std::atomic<long> sent{0}, answered{0}, ok{0}, closed{0}, exception{0}, dropped{0}, cancelled{0},
      other{0};
  std::atomic<long> handled{0};  // amounts of the waited-for adds handled (add{1} each)
  // Fire-and-forget pushes (add{-id}): how they were answered, and which ids
  // the handler ran.
  std::atomic<long> pushes{0}, admitted{0}, refused{0}, aborted{0};
  std::mutex ids_mutex;
  std::set<int> handled_ids, aborted_ids;
};

// Counts what the handler handles into the worker's account.
struct counting_handlers : calc_handlers {
  std::shared_ptr<account> acc;
  template <class W>
  workers::result<int, std::string> on_request(W& self, const add& r) {
    if (r.amount < 0) {
      std::lock_guard lock(acc->ids_mutex);
      acc->handled_ids.insert(-r.amount);
    } else {
      acc->handled += r.amount;  // a dropbox's merge sums its callers' adds
    }
    return workers::state(self) += r.amount;
  }
  // A control request: counted as an add.
  template <class W>
  workers::result<int, std::string> on_request(W& self, const urgent& r) {
    acc->handled += r.amount;
    return workers::state(self) += r.amount;
  }
  using calc_handlers::on_request;
};

using any_worker = std::variant<calc_worker, bounded_worker, dropbox_worker>;
// Where a producer's completions run, and its cancellation signals are emitted
// (as Asio requires of a signal: on the executor of the operation's handler).
using producer_strand = asio::strand<asio::io_context::executor_type>;

struct slot {
  std::mutex mutex;
  any_worker worker;
  std::shared_ptr<account> acc;
  int generation = 0;
  bool supervised = false;  // a crash restarts the worker: it is not replaced
};

struct totals {
  long workers = 0, crashed = 0, shut_down = 0, restarted = 0;
};

template <class Table>
typename Table::worker_type launch_one(Table& table, asio::io_context& io, const std::string& name,
                                       const std::shared_ptr<account>& acc, bool supervised) {
  counting_handlers h;
  h.acc = acc;
  workers::launch_options o;
  if (supervised)  // restarted at every crash, after 0 to 100 us
    o.restart = {.policy = workers::restart_policy::transient,
                 .intensity = 1'000'000,
                 .period = std::chrono::seconds(1),
                 .backoff = workers::restart_backoff{std::chrono::microseconds(1),
                                                     std::chrono::microseconds(100), 0.5}};
  auto r =
      workers::launch(table, io.get_executor(), name, calc_parameters{}, h, o, asio::use_future)
          .get();
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

  const workers::table_options with_metrics{.metrics = true};
  auto infinite_table = make_table(with_metrics);
  auto bounded_table = make_bounded_table(2, with_metrics);
  auto dropbox_table = make_dropbox_table(with_metrics);
  // Every worker ever launched, with its account (the handle keeps its metrics readable).
  std::vector<std::pair<std::shared_ptr<account>, any_worker>> accounts;
  std::mutex accounts_mutex;
  totals t;

  const auto relaunch = [&](slot& s, int index) {
    auto acc = std::make_shared<account>();
    const auto name = fmt::format("w{}_{}", index, s.generation++);
    s.supervised = index % 3 != 2 && (index / 3) % 2 == 0;
    switch (index % 3) {
      case 0:
        s.worker = launch_one(infinite_table, io, name, acc, s.supervised);
        break;
      case 1:
        s.worker = launch_one(bounded_table, io, name, acc, s.supervised);
        break;
      default:
        s.worker = launch_one(dropbox_table, io, name, acc, false);
        break;
    }
    s.acc = acc;
    std::lock_guard lock(accounts_mutex);
    accounts.emplace_back(std::move(acc), s.worker);
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
  const auto send = [&](slot& s, auto r, std::counting_semaphore<>* window,
                        const producer_strand& strand, bool give_up) {
    std::shared_ptr<account> acc;
    any_worker w;
    {
      std::lock_guard lock(s.mutex);
      acc = s.acc;
      w = s.worker;
    }
    ++acc->sent;
    // The signal outlives the operation: the completion handler holds it.
    auto signal = std::make_shared<asio::cancellation_signal>();
    auto on_answer = [acc, window, w, signal](auto result) {
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
      } else if (result.error().code() == asio::error::operation_aborted)
        ++acc->cancelled;
      else
        ++acc->other;
      if (window) window->release();
    };
    auto handler = asio::bind_executor(
        strand, asio::bind_cancellation_slot(signal->slot(), std::move(on_answer)));
    std::visit(
        [&](auto& worker) {
          if constexpr (std::is_same_v<std::decay_t<decltype(worker)>, dropbox_worker>)
            workers::put_request_and_wait(worker, std::move(r), std::move(handler));
          else
            workers::push_request_and_wait(worker, std::move(r), std::move(handler));
        },
        w);
    if (give_up) asio::post(strand, [signal] { signal->emit(asio::cancellation_type::terminal); });
  };

  // A fire-and-forget push to a queue worker, its id its negated amount; it
  // gives up waiting for room (if it waits) `patience` iterations later.
  std::atomic<int> next_id{0};
  const auto push = [&](slot& s, std::counting_semaphore<>& window, const producer_strand& strand,
                        unsigned patience) {
    std::shared_ptr<account> acc;
    any_worker w;
    {
      std::lock_guard lock(s.mutex);
      acc = s.acc;
      w = s.worker;
    }
    if (std::holds_alternative<dropbox_worker>(w)) return false;
    ++acc->pushes;
    const int id = ++next_id;
    auto signal = std::make_shared<asio::cancellation_signal>();
    auto on_answer = [acc, &window, signal, id](workers::error_code ec) {
      if (!ec) {
        ++acc->admitted;
      } else if (ec == asio::error::operation_aborted) {
        ++acc->aborted;
        std::lock_guard lock(acc->ids_mutex);
        acc->aborted_ids.insert(id);
      } else {
        ++acc->refused;
      }
      window.release();
    };
    std::visit(
        [&](auto& worker) {
          if constexpr (!std::is_same_v<std::decay_t<decltype(worker)>, dropbox_worker>)
            workers::push_request(
                worker, add{-id},
                asio::bind_executor(
                    strand, asio::bind_cancellation_slot(signal->slot(), std::move(on_answer))));
        },
        w);
    asio::post(strand, [signal, patience] {
      for (unsigned i = 0; i < patience; ++i) std::atomic_signal_fence(std::memory_order_seq_cst);
      signal->emit(asio::cancellation_type::terminal);
    });
    return true;
  };

  // Chaos: crash a worker (boom) or shut one down, then launch its replacement.
  std::thread chaos([&] {
    const producer_strand chaos_strand(io.get_executor());
    std::mt19937 rng(7);
    while (!finished) {
      const int index = static_cast<int>(rng() % slots.size());
      slot& s = *slots[index];
      any_worker w;
      bool supervised = false;
      {
        std::lock_guard lock(s.mutex);
        w = s.worker;
        supervised = s.supervised;
      }
      if (rng() % 2) {
        send(s, boom{}, nullptr, chaos_strand, false);
        if (supervised) {  // it restarts by itself, its queue waiting
          ++t.restarted;
          std::this_thread::sleep_for(std::chrono::microseconds(200));
          continue;
        }
        ++t.crashed;
      } else {
        // Every mode, with a deadline now and then (which escalates a drain under load).
        const auto mode = static_cast<workers::shutdown_mode>(rng() % 3);
        const auto deadline =
            rng() % 2
                ? workers::no_deadline
                : std::chrono::steady_clock::duration(std::chrono::microseconds(rng() % 2000));
        std::visit([&](auto& worker) { workers::trigger_shutdown(worker, mode, deadline); }, w);
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
      const producer_strand strand(io.get_executor());
      const long mine = requests / producers + (p < requests % producers ? 1 : 0);
      for (long i = 0; i < mine; ++i) {
        window.acquire();
        slot& target = *slots[rng() % slots.size()];
        if (rng() % 4 == 0 && push(target, window, strand, rng() % 300)) continue;
        if (rng() % 16 == 0)  // a control request, ahead of the rest
          send(target, urgent{1}, &window, strand, rng() % 8 == 0);
        else
          send(target, add{1}, &window, strand, rng() % 8 == 0);
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

  long sent = 0, answered = 0, ok = 0, closed = 0, exception = 0, dropped = 0, cancelled = 0,
       pushes = 0, aborted = 0, aborted_handled = 0, bad = 0, unbalanced = 0, restarts = 0;
  for (const auto& [a, w] : accounts) {
    sent += a->sent;
    answered += a->answered;
    ok += a->ok;
    closed += a->closed;
    exception += a->exception;
    dropped += a->dropped;
    cancelled += a->cancelled;
    pushes += a->pushes;
    aborted += a->aborted;
    // Each caller answered exactly once; an add answered ok was handled, and
    // one handled was answered ok, or its caller had given up (its result discarded).
    if (a->answered != a->sent || a->handled < a->ok || a->handled > a->ok + a->cancelled ||
        a->other != 0 || a->admitted + a->aborted + a->refused != a->pushes)
      ++bad;
    // A push answered operation_aborted ("not enqueued") is never handled.
    for (int id : a->aborted_ids) aborted_handled += a->handled_ids.count(id);
    // Queues: one outcome per request, the one its caller was told (a
    // dropbox's merges share callers between requests: the model test counts those).
    if (std::holds_alternative<dropbox_worker>(w)) continue;
    const auto m = std::visit([](const auto& worker) { return workers::metrics(worker); }, w);
    if (m) restarts += static_cast<long>(m->restarts);
    const long handled_pushes = static_cast<long>(a->handled_ids.size());
    const auto requests = static_cast<std::uint64_t>(a->sent + a->pushes);
    if (!m || m->handled + m->cancelled + m->dropped + m->refused != requests ||
        m->handled != static_cast<std::uint64_t>(a->ok + a->exception + handled_pushes) ||
        m->cancelled != static_cast<std::uint64_t>(a->cancelled + a->aborted) ||
        m->dropped + m->refused != static_cast<std::uint64_t>(a->closed + a->dropped + a->refused +
                                                              a->admitted - handled_pushes))
      ++unbalanced;
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf(
      "stress: %ld requests (%ld sent with the chaos thread's) to %ld workers (%ld crashed, %ld "
      "crashed and restarted, %ld restarts counted, %ld shut down) by %d producers on %d io "
      "threads in %.1f s\n"
      "  answered %ld exactly once: ok %ld, closed %ld, exception %ld, dropped %ld, cancelled %ld\n"
      "  pushes %ld, aborted while waiting for room %ld, of those handled anyway %ld\n"
      "  workers whose accounts do not balance: %ld; whose metrics' outcomes do not: %ld; "
      "workers left in tables: %zu\n",
      requests, sent, t.workers, t.crashed, t.restarted, restarts, t.shut_down, producers,
      io_threads, seconds, answered, ok, closed, exception, dropped, cancelled, pushes, aborted,
      aborted_handled, bad, unbalanced, left);
  // A restart counted for a boom that a supervised worker did not handle
  // (closed meanwhile) is not one, hence at most.
  return bad == 0 && unbalanced == 0 && aborted_handled == 0 && left == 0 && answered == sent &&
                 sent + pushes >= requests && restarts <= t.restarted && restarts > 0
             ? 0
             : 1;
}
