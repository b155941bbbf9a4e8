// Entry point of workers_bench, plus the global operator new/delete
// replacement and the C aligned allocators' interposition that feed
// bench::allocations() (see support.hpp).
//
// `workers_bench --workloads` prints the table of workloads (workloads.def:
// id, unit, meaning) and exits; every other argument goes to Google Benchmark.
#include "support.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <iomanip>
#include <iostream>
#include <new>
#include <string_view>

namespace bench::detail {
constinit std::atomic<std::uint64_t> allocation_count{0};
constinit std::atomic<std::uint64_t> allocation_bytes{0};
}  // namespace bench::detail

namespace {

inline void count(std::size_t size) noexcept {
  bench::detail::allocation_count.fetch_add(1, std::memory_order_relaxed);
  bench::detail::allocation_bytes.fetch_add(size, std::memory_order_relaxed);
}

void* allocate(std::size_t size) noexcept {
  count(size);
  return std::malloc(size == 0 ? 1 : size);
}

void* allocate_aligned(std::size_t size, std::align_val_t align) noexcept {
  auto a = static_cast<std::size_t>(align);
  if (a < sizeof(void*)) a = sizeof(void*);
  return ::aligned_alloc(a, size == 0 ? 1 : size);  // counted there
}

void* allocate_or_throw(std::size_t size) {
  if (void* p = allocate(size)) return p;
  throw std::bad_alloc();
}

void* allocate_aligned_or_throw(std::size_t size, std::align_val_t align) {
  if (void* p = allocate_aligned(size, align)) return p;
  throw std::bad_alloc();
}

}  // namespace

// The C aligned allocators, interposed over glibc's (an executable's definition
// wins over the shared library's) and forwarded to glibc's own memalign.
// Asio's recycling allocator calls aligned_alloc when its cache misses.
extern "C" {
void* __libc_memalign(std::size_t alignment, std::size_t size);  // glibc, exported

void* aligned_alloc(std::size_t alignment, std::size_t size) noexcept {
  count(size);
  return __libc_memalign(alignment, size);
}
void* memalign(std::size_t alignment, std::size_t size) noexcept {
  count(size);
  return __libc_memalign(alignment, size);
}
int posix_memalign(void** out, std::size_t alignment, std::size_t size) noexcept {
  if (alignment % sizeof(void*) != 0 || (alignment & (alignment - 1)) != 0) return EINVAL;
  count(size);
  void* p = __libc_memalign(alignment, size);
  if (p == nullptr) return ENOMEM;
  *out = p;
  return 0;
}
}

void* operator new(std::size_t size) { return allocate_or_throw(size); }
void* operator new[](std::size_t size) { return allocate_or_throw(size); }
void* operator new(std::size_t size, const std::nothrow_t&) noexcept { return allocate(size); }
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept { return allocate(size); }
void* operator new(std::size_t size, std::align_val_t al) {
  return allocate_aligned_or_throw(size, al);
}
void* operator new[](std::size_t size, std::align_val_t al) {
  return allocate_aligned_or_throw(size, al);
}
void* operator new(std::size_t size, std::align_val_t al, const std::nothrow_t&) noexcept {
  return allocate_aligned(size, al);
}
void* operator new[](std::size_t size, std::align_val_t al, const std::nothrow_t&) noexcept {
  return allocate_aligned(size, al);
}

void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }

namespace {

/// The rows of workloads.def, one a line: id, unit, meaning.
void print_workloads(std::ostream& out) {
  std::size_t id_width = 0;
  std::size_t unit_width = 0;
  for (const auto& w : bench::workloads) {
    id_width = std::max(id_width, w.id.size());
    unit_width = std::max(unit_width, w.unit.size());
  }
  out << std::left;
  for (const auto& w : bench::workloads)
    out << std::setw(static_cast<int>(id_width)) << w.id << "  "
        << std::setw(static_cast<int>(unit_width)) << w.unit << "  " << w.meaning << '\n';
}

}  // namespace

// BENCHMARK_MAIN(), plus --workloads.
int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i)
    if (std::string_view(argv[i]) == "--workloads") {
      print_workloads(std::cout);
      return 0;
    }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
