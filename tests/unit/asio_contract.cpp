// Every asynchronous operation keeps Asio's contract ("Requirements on
// asynchronous operations"): no effect before the initiation runs, ownership
// of the worker by the operation, outstanding work on the handler's executor,
// the handler's allocator freed before the upcall, exception-safe creation,
// named and constrained initiations, per-operation cancellation by type, and
// one cancellation vocabulary.

#include "support/calc.hpp"
#include "support/catch.hpp"
#include "support/fixture.hpp"
#include "support/run.hpp"

#include <boost/asio/bind_allocator.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/thread_pool.hpp>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <stdexcept>
#include <system_error>
#include <thread>

// Named, so that the unity build keeps each file's helpers apart.
namespace asio_contract_tests {

using namespace test;
using workers::errc;

// Runs `io` on a thread, with a work guard, until the object dies.
class io_thread {
 public:
  explicit io_thread(asio::io_context& io) : io_(io), guard_(io.get_executor()) {
    io_.restart();
    thread_ = std::thread([this] { io_.run(); });
  }
  ~io_thread() {
    guard_.reset();
    io_.stop();
    thread_.join();
  }

 private:
  asio::io_context& io_;
  asio::executor_work_guard<asio::io_context::executor_type> guard_;
  std::thread thread_;
};

// Launches a worker, running `io` on this thread until it is launched.
template <class Table>
typename Table::worker_type launch_on(asio::io_context& io, const Table& table, std::string name,
                                      calc_handlers& h,
                                      workers::launch_options o = test_launch_options()) {
  std::optional<typename Table::worker_type> w;
  workers::launch(table, io.get_executor(), std::move(name), calc_parameters{}, h, std::move(o),
                  [&w](auto r) { w = r.value(); });
  while (!w) io.run_one();
  return *w;
}
template <class Table>
typename Table::worker_type launch_on(asio::io_context& io, const Table& table, std::string name) {
  calc_handlers h;
  return launch_on(io, table, std::move(name), h);
}

template <class W, class Token>
constexpr bool shutdown_takes = requires(W& w, Token t) {
  workers::shutdown(w, t);
};
template <class W, class Token>
constexpr bool push_takes = requires(W& w, Token t) {
  workers::push_request(w, add{1}, t);
};
template <class W, class Token>
constexpr bool with_state_takes = requires(W& w, Token t) {
  workers::with_state(
      w, [](int&) {}, t);
};

// No side effect before the initiation runs.

// Holds its worker inside a handler, where it creates a shutdown with `deferred`.
struct deferring : calc_handlers {
  std::shared_ptr<
      std::optional<decltype(workers::shutdown(std::declval<calc_worker&>(), asio::deferred))>>
      made = std::make_shared<std::optional<decltype(workers::shutdown(std::declval<calc_worker&>(),
                                                                       asio::deferred))>>();
  template <class W>
  workers::result<workers::unit, std::string> on_request(W& self, const stop_self&) {
    made->emplace(workers::shutdown(self, asio::deferred));
    return workers::unit{};
  }
  using calc_handlers::on_request;
};

TEST_CASE_METHOD(calc_fixture,
                 "asio: an operation created with deferred and never launched has no effect",
                 "[asio]") {
  run(io, [&]() -> asio::awaitable<void> {
    {
      auto op = workers::shutdown(w, asio::deferred);
      auto push = workers::push_request(w, add{5}, asio::deferred);
      auto wait = workers::push_request_and_wait(w, add{7}, asio::deferred);
      auto st = workers::with_state(
          w, [](int& s) { s = 100; }, asio::deferred);
    }  // dropped unlaunched
    REQUIRE_FALSE(workers::is_shutting_down(w));
    auto sum = co_await workers::push_request_and_wait(w, add{1});
    REQUIRE(*sum == 1);  // neither the push, nor the push-and-wait, nor with_state happened
    REQUIRE(std::holds_alternative<workers::running>(workers::status(w)));
    co_await workers::shutdown(w);
  });
}

TEST_CASE("asio: shutdown decides whether it is called from a handler when launched, not created",
          "[asio]") {
  asio::io_context io;
  auto table = make_table();
  deferring h;
  run(io, [&]() -> asio::awaitable<void> {
    auto launched = co_await workers::launch(table, io.get_executor(), "d", calc_parameters{}, h,
                                             test_launch_options());
    auto w = *launched;
    busy_gate gate(io.get_executor());
    (void)co_await workers::push_request_and_wait(w, stop_self{});  // creates it inside a handler
    REQUIRE_FALSE(workers::is_shutting_down(w));                    // ... without effect
    workers::push_request_now(w, gate.request());
    co_await gate.entered();
    // Launched from outside while a handler runs: it waits for the close, which
    // cancels that handler; it does not complete at once.
    auto op = std::move(**h.made);
    co_await std::move(op)(asio::use_awaitable);
    REQUIRE(std::holds_alternative<workers::closed>(workers::status(w)));
  });
}

TEST_CASE_METHOD(
    calc_fixture,
    "asio: an operation launched after the worker closed and every handle is gone is safe",
    "[asio]") {
  run(io, [&]() -> asio::awaitable<void> {
    auto wait = workers::wait_for_completion(w, asio::deferred);
    auto push = workers::push_request_and_wait(w, add{1}, asio::deferred);
    auto stop = workers::shutdown(w, asio::deferred);
    auto state = workers::with_state(
        w, [](int& s) { return s; }, asio::deferred);
    workers::trigger_shutdown(w);
    w = {};  // the last handle
    REQUIRE(table.size() <= 1);
    co_await std::move(stop)(asio::use_awaitable);
    REQUIRE(table.size() == 0);
    co_await std::move(wait)(asio::use_awaitable);
    auto r = co_await std::move(push)(asio::use_awaitable);
    REQUIRE(r.error().is_closed());
    auto s = co_await std::move(state)(asio::use_awaitable);
    REQUIRE_FALSE(s);
  });
}

// Outstanding work on the handler's executor.

// Starts an operation whose handler is bound to a second io_context, runs that
// context on a thread, then lets the worker (on `io`, run only now) answer.
// Without outstanding work the second context's run() returns at once and the
// handler never runs.
template <class Start>
bool handler_ran_with_work_held(asio::io_context& io, Start start) {
  asio::io_context other;
  std::atomic<bool> ran{false};
  start(asio::bind_executor(other, [&ran](auto&&...) { ran = true; }));
  std::promise<void> returned;
  std::thread runner([&] {
    other.run();
    returned.set_value();
  });
  {
    io_thread worker_side(io);
    if (returned.get_future().wait_for(watchdog) != std::future_status::ready) other.stop();
  }
  runner.join();
  return ran.load();
}

TEST_CASE("asio: while an operation waits, its handler's executor has outstanding work", "[asio]") {
  auto table = make_table();
  auto bounded = make_bounded_table(1);
  auto dropbox = make_dropbox_table();
  asio::io_context io;
  auto w = launch_on(io, table, "work");
  auto b = launch_on(io, bounded, "work");
  auto d = launch_on(io, dropbox, "work");
  REQUIRE(workers::try_push_request_now(b, add{1}));  // full: the next push waits for room

  SECTION("push_request_and_wait") {
    CHECK(handler_ran_with_work_held(
        io, [&](auto h) { workers::push_request_and_wait(w, add{1}, std::move(h)); }));
  }
  SECTION("put_request_and_wait") {
    CHECK(handler_ran_with_work_held(
        io, [&](auto h) { workers::put_request_and_wait(d, add{1}, std::move(h)); }));
  }
  SECTION("push_request waiting for room") {
    CHECK(handler_ran_with_work_held(
        io, [&](auto h) { workers::push_request(b, add{2}, std::move(h)); }));
  }
  SECTION("with_state") {
    CHECK(handler_ran_with_work_held(io, [&](auto h) {
      workers::with_state(
          w, [](int& s) { return s; }, std::move(h));
    }));
  }
  SECTION("wait_for_completion and shutdown") {
    CHECK(handler_ran_with_work_held(io, [&](auto h) {
      workers::wait_for_completion(w, std::move(h));
      workers::trigger_shutdown(w);
    }));
    CHECK(handler_ran_with_work_held(io, [&](auto h) { workers::shutdown(d, std::move(h)); }));
  }
  SECTION("launch") {
    CHECK(handler_ran_with_work_held(io, [&](auto h) {
      calc_handlers handlers;
      workers::launch(table, io.get_executor(), "late", calc_parameters{}, handlers,
                      test_launch_options(), std::move(h));
    }));
  }
  for (auto* x : {&w}) workers::trigger_shutdown(*x);
  workers::trigger_shutdown(b);
  workers::trigger_shutdown(d);
  if (auto late = workers::find_opt(table, "late")) workers::trigger_shutdown(*late);
  io.restart();
  io.run();
}

// The handler's allocator.

struct allocation_counts {
  std::atomic<int> allocated{0};
  std::atomic<int> outstanding{0};
};

template <class T>
struct counting_allocator {
  using value_type = T;
  std::shared_ptr<allocation_counts> counts;
  explicit counting_allocator(std::shared_ptr<allocation_counts> c) : counts(std::move(c)) {}
  template <class U>
  counting_allocator(const counting_allocator<U>& o) noexcept : counts(o.counts) {}
  T* allocate(std::size_t n) {
    ++counts->allocated;
    ++counts->outstanding;
    return std::allocator<T>().allocate(n);
  }
  void deallocate(T* p, std::size_t n) noexcept {
    --counts->outstanding;
    std::allocator<T>().deallocate(p, n);
  }
  template <class U>
  bool operator==(const counting_allocator<U>& o) const noexcept {
    return counts == o.counts;
  }
};

TEST_CASE_METHOD(calc_fixture,
                 "asio: memory from the handler's allocator is freed before the handler runs",
                 "[asio]") {
  // One allocator per operation: what it has outstanding when its handler runs.
  std::vector<std::shared_ptr<allocation_counts>> counts;
  std::vector<int> outstanding_at_upcall;
  const auto token = [&] {
    auto c = counts.emplace_back(std::make_shared<allocation_counts>());
    return asio::bind_allocator(counting_allocator<void>(c), [&, c](auto&&...) {
      outstanding_at_upcall.push_back(c->outstanding);
    });
  };
  run(io, [&]() -> asio::awaitable<void> {
    workers::push_request_and_wait(w, add{1}, token());
    workers::push_request(w, add{1}, token());
    workers::with_state(
        w, [](int&) {}, token());
    // A caller that gives up while its request is still queued.
    busy_gate gate(io.get_executor());
    workers::push_request_now(w, gate.request());
    co_await gate.entered();
    asio::cancellation_signal signal;
    workers::push_request_and_wait(w, add{1}, asio::bind_cancellation_slot(signal.slot(), token()));
    signal.emit(asio::cancellation_type::total);
    gate.open();
    workers::wait_for_completion(w, token());
    workers::shutdown(w, token());
    while (outstanding_at_upcall.size() < 6) co_await asio::post(io, asio::use_awaitable);
  });
  REQUIRE(outstanding_at_upcall == std::vector<int>(6, 0));
  for (const auto& c : counts) {
    REQUIRE(c->allocated > 0);     // the handler's allocator was used ...
    REQUIRE(c->outstanding == 0);  // ... and all of it given back
  }
}

// Exception-safe creation.

// A handler whose move constructor throws once armed.
struct fragile_handler {
  std::shared_ptr<bool> armed;
  std::shared_ptr<int> live;
  fragile_handler(std::shared_ptr<bool> a, std::shared_ptr<int> l)
      : armed(std::move(a)), live(std::move(l)) {
    ++*live;
  }
  fragile_handler(const fragile_handler& o) : armed(o.armed), live(o.live) { ++*live; }
  fragile_handler(fragile_handler&& o) : armed(o.armed), live(o.live) {
    if (*armed) throw std::runtime_error("move failed");
    ++*live;
  }
  ~fragile_handler() { --*live; }
  template <class... Args>
  void operator()(Args&&...) {}
};

TEST_CASE_METHOD(
    calc_fixture,
    "asio: an operation whose handler cannot be moved in throws and leaves nothing behind",
    "[asio]") {
  auto armed = std::make_shared<bool>(false);
  auto live = std::make_shared<int>(0);
  run(io, [&]() -> asio::awaitable<void> {
    *armed = true;
    {
      fragile_handler h(armed, live);
      REQUIRE_THROWS_AS(workers::push_request_and_wait(w, add{5}, std::move(h)),
                        std::runtime_error);
      REQUIRE_THROWS_AS(workers::shutdown(w, std::move(h)), std::runtime_error);
      REQUIRE_THROWS_AS(workers::with_state(
                            w, [](int&) {}, std::move(h)),
                        std::runtime_error);
    }
    *armed = false;
    REQUIRE(*live == 0);
    REQUIRE_FALSE(workers::is_shutting_down(w));  // the failed shutdown did not begin
    auto sum = co_await workers::push_request_and_wait(w, add{1});
    REQUIRE(*sum == 1);  // the failed push was not enqueued
    co_await workers::shutdown(w);
  });
}

// Named, constrained initiations and the default token.

}  // namespace asio_contract_tests

// A completion token whose async_result records what the initiation offers.
struct asio_contract_probing_token {
  std::shared_ptr<std::optional<boost::asio::any_io_executor>>* seen;
};

template <class Signature>
struct boost::asio::async_result<asio_contract_probing_token, Signature> {
  template <class Initiation, class... Args>
  static void initiate(Initiation&& initiation, asio_contract_probing_token token, Args&&...) {
    if constexpr (requires { initiation.get_executor(); })
      (*token.seen)->emplace(initiation.get_executor());
  }
};

namespace asio_contract_tests {
using probing_token = asio_contract_probing_token;

TEST_CASE("asio: initiations are named objects with the worker's executor, tokens are constrained",
          "[asio]") {
  asio::io_context io;
  auto table = make_table();
  auto w = launch_on(io, table, "named");
  auto seen = std::make_shared<std::optional<asio::any_io_executor>>();
  workers::push_request_and_wait(w, add{1}, probing_token{&seen});
  REQUIRE(seen->has_value());
  REQUIRE(**seen == asio::any_io_executor(w.get_executor()));

  // The default token is the worker executor's: use_awaitable.
  STATIC_REQUIRE(std::is_same_v<asio::default_completion_token_t<calc_worker::executor_type>,
                                asio::use_awaitable_t<>>);
  STATIC_REQUIRE(std::is_same_v<decltype(workers::shutdown(w)), asio::awaitable<void>>);
  // A handler of the wrong signature is no token for the operation.
  using wrong = void (*)(int);
  using right = void (*)(workers::error_code);
  STATIC_REQUIRE_FALSE(shutdown_takes<calc_worker, wrong>);
  STATIC_REQUIRE_FALSE(push_takes<calc_worker, wrong>);
  STATIC_REQUIRE_FALSE(with_state_takes<calc_worker, wrong>);
  STATIC_REQUIRE(shutdown_takes<calc_worker, right>);
  STATIC_REQUIRE(push_takes<calc_worker, right>);
  workers::trigger_shutdown(w);
  io.run();
}

// Per-operation cancellation, by type.

TEST_CASE_METHOD(
    calc_fixture,
    "asio: push_request_and_wait honours total cancellation only while its request is queued",
    "[asio]") {
  run(io, [&]() -> asio::awaitable<void> {
    busy_gate gate(io.get_executor());
    asio::cancellation_signal in_flight, queued;
    std::optional<workers::reply_result<hold>> held;
    std::optional<workers::reply_result<add>> waiting;
    workers::push_request_and_wait(
        w, gate.request(),
        asio::bind_cancellation_slot(in_flight.slot(), [&](auto r) { held = std::move(r); }));
    co_await gate.entered();
    workers::push_request_and_wait(
        w, add{100},
        asio::bind_cancellation_slot(queued.slot(), [&](auto r) { waiting = std::move(r); }));
    in_flight.emit(asio::cancellation_type::total);  // refused: the handler runs
    queued.emit(asio::cancellation_type::total);     // honoured: never handled
    for (int i = 0; i < 10; ++i) co_await asio::post(io, asio::use_awaitable);
    REQUIRE_FALSE(held);
    REQUIRE(waiting);
    REQUIRE(waiting->error().is_cancelled());
    gate.open();
    while (!held) co_await asio::post(io, asio::use_awaitable);
    REQUIRE(held->has_value());  // the handler's own result: not cancelled
    auto sum = co_await workers::push_request_and_wait(w, add{0});
    REQUIRE(*sum == 0);  // add 100 was never handled
    co_await workers::shutdown(w);
  });
}

TEST_CASE_METHOD(
    calc_fixture,
    "asio: shutdown refuses total cancellation, wait_for_completion and with_state honour it",
    "[asio]") {
  run(io, [&]() -> asio::awaitable<void> {
    busy_gate gate(io.get_executor());
    workers::push_request_now(w, gate.request());
    co_await gate.entered();
    asio::cancellation_signal s1, s2, s3;
    std::optional<workers::error_code> waited, stopped;
    std::optional<std::exception_ptr> state_error;
    bool f_ran = false;
    workers::wait_for_completion(
        w, asio::bind_cancellation_slot(s1.slot(), [&](workers::error_code ec) { waited = ec; }));
    workers::with_state(
        w, [&](int&) { f_ran = true; },
        asio::bind_cancellation_slot(s3.slot(),
                                     [&](std::exception_ptr e, bool) { state_error = e; }));
    s3.emit(asio::cancellation_type::total);  // before f ran: honoured, f never runs
    s1.emit(asio::cancellation_type::total);
    workers::shutdown(
        w, asio::bind_cancellation_slot(s2.slot(), [&](workers::error_code ec) { stopped = ec; }));
    s2.emit(asio::cancellation_type::total);  // refused: the close cannot be undone
    for (int i = 0; i < 10; ++i) co_await asio::post(io, asio::use_awaitable);
    REQUIRE(waited == asio::error::operation_aborted);
    REQUIRE(state_error.has_value());
    REQUIRE_FALSE(f_ran);
    REQUIRE(std::holds_alternative<workers::closed>(workers::status(w)));
    REQUIRE(stopped == workers::error_code{});  // answered by the close, not by the cancellation
  });
}

TEST_CASE_METHOD(
    calc_fixture,
    "asio: wait_for_completion callers are answered oldest first, those who gave up at once",
    "[asio]") {
  run(io, [&]() -> asio::awaitable<void> {
    // Callers 0..11; every third gives up at once, before or after those still waiting.
    std::vector<int> answered, aborted;
    std::vector<std::unique_ptr<asio::cancellation_signal>> signals;
    for (int i = 0; i < 12; ++i) {
      signals.push_back(std::make_unique<asio::cancellation_signal>());
      workers::wait_for_completion(
          w, asio::bind_cancellation_slot(signals.back()->slot(), [&, i](workers::error_code ec) {
            (ec ? aborted : answered).push_back(i);
          }));
      if (i % 3 == 2) signals.back()->emit(asio::cancellation_type::terminal);
    }
    for (int i = 0; i < 10; ++i) co_await asio::post(io, asio::use_awaitable);
    CHECK(aborted == std::vector<int>{2, 5, 8, 11});
    CHECK(answered.empty());
    co_await workers::shutdown(w);
    for (int i = 0; i < 10; ++i) co_await asio::post(io, asio::use_awaitable);
    CHECK(answered == std::vector<int>{0, 1, 3, 4, 6, 7, 9, 10});
    CHECK(aborted == std::vector<int>{2, 5, 8, 11});
  });
}

// One cancellation vocabulary.

TEST_CASE("asio: a caller that gave up sees operation_aborted, whichever operation it was",
          "[asio]") {
  asio::io_context io;
  auto table = make_table();
  auto bounded = make_bounded_table(1);
  run(io, [&]() -> asio::awaitable<void> {
    auto w = co_await launch_ok(table, "vocabulary");
    auto b = co_await launch_ok(bounded, "vocabulary");
    busy_gate gate(io.get_executor());
    workers::try_push_request_now(b, gate.request());
    co_await gate.entered();
    REQUIRE(workers::try_push_request_now(b, add{1}));  // full
    workers::push_request_now(w, gate.request());

    asio::cancellation_signal s1, s2, s3, s4, s5;
    std::optional<workers::reply_result<add>> reply;
    std::optional<workers::error_code> pushed, waited, stopped;
    std::optional<std::exception_ptr> state_error;
    workers::push_request_and_wait(
        b, add{1}, asio::bind_cancellation_slot(s1.slot(), [&](auto r) { reply = std::move(r); }));
    workers::push_request(b, add{2},
                          asio::bind_cancellation_slot(s2.slot(), [&](auto ec) { pushed = ec; }));
    workers::wait_for_completion(
        w, asio::bind_cancellation_slot(s3.slot(), [&](auto ec) { waited = ec; }));
    workers::shutdown(b, asio::bind_cancellation_slot(s4.slot(), [&](auto ec) { stopped = ec; }));
    workers::with_state(
        b, [](int&) {}, asio::bind_cancellation_slot(s5.slot(), [&](std::exception_ptr e, bool) {
          state_error = e;
        }));
    for (auto* s : {&s1, &s2, &s3, &s4, &s5}) s->emit(asio::cancellation_type::terminal);
    while (!reply || !pushed || !waited || !stopped || !state_error)
      co_await asio::post(io, asio::use_awaitable);

    REQUIRE(reply->error().is_cancelled());
    REQUIRE(reply->error().code() == asio::error::operation_aborted);
    REQUIRE(reply->error().code() == std::errc::operation_canceled);
    for (auto ec : {*pushed, *waited, *stopped}) {
      REQUIRE(ec == asio::error::operation_aborted);
      REQUIRE(ec == std::errc::operation_canceled);
    }
    try {
      std::rethrow_exception(*state_error);
    } catch (const boost::system::system_error& e) {
      REQUIRE(e.code() == asio::error::operation_aborted);
    }
    gate.open();
    co_await workers::shutdown(w);
    co_await workers::shutdown(b);
  });
}

TEST_CASE_METHOD(calc_fixture, "asio: a push refused because the worker closed says errc::closed",
                 "[asio]") {
  run(io, [&]() -> asio::awaitable<void> {
    co_await workers::shutdown(w);
    auto [ec] = co_await workers::push_request(w, add{1}, asio::as_tuple(asio::use_awaitable));
    REQUIRE(ec == errc::closed);
    REQUIRE(ec.message() == "worker closed");
    try {
      co_await workers::push_request(w, add{1});
      FAIL("a refused push must throw through use_awaitable");
    } catch (const boost::system::system_error& e) {
      REQUIRE(e.code() == errc::closed);
    }
  });
}

// reply_mode::dispatch (launch_options::reply): a handled request's caller is
// completed with dispatch semantics; the default posts.

workers::launch_options replies(workers::reply_mode mode) { return {.reply = mode}; }

// Runs `io` until `done()`, or fails after the watchdog.
template <class F>
void run_until(asio::io_context& io, F done) {
  const auto limit = std::chrono::steady_clock::now() + watchdog;
  while (!done()) {
    REQUIRE(std::chrono::steady_clock::now() < limit);
    io.run_one_for(std::chrono::milliseconds(100));
  }
}

TEST_CASE("asio: a handler with no executor of its own completes on the worker's strand",
          "[asio]") {
  // On an io_context the worker keeps its strand typed, on any other executor type-erased.
  asio::io_context io;
  asio::thread_pool pool(1);
  auto table = make_table();
  calc_handlers h;
  for (const bool on_io : {true, false}) {
    const auto ex = on_io ? asio::any_io_executor(io.get_executor())
                          : asio::any_io_executor(pool.get_executor());
    auto wait = [&](auto& f) {
      if (on_io)
        run_until(io,
                  [&] { return f.wait_for(std::chrono::seconds(0)) == std::future_status::ready; });
      return get_within(f);
    };
    std::promise<std::optional<calc_worker>> launched;
    std::promise<bool> replied, closed;
    workers::launch(
        table, ex, on_io ? "io" : "pool", calc_parameters{}, h, test_launch_options(), [&](auto r) {
          launched.set_value(r && r->get_executor().running_in_this_thread() ? std::optional(*r)
                                                                             : std::nullopt);
        });
    auto l = launched.get_future();
    const auto w = wait(l);
    REQUIRE(w);
    workers::push_request_and_wait(*w, add{1}, [&, w](auto r) {
      replied.set_value(r.has_value() && w->get_executor().running_in_this_thread());
    });
    workers::wait_for_completion(*w, [&, w](boost::system::error_code ec) {
      closed.set_value(!ec && w->get_executor().running_in_this_thread());
    });
    auto r1 = replied.get_future();
    CHECK(wait(r1));
    workers::trigger_shutdown(*w);
    auto r2 = closed.get_future();
    CHECK(wait(r2));
  }
  pool.join();
}

TEST_CASE("asio: with reply_mode::dispatch a caller on the worker's thread resumes inside it",
          "[asio][reply]") {
  for (const auto mode : {workers::reply_mode::post, workers::reply_mode::dispatch}) {
    CAPTURE(mode == workers::reply_mode::dispatch);
    asio::io_context io;
    auto table = make_table();
    calc_handlers h;
    run(io, [&]() -> asio::awaitable<void> {
      auto r = co_await workers::launch(table, io.get_executor(), "r", calc_parameters{}, h,
                                        replies(mode));
      auto w = *r;
      auto v = co_await workers::push_request_and_wait(w, add{1});
      REQUIRE(v.value() == 1);
      // Resumed inline, the caller runs before the worker's on_completion.
      h.j->log("caller resumed");
      co_await workers::shutdown(w);
    });
    const std::vector<std::string> posted{"launch r", "done add 1", "caller resumed", "close"};
    const std::vector<std::string> dispatched{"launch r", "caller resumed", "done add 1", "close"};
    REQUIRE(h.j->snapshot() == (mode == workers::reply_mode::dispatch ? dispatched : posted));
  }
}

TEST_CASE("asio: with reply_mode::dispatch a throwing caller leaves run() and the worker goes on",
          "[asio][reply]") {
  asio::io_context io;
  auto table = make_table();
  calc_handlers h;
  const auto w = launch_on(io, table, "r", h, replies(workers::reply_mode::dispatch));
  // No executor of their own: they complete on the worker's strand, inline.
  workers::push_request_and_wait(w, add{1}, [](auto) { throw std::runtime_error("caller threw"); });
  std::optional<int> second;
  workers::push_request_and_wait(w, add{2}, [&second](auto r) { second = r.value(); });
  bool thrown = false;
  try {
    io.run();
  } catch (const std::runtime_error& e) {
    thrown = std::string_view(e.what()) == "caller threw";
  }
  REQUIRE(thrown);
  io.restart();
  run_until(io, [&] { return second.has_value(); });
  REQUIRE(*second == 3);
  REQUIRE(std::holds_alternative<workers::running>(workers::status(w)));
  bool closed = false;
  workers::shutdown(w, [&closed](boost::system::error_code ec) { closed = !ec; });
  run_until(io, [&] { return closed; });
  REQUIRE(h.j->snapshot() ==
          std::vector<std::string>{"launch r", "done add 1", "done add 2", "close"});
}

TEST_CASE(
    "asio: with reply_mode::dispatch a resumed caller's shutdown closes before the next "
    "request",
    "[asio][reply]") {
  for (const auto mode : {workers::reply_mode::post, workers::reply_mode::dispatch}) {
    CAPTURE(mode == workers::reply_mode::dispatch);
    asio::io_context io;
    auto table = make_table();
    calc_handlers h;
    const auto w = launch_on(io, table, "r", h, replies(mode));
    workers::push_request_and_wait(w, add{1}, [w](auto) { workers::trigger_shutdown(w); });
    std::vector<boost::system::error_code> later;
    for (int i = 0; i < 2; ++i)
      workers::push_request_and_wait(w, add{1}, [&later](auto r) {
        later.push_back(r.has_value() ? boost::system::error_code{} : r.error().code());
      });
    bool closed = false;
    workers::wait_for_completion(w, [&closed](boost::system::error_code) { closed = true; });
    run_until(io, [&] { return closed && later.size() == 2; });
    // Posted, the answer runs after the worker's turn, which handled both
    // requests queued behind; dispatched, it runs first and they are refused.
    const auto expected = mode == workers::reply_mode::dispatch
                              ? boost::system::error_code(errc::closed)
                              : boost::system::error_code{};
    REQUIRE(later == std::vector<boost::system::error_code>{expected, expected});
  }
}

}  // namespace asio_contract_tests
