// A burst's memory comes back (tokio#4321's shape): a producer thread pushes
// 300,000 requests to a worker on another thread, and once all are handled the
// bytes in use are back within 1 MiB of before the burst, whether the
// producer then idles, pushes a few more, or exits. Bytes in use are counted
// by this program's own global operator new and delete (the allocator's usable
// size of each block), not RSS: glibc keeps freed memory mapped.
//
// Its own program: replacing operator new is global. Usage: workers_burst.

#include <workers/workers.hpp>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_future.hpp>

#include <fmt/format.h>

#include <malloc.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <semaphore>
#include <string_view>
#include <thread>

namespace {

std::atomic<long long> live_bytes{0};

void* counted(void* p) {
  if (!p) throw std::bad_alloc();
  live_bytes.fetch_add(static_cast<long long>(::malloc_usable_size(p)), std::memory_order_relaxed);
  return p;
}
void uncounted(void* p) noexcept {
  if (!p) return;
  live_bytes.fetch_sub(static_cast<long long>(::malloc_usable_size(p)), std::memory_order_relaxed);
  std::free(p);
}

}  // namespace

void* operator new(std::size_t n) { return counted(std::malloc(n ? n : 1)); }
void* operator new[](std::size_t n) { return counted(std::malloc(n ? n : 1)); }
void* operator new(std::size_t n, std::align_val_t a) {
  const auto al = static_cast<std::size_t>(a);
  return counted(std::aligned_alloc(al, (n + al - 1) / al * al));
}
void* operator new[](std::size_t n, std::align_val_t a) { return operator new(n, a); }
void operator delete(void* p) noexcept { uncounted(p); }
void operator delete[](void* p) noexcept { uncounted(p); }
void operator delete(void* p, std::size_t) noexcept { uncounted(p); }
void operator delete[](void* p, std::size_t) noexcept { uncounted(p); }
void operator delete(void* p, std::align_val_t) noexcept { uncounted(p); }
void operator delete[](void* p, std::align_val_t) noexcept { uncounted(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { uncounted(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { uncounted(p); }

namespace {

namespace asio = boost::asio;

struct burst_name {
  static constexpr std::string_view base[] = {"burst"};
  using type = int;
};
struct value {
  using result_type = std::uint64_t;
  using error_type = int;
  std::uint64_t v;
};
struct burst_requests {
  using types = workers::request_types<value>;
  using view_type = std::uint64_t;
  static std::uint64_t view(const value& r) { return r.v; }
};
struct burst_types {
  using state_type = std::uint64_t;
  using parameters_type = int;
  using view_type = std::uint64_t;
  static std::uint64_t view(const std::uint64_t& s, const int&) { return s; }
};
using group = workers::make_single<burst_name, burst_requests, burst_types>;
using W = group::worker<workers::queue<workers::infinite>>;

std::atomic<std::uint64_t> handled{0};
// The burst's first request holds the worker until the producer has pushed
// them all: the whole burst is queued at once.
constexpr std::uint64_t gate_value = ~std::uint64_t{0};
std::binary_semaphore gate{0};

struct counting_handlers {
  template <class Self>
  workers::result<std::uint64_t, int> on_request(Self& self, const value& r) {
    if (r.v == gate_value) gate.acquire();
    workers::state(self) += r.v;
    handled.fetch_add(1, std::memory_order_release);
    return {boost::system::in_place_value, r.v};
  }
};

constexpr std::uint64_t burst = 300'000;
constexpr long long allowed = 1 << 20;

enum class after { idles, pushes_again, exits };

// Waits until the worker has handled `n` requests in all, then until its loop
// has finished the step that handled the last one (a post on its one thread
// runs after it): that step frees what it handled before it parks.
void wait_handled(asio::io_context& ctx, std::uint64_t n) {
  while (handled.load(std::memory_order_acquire) < n) std::this_thread::yield();
  asio::post(ctx, asio::use_future).get();
}

bool run(after then) {
  asio::io_context ctx{1};
  auto guard = asio::make_work_guard(ctx);
  std::thread io([&] { ctx.run(); });
  auto table = group::create_table(workers::infinite_queue{});
  const W w =
      *workers::launch(table, ctx.get_executor(), 0, 0, counting_handlers{}, asio::use_future)
           .get();
  handled = 0;

  // The producer's thread-local caches exist before the baseline.
  std::binary_semaphore go{0}, pushed{0}, again{0}, done{0};
  std::thread producer([&] {
    workers::push_request_now(w, value{0});
    pushed.release();
    go.acquire();
    workers::push_request_now(w, value{gate_value});
    for (std::uint64_t i = 1; i < burst; ++i) workers::push_request_now(w, value{i});
    pushed.release();
    if (then == after::exits) return;
    again.acquire();
    if (then == after::pushes_again)
      for (std::uint64_t i = 0; i < 10; ++i) workers::push_request_now(w, value{i});
    pushed.release();
    done.acquire();
  });
  pushed.acquire();
  wait_handled(ctx, 1);
  const long long before = live_bytes.load();

  go.release();
  pushed.acquire();
  const long long peak = live_bytes.load();
  gate.release();
  if (then == after::exits) producer.join();
  wait_handled(ctx, 1 + burst);
  if (then != after::exits) {
    again.release();
    pushed.acquire();
    wait_handled(ctx, 1 + burst + (then == after::pushes_again ? 10 : 0));
  }
  const long long after_burst = live_bytes.load();
  if (then != after::exits) {
    done.release();
    producer.join();
  }

  workers::shutdown(w, asio::use_future).get();
  guard.reset();
  io.join();

  const char* name = then == after::idles          ? "producer idles"
                     : then == after::pushes_again ? "producer pushes 10 more"
                                                   : "producer exits";
  const long long kept = after_burst - before;
  const bool ok = kept <= allowed;
  fmt::print("{}: {} bytes in use before the burst, {} with it queued, {:+} after it ({})\n", name,
             before, peak, kept, ok ? "ok" : "over 1 MiB");
  return ok;
}

}  // namespace

int main() {
  bool ok = true;
  for (after then : {after::idles, after::pushes_again, after::exits}) ok = run(then) && ok;
  return ok ? 0 : 1;
}
