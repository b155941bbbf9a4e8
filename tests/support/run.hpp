#pragma once

// Runs a test coroutine on an io_context with a watchdog, so that a hang fails
// the test quickly instead of stalling CI.
//
// Never write `co_await` inside REQUIRE: Catch2 v2 also passes the expression
// to __builtin_constant_p, and GCC 12 then evaluates the co_await twice.

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <chrono>
#include <exception>
#include <future>
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

// How long an operation may take before it counts as never answered.
inline constexpr std::chrono::seconds answer_limit{10};

// Whether `op` completes before `within` elapses (it is cancelled otherwise).
template <class T>
asio::awaitable<bool> completes_within(asio::awaitable<T> op,
                                       std::chrono::steady_clock::duration within = answer_limit) {
  using namespace asio::experimental::awaitable_operators;
  asio::steady_timer timer(co_await asio::this_coro::executor, within);
  auto r = co_await (std::move(op) || timer.async_wait(asio::use_awaitable));
  co_return r.index() == 0;
}

// Whether a use_future caller was answered in time: its future is ready and
// does not report a broken promise (a completion handler destroyed unanswered).
template <class Future>
bool answered_within(Future& f, std::chrono::steady_clock::duration within = answer_limit) {
  if (f.wait_for(within) != std::future_status::ready) return false;
  try {
    f.get();
  } catch (const std::future_error&) {
    return false;
  } catch (...) {  // any other outcome is an answer
  }
  return true;
}

// The value of a future, or an exception if it is not ready in time.
template <class Future>
auto get_within(Future& f) {
  if (f.wait_for(answer_limit) != std::future_status::ready)
    throw std::runtime_error("watchdog: an operation did not complete in time");
  return f.get();
}

// io.run() on its own thread, run again whenever an exception escapes it
// (counted), as a program that survives handler exceptions does.
class io_runner {
 public:
  explicit io_runner(asio::io_context& io) : io_(io), finished_(done_.get_future()) {
    thread_ = std::thread([this] {
      for (;;) {
        try {
          io_.run();
          break;
        } catch (...) {
          ++escaped_;
        }
      }
      done_.set_value();
    });
  }
  io_runner(const io_runner&) = delete;
  io_runner& operator=(const io_runner&) = delete;
  ~io_runner() { join(); }

  // Whether run() returned by itself within `within`; stops the context otherwise.
  bool returns_within(std::chrono::steady_clock::duration within = answer_limit) {
    const bool returned = finished_.wait_for(within) == std::future_status::ready;
    if (!returned) io_.stop();
    join();
    return returned;
  }
  int escaped() const { return escaped_.load(); }

 private:
  void join() {
    if (thread_.joinable()) {
      if (finished_.wait_for(answer_limit) != std::future_status::ready) io_.stop();
      thread_.join();
    }
  }
  asio::io_context& io_;
  std::promise<void> done_;
  std::future<void> finished_;
  std::atomic<int> escaped_{0};
  std::thread thread_;
};

}  // namespace test
