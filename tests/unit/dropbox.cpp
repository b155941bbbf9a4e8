// What only a dropbox worker does: merging, with its callers following the
// merged request or dropped, merge faults, and upstream's scenario.

#include "support/calc.hpp"
#include "support/catch.hpp"
#include "support/fixture.hpp"
#include "support/run.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>

#include <atomic>
#include <deque>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <vector>

// Named, so that the unity build keeps each file's helpers apart.
namespace dropbox_tests {

using namespace test;
using workers::errc;

// Collects completions from callbacks on any thread, for a coroutine to await.
template <class T>
class collector {
 public:
  explicit collector(const asio::any_io_executor& ex)
      : channel_(std::make_shared<channel>(ex, 64)) {}
  auto handler() const {
    return [c = channel_](T v) { c->try_send(boost::system::error_code{}, std::move(v)); };
  }
  asio::awaitable<T> next() const {
    co_return co_await channel_->async_receive(asio::use_awaitable);
  }

 private:
  using channel = asio::experimental::concurrent_channel<void(boost::system::error_code, T)>;
  std::shared_ptr<channel> channel_;
};

template <class T, class E>
workers::error_code code_of(const workers::result<T, workers::message_error<E>>& r) {
  return r ? workers::error_code{} : r.error().code();
}

// Every put's decision in one merge, keyed by what is put:
//   add onto add: one add of the sum, both callers follow;
//   add of a negative amount: keep the pending request, its caller follows;
//   boom: keep the pending request (the caller cannot follow another type), or empty;
//   stop_self: the merge throws;
//   anything else replaces the pending request, whose callers are dropped.
workers::merged<calc_any> decide(dropbox_worker& self, calc_any in, const calc_any* pending) {
  (void)workers::state(self);  // merge runs on the worker's strand: the state is readable
  const bool onto_add = pending && std::holds_alternative<add>(*pending);
  if (auto* a = std::get_if<add>(&in); a && onto_add) {
    if (a->amount < 0) return workers::merged<calc_any>::keep_pending(workers::follow::incoming);
    return {add{std::get<add>(*pending).amount + a->amount}, workers::follow::both};
  }
  if (std::holds_alternative<boom>(in))
    return pending ? workers::merged<calc_any>::keep_pending(workers::follow::incoming)
                   : workers::merged<calc_any>::empty();
  if (std::holds_alternative<stop_self>(in)) throw std::runtime_error("merge failed");
  return in;
}

const calc_parameters no_parameters{};

TEST_CASE("dropbox: one put taken, then 10 puts while busy merge into one (A 1, A 10)",
          "[dropbox]") {
  asio::io_context io;
  auto table = make_dropbox_table();
  calc_handlers h;
  run(io, [&]() -> asio::awaitable<void> {
    auto w = co_await launch_as<dropbox_worker>(table, "d", h, no_parameters);
    busy_gate gate(io.get_executor());
    collector<workers::reply_result<hold>> first(io.get_executor());
    collector<workers::reply_result<add>> adds(io.get_executor());
    workers::put_request_and_wait(w, gate.request(), first.handler());
    co_await gate.entered();
    REQUIRE(workers::pending_requests_length(w) == 0);
    for (int i = 0; i < 10; ++i) workers::put_request_and_wait(w, add{1}, adds.handler());
    co_await workers::with_state(w, [](int&) {});  // after the merges, on the strand
    const auto pending = workers::pending_requests(w);
    REQUIRE(pending.size() == 1);
    REQUIRE(pending[0].view == "add 10");
    REQUIRE(workers::information(w).queue_length == 1);
    REQUIRE(workers::current_request(w)->view == "hold");
    gate.open();
    auto a1 = co_await first.next();
    REQUIRE(*a1 == 1);
    for (int i = 0; i < 10; ++i) {
      auto a10 = co_await adds.next();  // every caller followed into the one add
      REQUIRE(a10.has_value());
      REQUIRE(*a10 == 10);
    }
    co_await workers::shutdown(w);
  });
  REQUIRE(h.j->snapshot() ==
          std::vector<std::string>{"launch d", "done hold", "done add 10", "close"});
}

TEST_CASE("dropbox: callers follow the merged request or are dropped, as the merge says",
          "[dropbox]") {
  asio::io_context io;
  auto table = calc::create_table(workers::merging_dropbox{decide});
  calc_handlers h;
  run(io, [&]() -> asio::awaitable<void> {
    auto w = co_await launch_as<dropbox_worker>(table, "d", h, no_parameters);
    busy_gate gate(io.get_executor());
    workers::put_request(w, gate.request());
    co_await gate.entered();
    collector<workers::reply_result<add>> adds(io.get_executor());
    collector<workers::reply_result<boom>> booms(io.get_executor());
    collector<workers::reply_result<fail>> fails(io.get_executor());

    workers::put_request_and_wait(w, add{1}, adds.handler());
    workers::put_request_and_wait(w, add{2}, adds.handler());   // add 3, both follow
    workers::put_request_and_wait(w, boom{}, booms.handler());  // kept pending: dropped
    auto b = co_await booms.next();
    REQUIRE(code_of(b) == errc::dropped);
    REQUIRE(b.error().is_dropped());
    co_await workers::with_state(w, [](int&) {});
    REQUIRE(workers::pending_requests(w).at(0).view == "add 3");

    workers::put_request_and_wait(w, fail{"x"}, fails.handler());  // replaces: the adds are dropped
    for (int i = 0; i < 2; ++i) {
      auto a = co_await adds.next();
      REQUIRE(code_of(a) == errc::dropped);
    }
    REQUIRE(workers::pending_requests(w).at(0).view == "fail x");
    gate.open();
    auto f = co_await fails.next();
    REQUIRE(code_of(f) == errc::request_failed);

    // Idle: boom onto an empty slot empties it; nothing is handled.
    workers::put_request_and_wait(w, boom{}, booms.handler());
    auto b2 = co_await booms.next();
    REQUIRE(code_of(b2) == errc::dropped);

    // A caller that follows the pending request of its own type gets its result.
    workers::put_request(w, gate.request());
    co_await gate.entered();
    workers::put_request_and_wait(w, add{5}, adds.handler());
    workers::put_request_and_wait(w, add{-1}, adds.handler());  // keep pending, follow it
    gate.open();
    for (int i = 0; i < 2; ++i) {
      auto a = co_await adds.next();
      REQUIRE(a.has_value());
      REQUIRE(*a == 5);
    }
    co_await workers::shutdown(w);
  });
  const auto events = h.j->snapshot();
  REQUIRE(std::count(events.begin(), events.end(), "done add 5") == 1);
  REQUIRE(std::count(events.begin(), events.end(), "done add 3") == 0);
  REQUIRE(std::count(events.begin(), events.end(), "error fail x: x") == 1);
}

TEST_CASE("dropbox: a merge that throws crashes the worker, its put's caller gets the exception",
          "[dropbox]") {
  asio::io_context io;
  auto table = calc::create_table(workers::merging_dropbox{decide});
  calc_handlers h;
  dropbox_worker w;
  run(io, [&]() -> asio::awaitable<void> {
    w = co_await launch_as<dropbox_worker>(table, "d", h, no_parameters);
    busy_gate gate(io.get_executor());
    collector<workers::reply_result<hold>> held(io.get_executor());
    collector<workers::reply_result<add>> adds(io.get_executor());
    collector<workers::reply_result<stop_self>> thrower(io.get_executor());
    workers::put_request_and_wait(w, gate.request(), held.handler());
    co_await gate.entered();
    workers::put_request_and_wait(w, add{1}, adds.handler());
    workers::put_request_and_wait(w, stop_self{}, thrower.handler());
    auto t = co_await thrower.next();
    REQUIRE(code_of(t) == errc::handler_exception);
    REQUIRE_THROWS_WITH(t.value(), "merge failed");
    // The handler in flight is cancelled, the pending caller closed, both with the crash errors.
    auto hr = co_await held.next();
    auto a = co_await adds.next();
    REQUIRE(code_of(hr) == errc::closed);
    REQUIRE(code_of(a) == errc::closed);
    REQUIRE(std::get<workers::worker_closed>(a.error()).crash_errors.has_value());
    co_await workers::wait_for_completion(w);
  });
  const auto st = std::get<workers::closed>(workers::status(w));
  REQUIRE(st.crash_errors == workers::error_list{"merge threw: merge failed"});
  REQUIRE(h.j->closes == 1);
}

TEST_CASE("dropbox: a cancelled caller is answered at once, its request still handled",
          "[dropbox]") {
  asio::io_context io;
  auto table = make_dropbox_table();
  calc_handlers h;
  run(io, [&]() -> asio::awaitable<void> {
    auto w = co_await launch_as<dropbox_worker>(table, "d", h, no_parameters);
    busy_gate gate(io.get_executor());
    workers::put_request(w, gate.request());
    co_await gate.entered();
    asio::cancellation_signal signal;
    collector<workers::reply_result<add>> adds(io.get_executor());
    workers::put_request_and_wait(w, add{4},
                                  asio::bind_cancellation_slot(signal.slot(), adds.handler()));
    signal.emit(asio::cancellation_type::terminal);
    auto a = co_await adds.next();
    REQUIRE(code_of(a) == asio::error::operation_aborted);
    gate.open();
    auto s = co_await workers::put_request_and_wait(w, add{0});
    REQUIRE(*s == 4);  // merged with the add 4 it found in the slot
    co_await workers::shutdown(w);
  });
}

TEST_CASE(
    "dropbox: puts from several threads racing with a shutdown: each caller is answered once, "
    "and exactly the puts answered with a result were handled",
    "[dropbox][concurrency]") {
  constexpr int producer_count = 3;
  constexpr int per_producer = 3000;
  asio::io_context io(2);
  auto guard = asio::make_work_guard(io);
  std::vector<std::thread> pool;
  for (int i = 0; i < 2; ++i) pool.emplace_back([&] { io.run(); });

  auto table = make_dropbox_table();
  auto launched = workers::launch(table, io.get_executor(), std::string("d"), no_parameters,
                                  calc_handlers{}, asio::use_future)
                      .get();
  REQUIRE(launched.has_value());
  const dropbox_worker w = *launched;

  // Each put adds 1; merged adds add up, and every caller follows (see
  // merge_adds), so a caller answered with a result saw its 1 in the state, and
  // the largest result is the number of such callers.
  std::vector<std::vector<std::atomic<int>>> answers(producer_count);
  for (auto& a : answers) a = std::vector<std::atomic<int>>(per_producer);
  std::atomic<int> succeeded{0}, closed{0}, other{0}, largest{0};
  std::atomic<int> outstanding{producer_count * per_producer};
  std::vector<std::thread> producers;
  for (int p = 0; p < producer_count; ++p)
    producers.emplace_back([&, p] {
      for (int i = 0; i < per_producer; ++i) {
        workers::put_request_and_wait(w, add{1}, [&, p, i](workers::reply_result<add> r) {
          answers[p][i].fetch_add(1);
          if (r) {
            ++succeeded;
            for (int l = largest.load(); l < *r && !largest.compare_exchange_weak(l, *r);) {
            }
          } else if (r.error().is_closed()) {
            ++closed;
          } else {
            ++other;
          }
          --outstanding;
        });
        if (p == 0 && i == per_producer / 2) workers::trigger_shutdown(w);
      }
    });
  for (auto& t : producers) t.join();
  const auto deadline = std::chrono::steady_clock::now() + watchdog;
  while (outstanding.load() > 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::yield();
  REQUIRE(outstanding.load() == 0);
  workers::wait_for_completion(w, asio::use_future).get();
  guard.reset();
  for (auto& t : pool) t.join();

  for (auto& per : answers)
    for (auto& a : per) REQUIRE(a.load() == 1);
  REQUIRE(other == 0);
  REQUIRE(succeeded + closed == producer_count * per_producer);
  REQUIRE(closed > 0);
  REQUIRE(largest == succeeded);
}

// Unlike a queue's (which skips it), a dropbox's slot is handled even when
// every caller gave up: puts without a caller may have been merged into it.
TEST_CASE_METHOD(
    dropbox_fixture,
    "dropbox: a put-and-wait that gives up while in the slot is answered at once, the slot stays "
    "pending and is handled",
    "[dropbox]") {
  run(io, [&]() -> asio::awaitable<void> {
    busy_gate gate(io.get_executor());
    workers::put_request(w, gate.request());
    co_await gate.entered();
    asio::cancellation_signal signal;
    std::optional<workers::reply_result<add>> got;
    workers::put_request_and_wait(
        w, add{100}, asio::bind_cancellation_slot(signal.slot(), [&](workers::reply_result<add> r) {
          got = std::move(r);
        }));
    co_await workers::with_state(w, [](int&) {});  // after the put, on the strand
    REQUIRE(workers::pending_requests_length(w) == 1);
    signal.emit(asio::cancellation_type::terminal);
    while (!got) co_await asio::post(io, asio::use_awaitable);
    REQUIRE(got->error().code() == asio::error::operation_aborted);
    REQUIRE(workers::pending_requests_length(w) == 1);
    REQUIRE(workers::pending_requests(w).at(0).view == "add 100");
    gate.open();
    auto last = co_await workers::put_request_and_wait(w, add{0});
    REQUIRE(*last == 100);
    co_await workers::shutdown(w);
  });
}

}  // namespace dropbox_tests
