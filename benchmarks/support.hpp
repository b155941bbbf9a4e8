// Shared harness for the `workers_bench` program.
//
// HOW A PEER FILE REGISTERS ITS WORKLOADS
// =======================================
// Every peer lives in benchmarks/peer_<peer>.cpp (picked up by a CMake glob) and
// registers its benchmarks at static-initialisation time:
//
//     namespace {
//     void a1(benchmark::State& state) { ... }
//     const bool registered = [] {
//         using enum bench::workload;           // the rows of workloads.def
//         bench::add(A1, "<peer>", a1);         // named "A1/<peer>"
//         bench::add(E, 1000, "<peer>", e);     // a size of E: "E_1000/<peer>"
//         ...
//         return true;
//     }();
//     }
//
// `bench::add` fixes Iterations(1), UseManualTime() and nanoseconds for every
// benchmark (Google Benchmark 1.7 therefore shows the run as
// "A1/<peer>/iterations:1/manual_time"; report.py and --benchmark_filter only
// look at the leading "<workload>/<peer>").  Repetitions (>= 5) and medians
// come from the command line (--benchmark_repetitions=5
// Benchmark_report_aggregates_only=true), see bench.run in CMakeLists.txt.
// Register only the workloads that make sense for the peer; a peer that cannot
// run one simply does not register it (report.py prints "n/a").
// Check the result of every batch (sum / replies) and on a mismatch
// `return bench::fail(state, "...");` from inside the loop.
//
// TIMING CONVENTION (identical for every peer)
// The reported time IS the cost of one operation in ns: each iteration runs a
// whole batch (bench::fire_count requests, bench::roundtrip_count round trips,
// bench::pipelined_count pipelined requests, or bench::idle_workers workers)
// and calls
//
//     bench::record(state, begin, end, ops);
//
// with two `bench::stamp`s (steady clock + global allocation count) taken with
// `bench::stamp::now()`.  record() calls state.SetIterationTime(elapsed / ops)
// and accumulates the counter `allocs_per_op` (heap allocations inside
// [begin, end] divided by ops).  Set-up and tear-down (creating io_contexts,
// threads, actor systems, channels) happen outside [begin, end].
//   * `begin` is taken by the producer / caller right before its first send.
//   * `end` is taken by the *worker* right after it has handled the last
//     request (A, C) or by the caller right after it received the last reply
//     (B, R).  The stamps may be taken on different threads: store them in plain
//     variables and read them after joining / after run() returned.
//   * In two-thread workloads the worker must already be running and waiting
//     (e.g. count down a std::latch from inside the worker) before the producer
//     takes `begin`.
//
// WORKLOADS: benchmarks/workloads.def, one row each (id, meaning, unit) with
// the semantics every peer implements; report.py reads the same table.
//
// THREADING
//   * Single-thread workloads (A1, B1, C1, D, E): construct `bench::pin_cpu pin;`
//     at the top of the benchmark function (before any thread or context is
//     created: threads created while pinned inherit the mask).  io_contexts
//     use concurrency hint 1 and are run by the benchmark thread.
//   * Two-thread workloads (A2, B2, R, C2, G): the worker's io_context is run by a
//     std::thread, the producer/caller runs on the benchmark thread (its own
//     io_context with hint 1 if it is a coroutine).  No pinning.
//   * Asio peers co_spawn the worker on asio::make_strand(ctx) and the
//     producer/caller coroutine on the io_context's plain executor.
//
// Labels: call bench::label(state, ...) if something about a run must be said
// (e.g. the threads peer runs D with 10,000 workers only; the others label D
// with "100000 workers").
//
// Skeleton of a single-thread workload (A1 shown; B1/C1 alike):
//
//     void a1(benchmark::State& state) {
//         bench::pin_cpu pin;
//         for (auto _ : state) {
//             boost::asio::io_context ctx{1};
//             ... create the worker (strand), spawn the producer coroutine,
//                 which sets `begin = bench::stamp::now()` before its first
//                 push; the worker sets `end = bench::stamp::now()` after the
//                 fire_count-th request ...
//             ctx.run();
//             if (sum != bench::expected_sum(bench::fire_count))
//                 return bench::fail(state, "wrong sum");
//             bench::record(state, begin, end, bench::fire_count);
//         }
//     }
#pragma once

#include <benchmark/benchmark.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <string>
#include <string_view>
#include <utility>

#include <malloc.h>
#include <sched.h>

namespace bench {

// Constants.

inline constexpr std::size_t fire_count = 1'000'000;     // A, C: requests per batch
inline constexpr std::size_t roundtrip_count = 100'000;  // B: round trips per batch
inline constexpr std::size_t pipeline_depth = 16;        // R: requests in flight per caller
inline constexpr std::size_t pipelined_count = 200'000;  // R: requests per batch
inline constexpr std::size_t bounded_capacity = 64;      // C: queue capacity
inline constexpr std::size_t unbounded_capacity = 1024;  // channel stand-in for "unbounded"
inline constexpr std::size_t idle_workers = 100'000;     // D
inline constexpr std::size_t idle_threads = 10'000;      // D for the threads peer
inline constexpr std::size_t scale_workers[] = {1, 1'000, 100'000};  // E
inline constexpr std::size_t busy_workers = 1'000;                   // F
inline constexpr std::size_t producer_threads = 2;                   // F
inline constexpr std::size_t drain_count = 100'000;                  // S1, S2
inline constexpr std::size_t control_backlog = 1'000'000;            // K
inline constexpr std::size_t restart_rounds = 10'000;                // T1, T2

constexpr std::uint64_t expected_sum(std::uint64_t n) { return n * (n - 1) / 2; }

// Allocation counter (operator new replacement lives in bench_main.cpp).

namespace detail {
extern std::atomic<std::uint64_t> allocation_count;
extern std::atomic<std::uint64_t> allocation_bytes;
}  // namespace detail

/// Number of allocations since program start: calls to any global operator new
/// (plain, array, aligned, nothrow) and to the C aligned allocators
/// (aligned_alloc, posix_memalign, memalign), which Asio's recycling allocator
/// falls back to. Plain malloc is not counted (C++ code reaches it through
/// operator new).
inline std::uint64_t allocations() noexcept {
  return detail::allocation_count.load(std::memory_order_relaxed);
}

/// Bytes requested from the allocations counted by allocations().
inline std::uint64_t allocated_bytes() noexcept {
  return detail::allocation_bytes.load(std::memory_order_relaxed);
}

// Memory.

/// VmRSS of this process in bytes (from /proc/self/status), 0 if unavailable.
inline std::int64_t rss_bytes() {
  std::ifstream in("/proc/self/status");
  std::string key;
  while (in >> key) {
    if (key == "VmRSS:") {
      std::int64_t kib = 0;
      in >> kib;
      return kib * 1024;
    }
    std::getline(in, key);
  }
  return 0;
}

/// Give freed heap memory back to the OS (malloc_trim) so that RSS deltas are
/// not hidden by memory a previous repetition left in malloc's free lists.
inline void trim_heap() { ::malloc_trim(0); }

// CPU pinning.

/// RAII: pins the calling thread to CPU 1 (or the highest allowed CPU if 1 is
/// not allowed) and restores the previous affinity mask on destruction.
class pin_cpu {
 public:
  pin_cpu() {
    CPU_ZERO(&saved_);
    if (::sched_getaffinity(0, sizeof(saved_), &saved_) != 0) return;
    int cpu = CPU_ISSET(1, &saved_) ? 1 : -1;
    for (int i = CPU_SETSIZE - 1; cpu < 0 && i >= 0; --i)
      if (CPU_ISSET(i, &saved_)) cpu = i;
    if (cpu < 0) return;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    active_ = ::sched_setaffinity(0, sizeof(one), &one) == 0;
  }
  ~pin_cpu() {
    if (active_) ::sched_setaffinity(0, sizeof(saved_), &saved_);
  }
  pin_cpu(const pin_cpu&) = delete;
  pin_cpu& operator=(const pin_cpu&) = delete;

 private:
  cpu_set_t saved_;
  bool active_ = false;
};

// Timing.

using clock = std::chrono::steady_clock;

struct stamp {
  clock::time_point time{};
  std::uint64_t allocs = 0;

  static stamp now() noexcept { return stamp{clock::now(), allocations()}; }
};

/// Add `value` to the per-iteration-averaged counter `name`.
inline void add_counter(benchmark::State& state, const std::string& name, double value) {
  auto& c = state.counters[name];
  c.flags = benchmark::Counter::kAvgIterations;
  c.value += value;
}

/// One batch of `ops` operations ran between `begin` and `end`: report ns/op as
/// the iteration time and accumulate allocs_per_op.
inline void record(benchmark::State& state, const stamp& begin, const stamp& end, std::size_t ops) {
  const double seconds = std::chrono::duration<double>(end.time - begin.time).count();
  state.SetIterationTime(seconds / static_cast<double>(ops));
  add_counter(state, "allocs_per_op",
              static_cast<double>(end.allocs - begin.allocs) / static_cast<double>(ops));
}

/// As record(), plus the counter requests_per_second (workload F).
inline void record_rate(benchmark::State& state, const stamp& begin, const stamp& end,
                        std::size_t ops) {
  record(state, begin, end, ops);
  const double seconds = std::chrono::duration<double>(end.time - begin.time).count();
  add_counter(state, "requests_per_second", static_cast<double>(ops) / seconds);
}

/// Workload D bookkeeping. Each iteration runs two rounds, `round` 0 then 1:
/// the first, on a trimmed (cold) heap, gives bytes_per_worker (VmRSS delta);
/// the second, on the heap the first one warmed, gives launch_ns and
/// shutdown_ns (the issue asks for them "on a warm heap": on this VM a page
/// fault costs about 5 us, which would otherwise dominate). The cold times are
/// reported too, as cold_launch_ns and cold_shutdown_ns. Usage per round:
///     bench::idle_run run(n, round);
///     run.launch_begin();   ... create + start n workers, wait until idle ...
///     run.launch_end();     ... (workers are idle; RSS is sampled here)
///     run.shutdown_begin(); ... stop all, wait until all are gone ...
///     run.shutdown_end();
///     run.record(state);
class idle_run {
 public:
  idle_run(std::size_t workers, int round) : workers_(workers), round_(round) {}

  void launch_begin() {
    if (round_ == 0) {
      trim_heap();
      rss_before_ = rss_bytes();
    }
    launch_ = stamp::now();
  }
  void launch_end() {
    launched_ = stamp::now();
    if (round_ == 0) rss_after_ = rss_bytes();
  }
  void shutdown_begin() { shutdown_ = clock::now(); }
  void shutdown_end() { done_ = clock::now(); }

  void record(benchmark::State& state) const {
    const auto n = static_cast<double>(workers_);
    const double launch_ns =
        std::chrono::duration<double, std::nano>(launched_.time - launch_.time).count() / n;
    const double shutdown_ns =
        std::chrono::duration<double, std::nano>(done_ - shutdown_).count() / n;
    if (round_ == 0) {
      add_counter(state, "cold_launch_ns", launch_ns);
      add_counter(state, "cold_shutdown_ns", shutdown_ns);
      add_counter(state, "bytes_per_worker", static_cast<double>(rss_after_ - rss_before_) / n);
      return;
    }
    state.SetIterationTime((launch_ns + shutdown_ns) * 1e-9);
    add_counter(state, "launch_ns", launch_ns);
    add_counter(state, "shutdown_ns", shutdown_ns);
    add_counter(state, "allocs_per_op", static_cast<double>(launched_.allocs - launch_.allocs) / n);
  }

 private:
  std::size_t workers_;
  int round_;
  std::int64_t rss_before_ = 0;
  std::int64_t rss_after_ = 0;
  stamp launch_{};
  stamp launched_{};
  clock::time_point shutdown_{};
  clock::time_point done_{};
};

// Workloads: the rows of workloads.def (report.py reads the same file).

/// One enumerator per row of workloads.def, in its order.
enum class workload : std::size_t {
#define WORKLOAD(id, meaning, unit) id,
#include "workloads.def"
#undef WORKLOAD
};

struct workload_row {
  std::string_view id;       // "A1": the <workload> of "<workload>/<peer>"
  std::string_view meaning;  // one line
  std::string_view unit;     // what one reported time is ("ns per request")
};

/// The rows of workloads.def, indexed by bench::workload.
inline constexpr workload_row workloads[] = {
#define WORKLOAD(id, meaning, unit) {#id, meaning, unit},
#include "workloads.def"
#undef WORKLOAD
};

constexpr const workload_row& row(workload w) { return workloads[static_cast<std::size_t>(w)]; }

// Registration.

namespace detail {
template <class Fn>
benchmark::internal::Benchmark* add(const std::string& name, Fn&& fn) {
  return benchmark::RegisterBenchmark(name.c_str(), std::forward<Fn>(fn))
      ->Iterations(1)
      ->UseManualTime()
      ->Unit(benchmark::kNanosecond);
}
}  // namespace detail

/// Register the benchmark "<w>/<peer>" with the conventions above. `fn` is a
/// function or a lambda taking `benchmark::State&`.
template <class Fn>
benchmark::internal::Benchmark* add(workload w, std::string_view peer, Fn&& fn) {
  return detail::add(std::string(row(w).id) + "/" + std::string(peer), std::forward<Fn>(fn));
}

/// Register "<w>_<size>/<peer>": workload `w` at one of its sizes (E's worker
/// count, F's thread count). `fn` may capture the size.
template <class Fn>
benchmark::internal::Benchmark* add(workload w, std::size_t size, std::string_view peer, Fn&& fn) {
  return detail::add(std::string(row(w).id) + "_" + std::to_string(size) + "/" + std::string(peer),
                     std::forward<Fn>(fn));
}

/// Attach a free-text label to the run (shown next to its results).
inline void label(benchmark::State& state, const std::string& text) { state.SetLabel(text); }

/// Report a failed run (e.g. wrong sum) without aborting the whole program.
inline void fail(benchmark::State& state, const char* what) { state.SkipWithError(what); }

}  // namespace bench
