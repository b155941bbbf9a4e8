// Queue operations (<workers/queue_operations.hpp>): a caller of
// push_request_and_wait that stops waiting (per-operation cancellation, a call
// timeout with awaitable operators) is answered at once; a queued request is
// skipped, a handled one completes unless it opts in to its caller's
// cancellation; a late cancellation does not reach the next request; and what
// the worker's books say of a request whose caller gave up (asio#1041's shape:
// a timeout whose handler had already finished).

#include "support/calc.hpp"
#include "support/catch.hpp"
#include "support/fixture.hpp"
#include "support/run.hpp"

#include <workers/events.hpp>
#include <workers/testing.hpp>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>

#include <algorithm>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

// Named, so that the unity build keeps each file's helpers apart.
namespace queue_operations_tests {

using namespace test;
using namespace std::chrono_literals;
using boost::system::error_code;
using workers::testing::manual_clock;
using workers::testing::run_until_idle;

// The request_cancelled events of a table: each request's view, and whether
// its handler ran to its end (its result discarded).
struct cancellations {
  std::mutex mutex;
  std::vector<std::pair<std::string, bool>> seen;
  bool should_handle(workers::level) const noexcept { return true; }
  void handle(const workers::event& e) {
    if (const auto* c = std::get_if<workers::events::request_cancelled>(&e.fields)) {
      std::lock_guard lock(mutex);
      seen.emplace_back(c->view.text(), c->handled);
    }
  }
};

// A handler of a request that opts in to its caller's cancellation, and yet
// runs to its end: it takes the cancellation of its wait as an answer.
struct stubborn_handlers : calc_handlers {
  using calc_handlers::on_request;
  template <class W>
  asio::awaitable<workers::result<int, std::string>> on_request(W&, const patient_hold& r) {
    r.entered->try_send(boost::system::error_code{});
    auto [ec] = co_await r.release->async_receive(asio::as_tuple(asio::use_awaitable));
    co_return ec ? 7 : 1;
  }
};

// Pushes `r`, gives up once its handler runs, then lets the handler finish;
// returns what the caller was told.
template <class R>
asio::awaitable<workers::reply_result<R>> give_up_while_handled(const calc_worker& w, R r,
                                                                const busy_gate& gate,
                                                                bool open_after) {
  auto ex = co_await asio::this_coro::executor;
  asio::cancellation_signal signal;
  std::optional<workers::reply_result<R>> got;
  workers::push_request_and_wait(
      w, std::move(r), asio::bind_cancellation_slot(signal.slot(), [&](workers::reply_result<R> a) {
        got = std::move(a);
      }));
  co_await gate.entered();
  signal.emit(asio::cancellation_type::terminal);
  while (!got) co_await asio::post(ex, asio::use_awaitable);
  if (open_after) gate.open();
  co_await workers::with_state(w, [](int&) {});  // after the handler, on the strand
  co_return std::move(*got);
}

TEST_CASE(
    "queue_operations: a push_request_and_wait caller that gives up while its request is handled "
    "is told cancelled, and a handler that runs to its end anyway is counted cancelled, its result "
    "discarded",
    "[queue_operations]") {
  asio::io_context io;
  auto seen = std::make_shared<cancellations>();
  auto table = make_table({.sink = seen, .metrics = true});
  stubborn_handlers h;
  run(io, [&]() -> asio::awaitable<void> {
    auto w = co_await launch_ok(table, "gives-up", h);
    {  // a plain request: its handler runs to its end
      busy_gate gate(io.get_executor());
      hold request = gate.request();  // named: see README, Compilers
      auto r = co_await give_up_while_handled(w, std::move(request), gate, true);
      REQUIRE(r.error().code() == asio::error::operation_aborted);
    }
    {  // cancel_with_caller: the handler sees the cancellation, and returns all the same
      busy_gate gate(io.get_executor());
      patient_hold request{gate.request()};
      auto r = co_await give_up_while_handled(w, std::move(request), gate, false);
      REQUIRE(r.error().code() == asio::error::operation_aborted);
    }
    {  // one that lets the cancellation cut it short
      busy_gate gate(io.get_executor());
      calc_handlers plain;
      auto cut = co_await launch_ok(table, "cut", plain);
      patient_hold request{gate.request()};
      auto r = co_await give_up_while_handled(cut, std::move(request), gate, false);
      REQUIRE(r.error().code() == asio::error::operation_aborted);
      const auto m = workers::metrics(cut);
      REQUIRE(m);
      CHECK(m->handled == 0);
      CHECK(m->cancelled == 1);
      co_await workers::shutdown(cut);
    }
    auto sum = co_await workers::push_request_and_wait(w, add{2});
    REQUIRE(*sum == 2);
    const auto m = workers::metrics(w);
    REQUIRE(m);
    CHECK(m->handled == 1);  // the add: the two others' results reached nobody
    CHECK(m->cancelled == 2);
    CHECK(m->dropped == 0);
    co_await workers::shutdown(w);
  });
  std::lock_guard lock(seen->mutex);
  std::vector<std::string> lines;
  for (const auto& [view, handled] : seen->seen)
    lines.push_back(fmt::format("{} {}", view, handled));
  CAPTURE(lines);
  REQUIRE(seen->seen == std::vector<std::pair<std::string, bool>>{
                            {"hold", true}, {"patient hold", true}, {"patient hold", false}});
}

TEST_CASE_METHOD(calc_fixture,
                 "queue_operations: a caller that stops waiting for a queued request is answered "
                 "at once and the request is skipped",
                 "[queue_operations]") {
  run(io, [&]() -> asio::awaitable<void> {
    busy_gate gate(io.get_executor());
    workers::push_request_now(w, gate.request());
    co_await gate.entered();
    asio::cancellation_signal signal;
    std::optional<workers::reply_result<add>> got;
    workers::push_request_and_wait(
        w, add{100}, asio::bind_cancellation_slot(signal.slot(), [&](workers::reply_result<add> r) {
          got = std::move(r);
        }));
    signal.emit(asio::cancellation_type::terminal);
    // Answered through the caller's executor, not inside emit().
    REQUIRE_FALSE(got);
    while (!got) co_await asio::post(io, asio::use_awaitable);
    REQUIRE(got->error().code() == asio::error::operation_aborted);
    gate.open();
    auto got9 = co_await workers::push_request_and_wait(w, add{1});
    REQUIRE(*got9 == 1);  // 100 was never added
    co_await workers::shutdown(w);
  });
}

TEST_CASE_METHOD(calc_fixture,
                 "queue_operations: a caller that stops waiting while its request is handled is "
                 "answered at once, the request completes",
                 "[queue_operations]") {
  run(io, [&]() -> asio::awaitable<void> {
    busy_gate gate(io.get_executor());
    asio::cancellation_signal signal;
    std::optional<workers::reply_result<hold>> got;
    workers::push_request_and_wait(
        w, gate.request(),
        asio::bind_cancellation_slot(signal.slot(),
                                     [&](workers::reply_result<hold> r) { got = std::move(r); }));
    co_await gate.entered();
    signal.emit(asio::cancellation_type::terminal);
    while (!got) co_await asio::post(io, asio::use_awaitable);
    REQUIRE(got->error().code() == asio::error::operation_aborted);
    gate.open();
    auto got10 = co_await workers::push_request_and_wait(w, add{1});
    REQUIRE(*got10 == 1);
    co_await workers::shutdown(w);
  });
  REQUIRE(h.j->snapshot().at(1) == "done hold");
}

TEST_CASE_METHOD(calc_fixture,
                 "queue_operations: a request that opts in has its handler cancelled with its "
                 "caller, the worker goes on",
                 "[queue_operations]") {
  run(io, [&]() -> asio::awaitable<void> {
    busy_gate gate(io.get_executor());
    asio::cancellation_signal signal;
    std::optional<workers::reply_result<patient_hold>> got;
    patient_hold patient{gate.request()};
    workers::push_request_and_wait(
        w, patient,
        asio::bind_cancellation_slot(signal.slot(), [&](auto r) { got = std::move(r); }));
    co_await gate.entered();
    signal.emit(asio::cancellation_type::terminal);
    // The handler's wait on the gate is cancelled: the next request runs without opening it.
    auto after = co_await workers::push_request_and_wait(w, add{2});
    REQUIRE(*after == 2);
    REQUIRE(got);
    REQUIRE(got->error().code() == asio::error::operation_aborted);
    // After an answer, cancelling has no effect.
    signal.emit(asio::cancellation_type::terminal);
    auto again = co_await workers::push_request_and_wait(w, add{1});
    REQUIRE(*again == 3);
    co_await workers::shutdown(w);
  });
  // Not a crash; the cancelled handler completed nothing.
  REQUIRE_FALSE(std::get<workers::closed>(workers::status(w)).crash_errors);
  const auto events = h.j->snapshot();
  REQUIRE(std::find(events.begin(), events.end(), "done patient hold") == events.end());
}

// Completes once `clock` has moved `d` on (a timer of the manual clock), or
// throws operation_aborted if cancelled first, as a steady_timer's wait would.
asio::awaitable<void> timeout(manual_clock& clock, std::chrono::steady_clock::duration d) {
  auto ex = co_await asio::this_coro::executor;
  auto fired = std::make_shared<gate_channel>(ex, 1);
  auto timer = clock.make_timer(ex);
  timer->wait_until(clock.steady_now() + d, [fired] { fired->try_send(error_code{}); });
  co_await fired->async_receive(asio::use_awaitable);
}

// Which of a call and a 20 ms timeout completed first: 0 the call (with its
// value), 1 the timeout.
template <class R>
asio::awaitable<std::pair<std::size_t, std::optional<int>>> call_or_timeout(calc_worker w, R r,
                                                                            manual_clock& clock) {
  using namespace boost::asio::experimental::awaitable_operators;
  auto outcome =
      co_await (workers::push_request_and_wait(w, r, asio::use_awaitable) || timeout(clock, 20ms));
  std::optional<int> value;
  if (outcome.index() == 0 && std::get<0>(outcome)) value = *std::get<0>(outcome);
  co_return std::pair{outcome.index(), value};
}

TEST_CASE_METHOD(calc_fixture, "queue_operations: a call timeout with awaitable operators",
                 "[queue_operations]") {
  manual_clock clock;
  busy_gate gate(io.get_executor());  // never opened
  patient_hold patient{gate.request()};
  std::optional<std::pair<std::size_t, std::optional<int>>> slow, fast;
  asio::co_spawn(io, call_or_timeout(w, patient, clock), [&](std::exception_ptr e, auto r) {
    if (e) std::rethrow_exception(e);
    slow = r;
  });
  run_until_idle(io);
  REQUIRE(workers::current_request(w));  // the handler waits on its gate
  clock.advance(20ms - 1ns);
  run_until_idle(io);
  CHECK(!slow);  // 1 ns before the timeout: the call goes on
  CHECK(workers::current_request(w));
  clock.advance(1ns);
  run_until_idle(io);
  // Timed out: the request was cancelled with its handler, which completed nothing.
  REQUIRE(slow);
  CHECK(slow->first == 1);
  CHECK(!workers::current_request(w));
  const auto events = h.j->snapshot();
  CHECK(std::find(events.begin(), events.end(), "done patient hold") == events.end());
  // A call that answers first wins, and its timeout's timer is cancelled.
  asio::co_spawn(io, call_or_timeout(w, add{5}, clock), [&](std::exception_ptr e, auto r) {
    if (e) std::rethrow_exception(e);
    fast = r;
  });
  run_until_idle(io);
  REQUIRE(fast);
  CHECK(fast->first == 0);
  CHECK(fast->second == 5);
  CHECK(clock.pending_timers() == 0);
  bool closed = false;
  workers::shutdown(w, [&](error_code) { closed = true; });
  run_until_idle(io);
  CHECK(closed);
}

TEST_CASE_METHOD(calc_fixture,
                 "queue_operations: a caller's late cancellation does not reach the next request",
                 "[queue_operations]") {
  // io runs on one thread: the order of the strand's handlers is fixed.
  run(io, [&]() -> asio::awaitable<void> {
    busy_gate first(io.get_executor()), second(io.get_executor());
    asio::cancellation_signal signal;
    std::optional<workers::reply_result<patient_hold>> got;
    patient_hold patient{first.request()};
    workers::push_request_and_wait(
        w, patient,
        asio::bind_cancellation_slot(signal.slot(), [&](auto r) { got = std::move(r); }));
    auto next = workers::push_request_and_wait(w, second.request(), asio::use_future);
    co_await first.entered();
    // The handler is let go, then its caller cancels: the cancellation reaches
    // the worker only after the handler has finished and the next one started.
    first.open();
    signal.emit(asio::cancellation_type::terminal);
    co_await second.entered();
    while (!got) co_await asio::post(io, asio::use_awaitable);
    REQUIRE(got->error().code() == asio::error::operation_aborted);
    second.open();  // the next handler was not cancelled: it waits for this
    auto after = co_await workers::push_request_and_wait(w, add{1});
    REQUIRE(*after == 1);
    auto n = next.get();
    REQUIRE(n.has_value());
    co_await workers::shutdown(w);
  });
  const auto events = h.j->snapshot();
  REQUIRE(std::find(events.begin(), events.end(), "done hold") != events.end());
}

}  // namespace queue_operations_tests
