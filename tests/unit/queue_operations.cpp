// Queue operations (<workers/queue_operations.hpp>): what a caller of
// push_request_and_wait that gives up is told, and what the worker's books
// say of its request (asio#1041's shape: a timeout whose handler had already
// finished).

#include "support/calc.hpp"
#include "support/catch.hpp"
#include "support/run.hpp"

#include <workers/events.hpp>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

// Named, so that the unity build keeps each file's helpers apart.
namespace queue_operations_tests {

using namespace test;

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
    "push_request_and_wait: a caller that gives up while its request is handled is told "
    "cancelled, and a handler that runs to its end anyway is counted cancelled, its result "
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

}  // namespace queue_operations_tests
