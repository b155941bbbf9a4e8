// The closing rules (SPEC §5): every waiter answered exactly once, on_close once,
// crash errors carried, nothing queued into the void.

#include "support/calc.hpp"
#include "support/catch.hpp"
#include "support/run.hpp"

#include <workers/testing.hpp>

#include <future>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>

#include <algorithm>
#include <chrono>

// Named, so that the unity build keeps each file's helpers apart.
namespace closing_tests {

using namespace test;
using namespace std::chrono_literals;
using boost::system::error_code;
using workers::errc;
using workers::testing::manual_clock;
using workers::testing::run_until_idle;

template <class T>
bool is_closed_with(const T& r, bool crashed) {
  if (r || !r.error().is_closed()) return false;
  return std::get<workers::worker_closed>(r.error()).crash_errors.has_value() == crashed;
}

TEST_CASE("closing: waiters in flight, queued and arriving after close each get closed",
          "[closing]") {
  asio::io_context io;
  auto table = make_table();
  calc_handlers h;
  run(io, [&]() -> asio::awaitable<void> {
    auto w = co_await launch_ok(table, "c", h);
    busy_gate gate(io.get_executor());
    auto in_flight = workers::push_request_and_wait(w, gate.request(), asio::use_future);
    co_await gate.entered();
    std::vector<std::future<workers::reply_result<add>>> queued;
    for (int i = 0; i < 3; ++i)
      queued.push_back(workers::push_request_and_wait(w, add{1}, asio::use_future));
    REQUIRE(workers::pending_requests_length(w) == 3);
    co_await workers::shutdown(w);
    // The hold handler was cancelled through Asio cancellation: its caller gets closed.
    REQUIRE(is_closed_with(in_flight.get(), false));
    for (auto& f : queued) REQUIRE(is_closed_with(f.get(), false));
    // After close: refused, never queued into the void.
    auto [got1] = co_await workers::push_request(w, add{1}, asio::as_tuple(asio::use_awaitable));
    REQUIRE(got1 == errc::closed);
    REQUIRE_FALSE(workers::push_request_now(w, add{1}));
    auto got2 = co_await workers::push_request_and_wait(w, add{1});
    REQUIRE(is_closed_with(got2, false));
    REQUIRE(workers::pending_requests_length(w) == 0);
  });
  REQUIRE(h.j->closes == 1);
  // The adds never ran.
  for (const auto& e : h.j->snapshot()) REQUIRE(e.find("add") == std::string::npos);
}

TEST_CASE("crash: a throwing handler crashes the worker, its caller gets the exception",
          "[closing]") {
  asio::io_context io;
  auto table = make_table();
  calc_handlers h;
  calc_worker w;
  run(io, [&]() -> asio::awaitable<void> {
    w = co_await launch_ok(table, "x", h);
    busy_gate gate(io.get_executor());
    workers::push_request_now(w, gate.request());
    co_await gate.entered();
    auto thrower = workers::push_request_and_wait(w, boom{}, asio::use_future);
    auto after = workers::push_request_and_wait(w, add{1}, asio::use_future);
    gate.open();
    co_await workers::wait_for_completion(w);
    auto t = thrower.get();
    REQUIRE_FALSE(t.has_value());
    REQUIRE(t.error().is_exception());
    REQUIRE(t.error().code() == errc::handler_exception);
    REQUIRE_THROWS_WITH(t.value(), "boom");
    auto a = after.get();
    REQUIRE(is_closed_with(a, true));
    REQUIRE(std::get<workers::worker_closed>(a.error()).crash_errors->at(0).find("boom") !=
            std::string::npos);
    auto got3 = co_await workers::push_request_and_wait(w, add{1});
    REQUIRE(is_closed_with(got3, true));
  });
  const auto st = workers::status(w);
  REQUIRE(std::holds_alternative<workers::closed>(st));
  REQUIRE(std::get<workers::closed>(st).crash_errors);
  REQUIRE(h.j->closes == 1);
  REQUIRE(table.size() == 0);
}

TEST_CASE("on_error: answering shutdown closes cleanly, the failing caller gets its error",
          "[closing]") {
  asio::io_context io;
  auto table = make_table();
  calc_handlers h;
  calc_worker w;
  run(io, [&]() -> asio::awaitable<void> {
    w = co_await launch_ok(table, "e", h, {.policy = on_error_policy::shutdown});
    // GCC 12 miscompiles class temporaries holding a std::string inside a
    // co_await expression (see README, "Compilers"): name the request first.
    fail request{"bad"};
    auto r = co_await workers::push_request_and_wait(w, std::move(request));
    REQUIRE_FALSE(r.has_value());
    REQUIRE(r.error().is_request_error());
    REQUIRE(r.error().error() == "bad");
    co_await workers::wait_for_completion(w);
    auto got4 = co_await workers::push_request_and_wait(w, add{1});
    REQUIRE(is_closed_with(got4, false));
  });
  REQUIRE_FALSE(std::get<workers::closed>(workers::status(w)).crash_errors);
  REQUIRE(h.j->snapshot() == std::vector<std::string>{"launch e", "error fail bad: bad", "close"});
}

TEST_CASE("on_error: answering crash errors closes as crashed with those errors", "[closing]") {
  asio::io_context io;
  auto table = make_table();
  calc_handlers h;
  calc_worker w;
  run(io, [&]() -> asio::awaitable<void> {
    w = co_await launch_ok(table, "e", h, {.policy = on_error_policy::crash});
    // GCC 12 miscompiles class temporaries holding a std::string inside a
    // co_await expression (see README, "Compilers"): name the request first.
    fail request{"bad"};
    auto r = co_await workers::push_request_and_wait(w, std::move(request));
    REQUIRE(r.error().is_request_error());
    co_await workers::wait_for_completion(w);
  });
  const auto st = std::get<workers::closed>(workers::status(w));
  REQUIRE(st.crash_errors == workers::error_list{"crashed: bad"});
}

TEST_CASE("on_error: a resource released from on_error and on_close is released once on both paths",
          "[closing]") {
  for (auto policy : {on_error_policy::shutdown, on_error_policy::crash}) {
    asio::io_context io;
    auto table = make_table();
    calc_handlers h;
    run(io, [&]() -> asio::awaitable<void> {
      auto w = co_await launch_ok(table, "r", h, {.policy = policy});
      // GCC 12 miscompiles class temporaries holding a std::string inside a
      // co_await expression (see README, "Compilers"): name the request first.
      fail request{"x"};
      co_await workers::push_request_and_wait(w, std::move(request));
      co_await workers::wait_for_completion(w);
    });
    REQUIRE(h.j->releases == 1);
    REQUIRE(h.j->closes == 1);
  }
  // And when the worker is simply shut down, on_close alone releases it.
  asio::io_context io;
  auto table = make_table();
  calc_handlers h;
  run(io, [&]() -> asio::awaitable<void> {
    auto w = co_await launch_ok(table, "r", h);
    co_await workers::shutdown(w);
  });
  REQUIRE(h.j->releases == 1);
}

TEST_CASE("faults: on_error and on_close that throw have defined outcomes", "[closing]") {
  asio::io_context io;
  auto table = make_table();
  calc_handlers h1, h2;
  calc_worker w1, w2;
  run(io, [&]() -> asio::awaitable<void> {
    w1 = co_await launch_ok(table, "oe", h1, {.policy = on_error_policy::throws});
    // GCC 12 miscompiles class temporaries holding a std::string inside a
    // co_await expression (see README, "Compilers"): name the request first.
    fail request{"y"};
    auto r = co_await workers::push_request_and_wait(w1, std::move(request));
    REQUIRE(r.error().is_request_error());  // the request's own outcome still reaches its caller
    co_await workers::wait_for_completion(w1);
    w2 = co_await launch_ok(table, "oc", h2, {.throw_on_close = true});
    co_await workers::shutdown(w2);
  });
  auto c1 = std::get<workers::closed>(workers::status(w1));
  REQUIRE(c1.crash_errors);
  REQUIRE(c1.crash_errors->at(0).find("on_error") != std::string::npos);
  auto c2 = std::get<workers::closed>(workers::status(w2));
  REQUIRE(c2.crash_errors);
  REQUIRE(c2.crash_errors->at(0).find("on_close") != std::string::npos);
  REQUIRE(h1.j->closes == 1);
  REQUIRE(h2.j->closes == 1);
}

TEST_CASE("crash sequence: requests after a crashing one are refused", "[closing]") {
  asio::io_context io;
  auto table = make_table();
  calc_handlers h;
  run(io, [&]() -> asio::awaitable<void> {
    auto w = co_await launch_ok(table, "seq", h);
    auto got5 = co_await workers::push_request_and_wait(w, add{1});
    REQUIRE(*got5 == 1);
    auto got6 = co_await workers::push_request_and_wait(w, boom{});
    REQUIRE(got6.error().is_exception());
    co_await workers::wait_for_completion(w);
    auto [got7] = co_await workers::push_request(w, add{1}, asio::as_tuple(asio::use_awaitable));
    REQUIRE(got7 == errc::closed);
    auto got8 = co_await workers::push_request_and_wait(w, add{2});
    REQUIRE(is_closed_with(got8, true));
  });
  REQUIRE(h.j->snapshot() == std::vector<std::string>{"launch seq", "done add 1", "close"});
}

TEST_CASE(
    "cancellation: a caller that stops waiting for a queued request is answered at once and the "
    "request is skipped",
    "[closing]") {
  asio::io_context io;
  auto table = make_table();
  calc_handlers h;
  run(io, [&]() -> asio::awaitable<void> {
    auto w = co_await launch_ok(table, "cn", h);
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

TEST_CASE(
    "cancellation: a caller that stops waiting while its request is handled is answered at once, "
    "the request completes",
    "[closing]") {
  asio::io_context io;
  auto table = make_table();
  calc_handlers h;
  run(io, [&]() -> asio::awaitable<void> {
    auto w = co_await launch_ok(table, "cn2", h);
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

TEST_CASE(
    "cancellation: a request that opts in has its handler cancelled with its caller, the worker "
    "goes on",
    "[closing]") {
  asio::io_context io;
  auto table = make_table();
  calc_handlers h;
  calc_worker w;
  run(io, [&]() -> asio::awaitable<void> {
    w = co_await launch_ok(table, "cn3", h);
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

TEST_CASE("cancellation: a call timeout with awaitable operators", "[closing]") {
  asio::io_context io;
  manual_clock clock;
  auto table = make_table();
  calc_handlers h;
  std::optional<calc_worker> w;
  workers::launch(table, io, "cn4", calc_parameters{}, h, test_launch_options(),
                  [&](auto r) { w.emplace(std::move(r).value()); });
  run_until_idle(io);
  REQUIRE(w);
  busy_gate gate(io.get_executor());  // never opened
  patient_hold patient{gate.request()};
  std::optional<std::pair<std::size_t, std::optional<int>>> slow, fast;
  asio::co_spawn(io, call_or_timeout(*w, patient, clock), [&](std::exception_ptr e, auto r) {
    if (e) std::rethrow_exception(e);
    slow = r;
  });
  run_until_idle(io);
  REQUIRE(workers::current_request(*w));  // the handler waits on its gate
  clock.advance(20ms - 1ns);
  run_until_idle(io);
  CHECK(!slow);  // 1 ns before the timeout: the call goes on
  CHECK(workers::current_request(*w));
  clock.advance(1ns);
  run_until_idle(io);
  // Timed out: the request was cancelled with its handler, which completed nothing.
  REQUIRE(slow);
  CHECK(slow->first == 1);
  CHECK(!workers::current_request(*w));
  const auto events = h.j->snapshot();
  CHECK(std::find(events.begin(), events.end(), "done patient hold") == events.end());
  // A call that answers first wins, and its timeout's timer is cancelled.
  asio::co_spawn(io, call_or_timeout(*w, add{5}, clock), [&](std::exception_ptr e, auto r) {
    if (e) std::rethrow_exception(e);
    fast = r;
  });
  run_until_idle(io);
  REQUIRE(fast);
  CHECK(fast->first == 0);
  CHECK(fast->second == 5);
  CHECK(clock.pending_timers() == 0);
  bool closed = false;
  workers::shutdown(*w, [&](error_code) { closed = true; });
  run_until_idle(io);
  CHECK(closed);
}

TEST_CASE("cancellation: a caller's late cancellation does not reach the next request",
          "[closing]") {
  asio::io_context io;  // one thread: the order of the strand's handlers is fixed
  auto table = make_table();
  calc_handlers h;
  run(io, [&]() -> asio::awaitable<void> {
    auto w = co_await launch_ok(table, "cn5", h);
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

// A shutdown during an awaitable on_launch.
// An awaitable on_launch that pushes twice to its own bounded queue of 1: the
// second push waits for room that only the running worker can make.
struct fills_own_queue : calc_handlers {
  std::shared_ptr<gate_channel> second_push;  // signalled just before the second push
  std::shared_ptr<std::atomic<int>> pushes_answered = std::make_shared<std::atomic<int>>(0);

  asio::awaitable<workers::result<int, std::string>> on_launch(bounded_worker& self,
                                                               const std::string&,
                                                               const calc_parameters&) {
    try {
      co_await workers::push_request(self, add{1});
      ++*pushes_answered;
      second_push->try_send(error_code{});
      co_await workers::push_request(self, add{1});
      ++*pushes_answered;
    } catch (...) {
      ++*pushes_answered;  // a cancelled push answers too
      throw;
    }
    co_return 0;
  }
};

TEST_CASE(
    "closing: a shutdown during an awaitable on_launch waiting for room in its own queue "
    "answers every waiter, the launch included",
    "[closing]") {
  asio::io_context io;
  auto table = make_bounded_table(1);
  fills_own_queue h;
  h.second_push = std::make_shared<gate_channel>(io.get_executor(), 1);
  auto launch_answered = std::make_shared<std::atomic<bool>>(false);
  bool shutdown_completed = false;
  run(io, [&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto launch_done = std::make_shared<gate_channel>(ex, 1);
    std::string name = "self-filler";
    calc_parameters p;
    workers::launch(table, ex, std::move(name), p, h, [launch_answered, launch_done](auto) {
      *launch_answered = true;
      launch_done->try_send(error_code{});
    });
    co_await h.second_push->async_receive(asio::use_awaitable);  // its queue is full now
    auto w = workers::find_opt(table, "self-filler");
    REQUIRE(w);  // in its table from the start of its launch
    shutdown_completed = co_await completes_within(workers::shutdown(*w, asio::use_awaitable));
    if (shutdown_completed)
      (void)co_await completes_within(launch_done->async_receive(asio::use_awaitable));
  });
  CHECK(shutdown_completed);
  CHECK(*launch_answered);
  CHECK(*h.pushes_answered == 2);
}

// A handler that catches the close's cancellation.
// A handler that catches the cancellation of its awaited operation and returns a value.
struct swallows_cancellation : calc_handlers {
  asio::awaitable<workers::result<int, std::string>> on_request(calc_worker&, const hold& r) {
    r.entered->try_send(error_code{});
    try {
      co_await r.release->async_receive(asio::use_awaitable);
    } catch (const boost::system::system_error&) {
      co_return 42;  // cut short: returns a value all the same
    }
    co_return 1;
  }
  using calc_handlers::on_request;
};

TEST_CASE(
    "closing: the caller of an awaitable handler cut short by a close gets worker_closed, "
    "even if the handler returns a value",
    "[closing]") {
  asio::io_context io;
  auto table = make_table();
  swallows_cancellation h;
  std::optional<workers::reply_result<hold>> got;
  run(io, [&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    std::string name = "swallower";
    calc_parameters p;
    auto w = (co_await workers::launch(table, ex, std::move(name), p, h)).value();
    busy_gate gate(ex);
    auto answered = std::make_shared<gate_channel>(ex, 1);
    workers::push_request_and_wait(w, gate.request(),
                                   [&got, answered](workers::reply_result<hold> r) {
                                     got.emplace(std::move(r));
                                     answered->try_send(error_code{});
                                   });
    co_await gate.entered();
    co_await workers::shutdown(w);  // cancels the handler in flight
    const bool in_time = co_await completes_within(answered->async_receive(asio::use_awaitable));
    REQUIRE(in_time);
  });
  REQUIRE(got);
  INFO("the caller got " << (got->has_value() ? fmt::format("the value {}", **got)
                                              : fmt::format("{}", got->error())));
  CHECK_FALSE(got->has_value());
  CHECK((!got->has_value() && got->error().is_closed()));
}

// Records why it closes, and the status it can read meanwhile.
struct reason_recorder : calc_handlers {
  std::shared_ptr<std::vector<workers::close_reason>> reasons =
      std::make_shared<std::vector<workers::close_reason>>();
  template <class W>
  void on_close(W&, const workers::close_reason& why) {
    reasons->push_back(why);
  }
};

TEST_CASE("closing: on_close is told why the worker closes, with the crash errors", "[closing]") {
  using workers::close_cause;
  struct scenario {
    const char* name;
    calc_parameters parameters;
    std::optional<calc_any> request;  // none: a plain shutdown
    close_cause cause;
    bool crashed;
  };
  const std::vector<scenario> scenarios = {
      {"shutdown", {}, std::nullopt, close_cause::shutdown, false},
      {"on_error shutdown",
       {.policy = on_error_policy::shutdown},
       fail{"no"},
       close_cause::on_error_shutdown,
       false},
      {"on_error crash", {.policy = on_error_policy::crash}, fail{"no"}, close_cause::crash, true},
      {"handler exception", {}, boom{}, close_cause::handler_exception, true},
  };
  for (const auto& s : scenarios) {
    INFO(s.name);
    asio::io_context io;
    auto table = make_table();
    reason_recorder h;
    run(io, [&]() -> asio::awaitable<void> {
      auto w = co_await launch_ok(table, "why", h, s.parameters);
      if (s.request)
        std::visit([&](auto r) { workers::push_request_now(w, std::move(r)); }, *s.request);
      else
        workers::trigger_shutdown(w);
      co_await workers::wait_for_completion(w);
    });
    REQUIRE(h.reasons->size() == 1);
    CHECK(h.reasons->front().cause == s.cause);
    CHECK(h.reasons->front().crashed() == s.crashed);
  }
  // The end of a callback source.
  asio::io_context io;
  auto table = make_callback_table();
  reason_recorder h;
  run(io, [&]() -> asio::awaitable<void> {
    auto stream = std::make_shared<request_stream>(io.get_executor());
    const calc_parameters p{.stream = stream};
    auto w = co_await launch_as<callback_worker>(table, "source", h, p);
    stream->close();
    co_await workers::wait_for_completion(w);
  });
  REQUIRE(h.reasons->size() == 1);
  CHECK(h.reasons->front().cause == close_cause::end_of_source);
  CHECK_FALSE(h.reasons->front().crashed());
}

}  // namespace closing_tests
