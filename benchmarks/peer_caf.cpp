// Peer `caf`: CAF 0.17 event-based actors (compiled only when CMake found CAF).
//
//   * Single-thread workloads (A1, B1, C1, D): scheduler.max-threads = 1, the
//     process is pinned (bench::pin_cpu) before the actor_system is built so
//     its threads inherit the mask; producer / caller are event-based actors.
//   * Two-thread workloads (A2, B2, C2): scheduler.max-threads = 2; the worker
//     actor runs on the scheduler, the producer / caller is the benchmark
//     thread itself (anon_send for A2, a scoped_actor for B2 and C2), so the
//     two sides are guaranteed to be on different OS threads.
//   * B: request(...).then(...) from an event-based caller (B1) and
//     request(...).receive(...) from a scoped_actor (B2); the worker simply
//     returns v + 1.  B2/caf_event_based additionally runs B1's event-based
//     caller on the 2-thread scheduler (faster, but CAF is free to keep both
//     actors on one thread, so it is not a true cross-thread round trip).
//     Note: with the default work-stealing policy an idle CAF scheduler thread
//     polls and then sleeps (moderate-sleep-duration, 50 us) instead of
//     blocking, which dominates B2/caf's latency.
//   * C: CAF mailboxes are unbounded, so the bound of 64 is emulated with
//     credit: the producer may have at most 64 unacknowledged messages, the
//     worker grants 32 more credits after every 32 messages it handled.
//   * D: 100,000 idle actors in a std::vector<caf::actor>; shutdown sends an
//     exit message to each and waits with await_all_actors_done().
//   * E_<N>: N summing actors (spawned and initialised outside [begin, end]) on
//     the pinned 1-thread scheduler; an event-based producer sends value i to
//     actor i % N in one go (as A1's), a plain `handled` counter spots the end.
//   * F_<T>: 1,000 actors on a T-thread scheduler (T = 1, 2); two producer
//     std::threads released by a std::latch anon_send half of the values each
//     (producer p: values p * fire_count / 2 + i, i to actor (i + p) % 1,000);
//     `handled` is a std::atomic.  Torn down like E (exit to every actor).
//   * G: CAF has no merging mailbox, so every put {v, n = 1} is an ordinary
//     (two-value) message, anon_sent from the benchmark thread to one actor on
//     the 2-thread scheduler (as A2); labelled "no merge: every put is a message".
#include "support.hpp"

#include <caf/all.hpp>

#include <atomic>
#include <future>
#include <iterator>
#include <latch>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

namespace {

using credit_atom = caf::atom_constant<caf::atom("credit")>;

constexpr std::uint64_t credit_grant = bench::bounded_capacity / 2;

caf::actor_system_config make_config(int threads) {
  caf::actor_system_config cfg;
  cfg.set("scheduler.max-threads", threads);
  return cfg;
}

// A and C.

struct fire_result {
  bench::stamp begin;
  bench::stamp end;
  std::uint64_t sum = 0;
  std::promise<void> done;
};

struct sum_state {
  std::uint64_t sum = 0;
  std::size_t got = 0;
};

/// The worker: sums values; with `grant_credit` it gives credit back every
/// credit_grant messages (C workloads).
caf::behavior sum_worker(caf::stateful_actor<sum_state>* self, fire_result* out, bool grant_credit,
                         std::latch* ready) {
  if (ready) ready->count_down();
  return {[=](std::uint64_t v) {
    auto& st = self->state;
    st.sum += v;
    ++st.got;
    if (grant_credit && st.got % credit_grant == 0)
      self->send(caf::actor_cast<caf::actor>(self->current_sender()), credit_atom::value,
                 credit_grant);
    if (st.got == bench::fire_count) {
      out->end = bench::stamp::now();
      out->sum = st.sum;
      out->done.set_value();
      self->quit();
    }
  }};
}

/// A1 producer: fire everything, then terminate.
caf::behavior unbounded_producer(caf::event_based_actor* self, caf::actor worker,
                                 fire_result* out) {
  out->begin = bench::stamp::now();
  for (std::uint64_t i = 0; i < bench::fire_count; ++i) self->send(worker, i);
  return {};
}

struct credit_state {
  std::uint64_t next = 0;
  std::uint64_t credit = bench::bounded_capacity;
};

void pump(caf::stateful_actor<credit_state>* self, const caf::actor& worker) {
  auto& st = self->state;
  while (st.credit > 0 && st.next < bench::fire_count) {
    self->send(worker, st.next++);
    --st.credit;
  }
  if (st.next == bench::fire_count) self->quit();
}

/// C1 producer: at most bounded_capacity messages in flight.
caf::behavior bounded_producer(caf::stateful_actor<credit_state>* self, caf::actor worker,
                               fire_result* out) {
  out->begin = bench::stamp::now();
  pump(self, worker);
  return {[=](credit_atom, std::uint64_t n) {
    self->state.credit += n;
    pump(self, worker);
  }};
}

void fire_one_thread(benchmark::State& state, bool bounded) {
  bench::pin_cpu pin;
  caf::actor_system_config cfg = make_config(1);
  caf::actor_system sys{cfg};
  for (auto _ : state) {
    fire_result r;
    auto done = r.done.get_future();
    auto worker = sys.spawn(sum_worker, &r, bounded, nullptr);
    if (bounded)
      sys.spawn(bounded_producer, worker, &r);
    else
      sys.spawn(unbounded_producer, worker, &r);
    done.wait();
    worker = nullptr;
    sys.await_all_actors_done();
    if (r.sum != bench::expected_sum(bench::fire_count)) return bench::fail(state, "wrong sum");
    bench::record(state, r.begin, r.end, bench::fire_count);
  }
}

void fire_two_threads(benchmark::State& state, bool bounded) {
  caf::actor_system_config cfg = make_config(2);
  caf::actor_system sys{cfg};
  for (auto _ : state) {
    fire_result r;
    auto done = r.done.get_future();
    std::latch ready{1};
    auto worker = sys.spawn(sum_worker, &r, bounded, &ready);
    ready.wait();
    if (bounded) {
      caf::scoped_actor self{sys};
      std::uint64_t credit = bench::bounded_capacity;
      r.begin = bench::stamp::now();
      for (std::uint64_t i = 0; i < bench::fire_count; ++i) {
        while (credit == 0) self->receive([&](credit_atom, std::uint64_t n) { credit += n; });
        self->send(worker, i);
        --credit;
      }
      done.wait();
    } else {
      r.begin = bench::stamp::now();
      for (std::uint64_t i = 0; i < bench::fire_count; ++i) caf::anon_send(worker, i);
      done.wait();
    }
    worker = nullptr;
    sys.await_all_actors_done();
    if (r.sum != bench::expected_sum(bench::fire_count)) return bench::fail(state, "wrong sum");
    bench::record(state, r.begin, r.end, bench::fire_count);
  }
}

// B.

caf::behavior echo_worker(caf::event_based_actor*, std::latch* ready) {
  if (ready) ready->count_down();
  return {[](std::uint64_t v) { return v + 1; }};
}

struct roundtrip_result {
  bench::stamp begin;
  bench::stamp end;
  bool ok = true;
  std::promise<void> done;
};

struct caller_state {
  std::uint64_t next = 0;
};

void call_next(caf::stateful_actor<caller_state>* self, const caf::actor& worker,
               roundtrip_result* out) {
  const std::uint64_t i = self->state.next++;
  self->request(worker, caf::infinite, i)
      .then(
          [=](std::uint64_t r) {
            out->ok = out->ok && r == i + 1;
            if (self->state.next < bench::roundtrip_count) {
              call_next(self, worker, out);
            } else {
              out->end = bench::stamp::now();
              out->done.set_value();
              self->quit();
            }
          },
          [=](caf::error&) {
            out->ok = false;
            out->done.set_value();
            self->quit();
          });
}

caf::behavior caller(caf::stateful_actor<caller_state>* self, caf::actor worker,
                     roundtrip_result* out) {
  out->begin = bench::stamp::now();
  call_next(self, worker, out);
  return {[](credit_atom) {}};  // never used; keeps the actor alive between replies
}

void roundtrip_event_based(benchmark::State& state, caf::actor_system_config& cfg) {
  caf::actor_system sys{cfg};
  for (auto _ : state) {
    roundtrip_result r;
    auto done = r.done.get_future();
    auto worker = sys.spawn(echo_worker, nullptr);
    sys.spawn(caller, worker, &r);
    done.wait();
    caf::anon_send_exit(worker, caf::exit_reason::user_shutdown);
    worker = nullptr;
    sys.await_all_actors_done();
    if (!r.ok) return bench::fail(state, "wrong reply");
    bench::record(state, r.begin, r.end, bench::roundtrip_count);
  }
}

void roundtrip_one_thread(benchmark::State& state) {
  bench::pin_cpu pin;
  caf::actor_system_config cfg = make_config(1);
  roundtrip_event_based(state, cfg);
}

/// Extra, for information: B1's event-based caller on a 2-thread scheduler.
/// CAF decides where the two actors run and mostly keeps them on one thread,
/// so this is not a genuine cross-thread round trip (B2/caf is).
void roundtrip_two_threads_event_based(benchmark::State& state) {
  caf::actor_system_config cfg = make_config(2);
  roundtrip_event_based(state, cfg);
  bench::label(state, "event-based caller; CAF may run both actors on one thread");
}

void roundtrip_two_threads(benchmark::State& state) {
  caf::actor_system_config cfg = make_config(2);
  caf::actor_system sys{cfg};
  for (auto _ : state) {
    bool ok = true;
    bench::stamp begin, end;
    std::latch ready{1};
    auto worker = sys.spawn(echo_worker, &ready);
    ready.wait();
    {
      caf::scoped_actor self{sys};
      begin = bench::stamp::now();
      for (std::uint64_t i = 0; i < bench::roundtrip_count; ++i)
        self->request(worker, caf::infinite, i)
            .receive([&](std::uint64_t r) { ok = ok && r == i + 1; },
                     [&](caf::error&) { ok = false; });
      end = bench::stamp::now();
    }
    caf::anon_send_exit(worker, caf::exit_reason::user_shutdown);
    worker = nullptr;
    sys.await_all_actors_done();
    if (!ok) return bench::fail(state, "wrong reply");
    bench::record(state, begin, end, bench::roundtrip_count);
  }
}

// D.

struct idle_state {
  std::uint64_t sum = 0;
};

caf::behavior idle_actor(caf::stateful_actor<idle_state>* self, std::latch* started) {
  started->count_down();
  return {[=](std::uint64_t v) { self->state.sum += v; }};
}

void idle(benchmark::State& state) {
  bench::pin_cpu pin;
  caf::actor_system_config cfg = make_config(1);
  caf::actor_system sys{cfg};
  for (auto _ : state)
    for (int round = 0; round < 2; ++round) {
      const std::size_t n = bench::idle_workers;
      bench::idle_run run(n, round);
      std::vector<caf::actor> table;
      table.reserve(n);
      std::latch started{static_cast<std::ptrdiff_t>(n)};
      run.launch_begin();
      for (std::size_t i = 0; i < n; ++i) table.push_back(sys.spawn(idle_actor, &started));
      started.wait();  // every actor ran its initialisation and is idle
      run.launch_end();
      run.shutdown_begin();
      for (auto& a : table) caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
      table.clear();
      sys.await_all_actors_done();
      run.shutdown_end();
      run.record(state);
      bench::label(state, "100000 workers");
    }
}

// E and F.

/// One worker's own sum, on its own cache line (F's workers run on two threads).
struct alignas(64) worker_sum {
  std::uint64_t value = 0;
};

/// What the E / F workers share: their sums, the `handled` count (E: plain,
/// one thread; F: atomic) and the result (end stamp, done).
struct scale_shared {
  std::vector<worker_sum> sums;
  std::size_t handled = 0;
  std::atomic<std::size_t> handled_atomic{0};
  fire_result result;

  explicit scale_shared(std::size_t workers) : sums(workers) {}

  std::uint64_t total() const {
    std::uint64_t sum = 0;
    for (const auto& s : sums) sum += s.value;
    return sum;
  }
};

/// E worker (one scheduler thread): sums into its slot, counts in `handled`.
caf::behavior scale_worker(caf::event_based_actor*, scale_shared* shared, worker_sum* mine,
                           std::latch* ready) {
  ready->count_down();
  return {[=](std::uint64_t v) {
    mine->value += v;
    if (++shared->handled == bench::fire_count) {
      shared->result.end = bench::stamp::now();
      shared->result.done.set_value();
    }
  }};
}

/// F worker (T scheduler threads): as scale_worker with an atomic `handled`.
caf::behavior busy_worker(caf::event_based_actor*, scale_shared* shared, worker_sum* mine,
                          std::latch* ready) {
  ready->count_down();
  return {[=](std::uint64_t v) {
    mine->value += v;
    if (shared->handled_atomic.fetch_add(1, std::memory_order_acq_rel) + 1 == bench::fire_count) {
      shared->result.end = bench::stamp::now();
      shared->result.done.set_value();
    }
  }};
}

/// E producer: like A1's, value i to worker i % N, then terminate.
caf::behavior scale_producer(caf::event_based_actor* self, const std::vector<caf::actor>* table,
                             fire_result* out) {
  const std::size_t n = table->size();
  out->begin = bench::stamp::now();
  for (std::uint64_t i = 0; i < bench::fire_count; ++i) self->send((*table)[i % n], i);
  return {};
}

/// Spawn `n` workers with `fn`, each with its own sum slot, and wait until every
/// one has run its initialisation (is idle and waiting).
template <class F>
std::vector<caf::actor> spawn_workers(caf::actor_system& sys, F fn, scale_shared& shared,
                                      std::size_t n) {
  std::vector<caf::actor> table;
  table.reserve(n);
  std::latch ready{static_cast<std::ptrdiff_t>(n)};
  for (std::size_t i = 0; i < n; ++i)
    table.push_back(sys.spawn(fn, &shared, &shared.sums[i], &ready));
  ready.wait();
  return table;
}

void shut_down(caf::actor_system& sys, std::vector<caf::actor>& table) {
  for (auto& a : table) caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  table.clear();
  sys.await_all_actors_done();
}

template <std::size_t Workers>
void scale_in_workers(benchmark::State& state) {
  bench::pin_cpu pin;
  caf::actor_system_config cfg = make_config(1);
  caf::actor_system sys{cfg};
  for (auto _ : state) {
    scale_shared shared{Workers};
    auto done = shared.result.done.get_future();
    auto table = spawn_workers(sys, scale_worker, shared, Workers);
    sys.spawn(scale_producer, &table, &shared.result);
    done.wait();
    shut_down(sys, table);
    if (shared.total() != bench::expected_sum(bench::fire_count))
      return bench::fail(state, "wrong sum");
    bench::record(state, shared.result.begin, shared.result.end, bench::fire_count);
  }
}

void scale_in_threads(benchmark::State& state, int threads) {
  caf::actor_system_config cfg = make_config(threads);
  caf::actor_system sys{cfg};
  constexpr std::size_t per_producer = bench::fire_count / bench::producer_threads;
  for (auto _ : state) {
    scale_shared shared{bench::busy_workers};
    auto done = shared.result.done.get_future();
    auto table = spawn_workers(sys, busy_worker, shared, bench::busy_workers);
    std::latch go{1};
    std::vector<std::thread> producers;
    for (std::size_t p = 0; p < bench::producer_threads; ++p)
      producers.emplace_back([&table, &go, p] {
        go.wait();
        const std::uint64_t first = p * per_producer;
        for (std::uint64_t i = 0; i < per_producer; ++i)
          caf::anon_send(table[(i + p) % bench::busy_workers], first + i);
      });
    shared.result.begin = bench::stamp::now();
    go.count_down();
    done.wait();
    for (auto& t : producers) t.join();
    shut_down(sys, table);
    if (shared.total() != bench::expected_sum(bench::fire_count))
      return bench::fail(state, "wrong sum");
    bench::record_rate(state, shared.result.begin, shared.result.end, bench::fire_count);
  }
}

template <std::size_t... I>
void add_scale_in_workers(std::index_sequence<I...>) {
  (bench::add(bench::workload::E, bench::scale_workers[I], "caf",
              scale_in_workers<bench::scale_workers[I]>),
   ...);
}

// G.

struct dropbox_state {
  std::uint64_t sum = 0;
  std::uint64_t count = 0;
};

/// G worker: every put {v, n} arrives as its own message (no merging in CAF).
caf::behavior dropbox_worker(caf::stateful_actor<dropbox_state>* self, fire_result* out,
                             std::latch* ready) {
  ready->count_down();
  return {[=](std::uint64_t v, std::uint64_t n) {
    auto& st = self->state;
    st.sum += v;
    st.count += n;
    if (st.count == bench::fire_count) {
      out->end = bench::stamp::now();
      out->sum = st.sum;
      out->done.set_value();
      self->quit();
    }
  }};
}

void dropbox(benchmark::State& state) {
  caf::actor_system_config cfg = make_config(2);
  caf::actor_system sys{cfg};
  for (auto _ : state) {
    fire_result r;
    auto done = r.done.get_future();
    std::latch ready{1};
    auto worker = sys.spawn(dropbox_worker, &r, &ready);
    ready.wait();
    r.begin = bench::stamp::now();
    for (std::uint64_t i = 0; i < bench::fire_count; ++i)
      caf::anon_send(worker, i, std::uint64_t{1});
    done.wait();
    worker = nullptr;
    sys.await_all_actors_done();
    if (r.sum != bench::expected_sum(bench::fire_count)) return bench::fail(state, "wrong sum");
    bench::record(state, r.begin, r.end, bench::fire_count);
    bench::label(state, "no merge: every put is a message");
  }
}

[[maybe_unused]] const bool registered = [] {
  using enum bench::workload;
  bench::add(A1, "caf", [](benchmark::State& s) { fire_one_thread(s, false); });
  bench::add(A2, "caf", [](benchmark::State& s) { fire_two_threads(s, false); });
  bench::add(B1, "caf", roundtrip_one_thread);
  bench::add(B2, "caf", roundtrip_two_threads);
  bench::add(B2, "caf_event_based", roundtrip_two_threads_event_based);
  bench::add(C1, "caf", [](benchmark::State& s) { fire_one_thread(s, true); });
  bench::add(C2, "caf", [](benchmark::State& s) { fire_two_threads(s, true); });
  bench::add(D, "caf", idle);
  add_scale_in_workers(std::make_index_sequence<std::size(bench::scale_workers)>{});
  bench::add(F, 1, "caf", [](benchmark::State& s) { scale_in_threads(s, 1); });
  bench::add(F, 2, "caf", [](benchmark::State& s) { scale_in_threads(s, 2); });
  bench::add(G, "caf", dropbox);
  return true;
}();

}  // namespace
