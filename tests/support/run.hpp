#pragma once

// Runs a test coroutine on an io_context with a watchdog, so that a hang fails
// the test quickly instead of stalling CI.
//
// Never write `co_await` inside REQUIRE: Catch2 v2 also passes the expression
// to __builtin_constant_p, and GCC 12 then evaluates the co_await twice.

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <exception>
#include <stdexcept>
#include <thread>
#include <vector>

namespace test {

namespace asio = boost::asio;

inline constexpr std::chrono::seconds watchdog{20};

// Runs `make()`'s coroutine to completion on `io` with `threads` threads.
// Throws if the watchdog fires first or the coroutine throws.
template <class F>
void run(asio::io_context& io, F make, int threads = 1,
         std::chrono::steady_clock::duration limit = watchdog) {
  std::exception_ptr failure;
  bool done = false;
  bool timed_out = false;
  asio::steady_timer dog(io, limit);
  dog.async_wait([&](boost::system::error_code ec) {
    if (ec) return;
    timed_out = true;
    io.stop();
  });
  // Once the test coroutine is done, whatever it left pending (a failed
  // assertion may leave waiters behind) must not keep io.run() going.
  asio::co_spawn(io, make(), [&](std::exception_ptr e) {
    failure = e;
    done = true;
    io.stop();
  });
  std::vector<std::thread> pool;
  for (int i = 1; i < threads; ++i) pool.emplace_back([&] { io.run(); });
  io.run();
  for (auto& t : pool) t.join();
  if (timed_out) throw std::runtime_error("watchdog: the test did not finish in time");
  if (failure) std::rethrow_exception(failure);
  if (!done) throw std::runtime_error("the test coroutine never completed");
}

}  // namespace test
