// Each asynchronous operation with every common completion token: use_awaitable,
// deferred (plain and composed), use_future, a plain callback, as_tuple,
// redirect_error (where the completion starts with an error_code),
// bind_executor, bind_cancellation_slot, use_promise, and inside make_parallel_group.

#include "support/calc.hpp"
#include "support/catch.hpp"
#include "support/run.hpp"

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/experimental/promise.hpp>
#include <boost/asio/experimental/use_promise.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/strand.hpp>

#include <chrono>
#include <exception>
#include <future>
#include <tuple>
#include <type_traits>

// Named, so that the unity build keeps each file's helpers apart.
namespace tokens_tests {

using namespace test;

template <class T>
constexpr bool is_error_first = std::is_same_v<std::decay_t<T>, workers::error_code> ||
                                std::is_same_v<std::decay_t<T>, std::exception_ptr>;

bool no_error(const workers::error_code& ec) { return !ec; }
bool no_error(const std::exception_ptr& e) { return !e; }

// A whole completion: its leading error (if any) is empty, and what follows
// (what use_awaitable and use_future give) satisfies `ok`.
template <class Ok, class... Args>
bool completion_ok(const Ok& ok, const Args&... args) {
  if constexpr (sizeof...(Args) == 0) {
    return ok();
  } else {
    return [&](const auto& first, const auto&... rest) {
      if constexpr (is_error_first<decltype(first)>)
        return no_error(first) && ok(rest...);
      else
        return ok(first, rest...);
    }(args...);
  }
}

// Starts the operation under test with each token in turn; `ok` checks what
// it completed with. `make(w)` gives the initiating function for the worker
// `w`, a fresh one of `table` each time.
template <bool ErrorCodeFirst, class Table, class Make, class Ok>
asio::awaitable<void> every_token(Table table, Make make, Ok ok) {
  auto ex = co_await asio::this_coro::executor;
  int serial = 0;
  std::vector<typename Table::worker_type> used;
  // Named results, never temporaries inside a co_await expression: see README, Compilers.
  const auto next = [&]() -> asio::awaitable<void> {
    auto w = co_await launch_ok(table, fmt::format("t{}", ++serial));
    used.push_back(std::move(w));
  };
  const auto settle = [&]() -> asio::awaitable<void> {
    for (int i = 0; i < 4; ++i) co_await asio::post(ex, asio::use_awaitable);
  };

  {  // use_awaitable
    co_await next();
    auto start = make(used.back());
    using result = decltype(start(asio::use_awaitable));
    if constexpr (std::is_same_v<result, asio::awaitable<void>>) {
      co_await start(asio::use_awaitable);
      CHECK(ok());
    } else {
      auto v = co_await start(asio::use_awaitable);
      CHECK(ok(v));
    }
  }
  {  // deferred, launched later
    co_await next();
    auto start = make(used.back());
    auto op = start(asio::deferred);
    co_await settle();
    auto t = co_await std::move(op)(asio::as_tuple(asio::use_awaitable));
    CHECK(std::apply([&](const auto&... a) { return completion_ok(ok, a...); }, t));
  }
  {  // deferred, composed with a continuation
    co_await next();
    auto start = make(used.back());
    auto op =
        start(asio::deferred([](auto... args) { return asio::deferred.values(true, args...); }));
    auto t = co_await std::move(op)(asio::as_tuple(asio::use_awaitable));
    CHECK(std::get<0>(t));
    CHECK(std::apply([&](bool, const auto&... a) { return completion_ok(ok, a...); }, t));
  }
  {  // use_future
    co_await next();
    auto start = make(used.back());
    auto f = start(asio::use_future);
    while (f.wait_for(std::chrono::seconds(0)) != std::future_status::ready) co_await settle();
    if constexpr (std::is_void_v<decltype(f.get())>) {
      f.get();
      CHECK(ok());
    } else {
      CHECK(ok(f.get()));
    }
  }
  {  // a plain callback, never called from the initiating function
    co_await next();
    auto start = make(used.back());
    std::optional<bool> got;
    bool initiating = true;
    start([&](auto... args) { got = !initiating && completion_ok(ok, args...); });
    initiating = false;
    while (!got) co_await settle();
    CHECK(*got);
  }
  {  // use_promise: the operation starts at once; the promise is awaited later
    co_await next();
    auto start = make(used.back());
    auto promise = start(asio::experimental::use_promise);
    co_await settle();
    auto t = co_await promise(asio::as_tuple(asio::use_awaitable));
    CHECK(std::apply([&](const auto&... a) { return completion_ok(ok, a...); }, t));
  }
  {  // as_tuple
    co_await next();
    auto start = make(used.back());
    auto t = co_await start(asio::as_tuple(asio::use_awaitable));
    CHECK(std::apply([&](const auto&... a) { return completion_ok(ok, a...); }, t));
  }
  {  // bind_executor: the completion runs on the bound strand
    co_await next();
    auto start = make(used.back());
    auto strand = asio::make_strand(ex);
    std::optional<bool> got;
    start(asio::bind_executor(strand, [&](auto... args) {
      got = strand.running_in_this_thread() && completion_ok(ok, args...);
    }));
    while (!got) co_await settle();
    CHECK(*got);
  }
  {  // bind_cancellation_slot, never emitted
    co_await next();
    auto start = make(used.back());
    asio::cancellation_signal signal;
    std::optional<bool> got;
    start(asio::bind_cancellation_slot(signal.slot(),
                                       [&](auto... args) { got = completion_ok(ok, args...); }));
    while (!got) co_await settle();
    CHECK(*got);
  }
  {  // two of them in a parallel group, waiting for both
    co_await next();
    auto first = make(used.back());
    co_await next();
    auto second = make(used.back());
    auto result = co_await asio::experimental::make_parallel_group(first(asio::deferred),
                                                                   second(asio::deferred))
                      .async_wait(asio::experimental::wait_for_all(), asio::use_awaitable);
    CHECK(std::get<0>(result).size() == 2);
  }
  if constexpr (ErrorCodeFirst) {
    // redirect_error, where the completion starts with an error_code
    co_await next();
    auto start = make(used.back());
    workers::error_code ec = asio::error::would_block;
    co_await start(asio::redirect_error(asio::use_awaitable, ec));
    CHECK_FALSE(ec);
  }
  for (auto& w : used) co_await workers::shutdown(w);
}

TEST_CASE("tokens: every operation completes with every common token", "[tokens]") {
  asio::io_context io;
  auto table = make_table();
  run(io, [&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto bounded = make_bounded_table(4);
    auto dropbox = make_dropbox_table();
    auto launched_table = make_table();
    int launches = 0;

    // launch
    co_await every_token<false>(
        table,
        [&](const calc_worker&) {
          return [&, name = fmt::format("l{}", ++launches)](auto&& token) {
            calc_handlers h;
            return workers::launch(launched_table, ex, name, calc_parameters{}, h,
                                   std::forward<decltype(token)>(token));
          };
        },
        [](const auto& r) { return r.has_value(); });
    for (auto& [name, w] : workers::list(launched_table)) co_await workers::shutdown(w);

    // push_request, on a bounded queue
    co_await every_token<true>(
        bounded,
        [](const bounded_worker& w) {
          return [w](auto&& token) {
            return workers::push_request(w, add{1}, std::forward<decltype(token)>(token));
          };
        },
        [] { return true; });

    // push_request_and_wait
    co_await every_token<false>(
        table,
        [](const calc_worker& w) {
          return [w](auto&& token) {
            return workers::push_request_and_wait(w, add{2}, std::forward<decltype(token)>(token));
          };
        },
        [](const workers::reply_result<add>& r) { return r.has_value() && *r == 2; });

    // put_request_and_wait
    co_await every_token<false>(
        dropbox,
        [](const dropbox_worker& w) {
          return [w](auto&& token) {
            return workers::put_request_and_wait(w, add{3}, std::forward<decltype(token)>(token));
          };
        },
        [](const workers::reply_result<add>& r) { return r.has_value() && *r == 3; });

    // with_state
    co_await every_token<false>(
        table,
        [](const calc_worker& w) {
          return [w](auto&& token) {
            return workers::with_state(
                w, [](int& s) { return s + 10; }, std::forward<decltype(token)>(token));
          };
        },
        [](const std::optional<int>& v) { return v == 10; });

    // wait_for_completion (the close is triggered once the operation exists)
    co_await every_token<true>(
        table,
        [](const calc_worker& w) {
          return [w](auto&& token) {
            using Token = decltype(token);
            if constexpr (std::is_void_v<decltype(workers::wait_for_completion(
                              w, std::declval<Token>()))>) {
              workers::wait_for_completion(w, std::forward<Token>(token));
              workers::trigger_shutdown(w);
            } else {
              auto op = workers::wait_for_completion(w, std::forward<Token>(token));
              workers::trigger_shutdown(w);
              return op;
            }
          };
        },
        [] { return true; });

    // shutdown
    co_await every_token<true>(
        table,
        [](const calc_worker& w) {
          return [w](auto&& token) {
            return workers::shutdown(w, std::forward<decltype(token)>(token));
          };
        },
        [] { return true; });
  });
}

}  // namespace tokens_tests
