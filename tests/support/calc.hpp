#pragma once

// A test group whose handlers record what happens to them.

#include <workers/format.hpp>
#include <workers/workers.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

#include <fmt/format.h>

#include <atomic>
#include <cstdlib>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

namespace test {

// What the tests launch with: launch_options{.reply = reply_mode::dispatch} when
// the environment has WORKERS_TEST_REPLY=dispatch (ctest runs the contract,
// asio and model tests a second time so: unit.dispatch_replies.*), else the defaults.
inline workers::launch_options test_launch_options() {
  static const bool dispatch = [] {
    const char* v = std::getenv("WORKERS_TEST_REPLY");
    return v != nullptr && std::string_view(v) == "dispatch";
  }();
  return {.reply = dispatch ? workers::reply_mode::dispatch : workers::reply_mode::post};
}

namespace asio = boost::asio;
using gate_channel = asio::experimental::concurrent_channel<void(boost::system::error_code)>;

struct calc_name {
  static constexpr std::string_view base[] = {"test", "calc"};
  using type = std::string;
};

// Calls back into a worker from every destructor of the request holding it,
// a moved-from one's included (the callback is shared, not moved), as a
// completion guard or a metrics probe in a request might.
struct destructor_probe {
  std::shared_ptr<const std::function<void()>> on_destroy;
  destructor_probe() = default;
  explicit destructor_probe(std::function<void()> f)
      : on_destroy(std::make_shared<const std::function<void()>>(std::move(f))) {}
  destructor_probe(const destructor_probe&) = default;
  destructor_probe(destructor_probe&& other) noexcept : on_destroy(other.on_destroy) {}
  destructor_probe& operator=(const destructor_probe&) = default;
  destructor_probe& operator=(destructor_probe&& other) noexcept {
    on_destroy = other.on_destroy;
    return *this;
  }
  ~destructor_probe() {
    if (on_destroy) (*on_destroy)();
  }
};

// Adds to the state; answers the new sum.
struct add {
  using result_type = int;
  using error_type = std::string;
  int amount = 0;
  destructor_probe probe{};
};
// Fails with its message.
struct fail {
  using result_type = workers::unit;
  using error_type = std::string;
  std::string message;
};
// Throws from on_request.
struct boom {
  using result_type = workers::unit;
  using error_type = std::string;
};
// Suspends: signals `entered`, then waits until `release` gets a message (or cancellation).
struct hold {
  using result_type = int;
  using error_type = std::string;
  std::shared_ptr<gate_channel> entered;
  std::shared_ptr<gate_channel> release;
};
// A hold whose handler sees its caller's cancellation (it opts in).
struct patient_hold : hold {
  static constexpr bool cancel_with_caller = true;
};
// A control request (workers::is_control_request): an add taken before every
// ordinary request waiting.
struct urgent {
  using result_type = int;
  using error_type = std::string;
  static constexpr bool control = true;
  int amount = 0;
};
// Asks for its own worker's shutdown from inside the handler.
struct stop_self {
  using result_type = workers::unit;
  using error_type = std::string;
};

struct calc_requests {
  using types = workers::request_types<add, fail, boom, hold, stop_self, patient_hold, urgent>;
  using view_type = std::string;
  static std::string view(const add& r) { return fmt::format("add {}", r.amount); }
  static std::string view(const fail& r) { return fmt::format("fail {}", r.message); }
  static std::string view(const boom&) { return "boom"; }
  static std::string view(const hold&) { return "hold"; }
  static std::string view(const patient_hold&) { return "patient hold"; }
  static std::string view(const stop_self&) { return "stop_self"; }
  static std::string view(const urgent& r) { return fmt::format("urgent {}", r.amount); }
};

enum class on_error_policy { proceed, shutdown, crash, throws };

// A worker that never runs out of work: each request it handles submits the
// next one to itself (queues and dropbox), or its read returns one at once (callback).
enum class spin_mode { none, adds, fails };

using calc_any = std::variant<add, fail, boom, hold, stop_self, patient_hold, urgent>;

// What a callback worker of the tests reads: requests sent from any thread,
// in order; closing it ends the source.
class request_stream {
 public:
  explicit request_stream(const asio::any_io_executor& ex) : channel_(ex, 1 << 16) {}
  bool send(calc_any r) { return channel_.try_send(boost::system::error_code{}, std::move(r)); }
  // Ends the stream after what was sent (closing the channel would discard that).
  void close() { channel_.try_send(boost::system::error_code{}, std::nullopt); }
  asio::awaitable<std::optional<calc_any>> read() {
    auto [ec, r] = co_await channel_.async_receive(asio::as_tuple(asio::use_awaitable));
    if (ec) co_return std::nullopt;
    co_return r;
  }

 private:
  asio::experimental::concurrent_channel<void(boost::system::error_code, std::optional<calc_any>)>
      channel_;
};

struct calc_parameters {
  int initial = 0;
  on_error_policy policy = on_error_policy::proceed;
  bool fail_launch = false;
  bool throw_on_close = false;
  spin_mode spin = spin_mode::none;
  std::shared_ptr<request_stream> stream = nullptr;  // callback workers
};

struct calc_types {
  using state_type = int;
  using parameters_type = calc_parameters;
  using view_type = int;
  static int view(const int& state, const calc_parameters&) { return state; }
};

using calc = workers::make_single<calc_name, calc_requests, calc_types>;
static_assert(std::is_same_v<calc::any_request, calc_any>);
using kind = workers::queue<workers::infinite>;
using calc_worker = calc::worker<kind>;
using calc_table = calc::table<kind>;
using bounded_worker = calc::worker<workers::queue<workers::bounded>>;
using bounded_table = calc::table<workers::queue<workers::bounded>>;
using dropbox_worker = calc::worker<workers::dropbox>;
using dropbox_table = calc::table<workers::dropbox>;
using callback_worker = calc::worker<workers::callback>;
using callback_table = calc::table<workers::callback>;

// What a spinning worker submits to itself next.
template <class W>
void spin_next(const W& self) {
  calc_any next = add{1};
  if (self.parameters().spin == spin_mode::fails) next = fail{"spin"};
  using K = typename W::kind;
  std::visit(
      [&](auto r) {
        if constexpr (std::is_same_v<K, workers::queue<workers::infinite>>)
          workers::push_request_now(self, r);
        else if constexpr (std::is_same_v<K, workers::queue<workers::bounded>>)
          workers::try_push_request_now(self, r);
        else if constexpr (std::is_same_v<K, workers::dropbox>)
          workers::put_request(self, r);
      },
      next);
}

// What the handlers saw, readable from the test thread.
struct journal {
  std::mutex mutex;
  std::vector<std::string> events;
  std::atomic<int> closes{0};
  std::atomic<int> releases{0};  // a resource released from on_error and on_close
  bool resource_held = true;     // strand only

  void log(std::string e) {
    std::lock_guard lock(mutex);
    events.push_back(std::move(e));
  }
  std::vector<std::string> snapshot() {
    std::lock_guard lock(mutex);
    return events;
  }
};

struct calc_handlers {
  std::shared_ptr<journal> j = std::make_shared<journal>();

  template <class W>
  workers::result<int, std::string> on_launch(W&, const std::string& name,
                                              const calc_parameters& p) {
    j->log("launch " + name);
    if (p.fail_launch) return {boost::system::in_place_error, "refused"};
    return p.initial;
  }
  template <class W>
  workers::result<int, std::string> on_request(W& self, const add& r) {
    auto& s = workers::state(self);
    s += r.amount;
    if (self.parameters().spin != spin_mode::none) spin_next(self);
    return s;
  }
  template <class W>
  workers::result<int, std::string> on_request(W& self, const urgent& r) {
    return workers::state(self) += r.amount;
  }
  template <class W>
  workers::result<workers::unit, std::string> on_request(W& self, const fail& r) {
    if (self.parameters().spin != spin_mode::none) spin_next(self);
    return {boost::system::in_place_error, r.message};
  }
  template <class W>
  workers::result<workers::unit, std::string> on_request(W&, const boom&) {
    throw std::runtime_error("boom");
  }
  template <class W>
  asio::awaitable<workers::result<int, std::string>> on_request(W&, const hold& r) {
    r.entered->try_send(boost::system::error_code{});
    co_await r.release->async_receive(asio::use_awaitable);
    co_return 1;
  }
  // shutdown from inside a handler completes at once instead of deadlocking.
  template <class W>
  asio::awaitable<workers::result<workers::unit, std::string>> on_request(W& self,
                                                                          const stop_self&) {
    co_await workers::shutdown(self);
    j->log("stop_self returned");
    co_return workers::unit{};
  }
  template <class W, class R>
  void on_completion(W&, const R& r, const typename R::result_type&,
                     const workers::request_status&) {
    j->log("done " + calc_requests::view(r));
  }
  template <class W, class R>
  workers::error_action on_error(W& self, const workers::request_status&, const R& r,
                                 const typename R::error_type& e) {
    j->log(fmt::format("error {}: {}", calc_requests::view(r), e));
    switch (self.parameters().policy) {
      case on_error_policy::proceed:
        return workers::error_action::proceed();
      case on_error_policy::shutdown:
        release();
        return workers::error_action::shutdown();
      case on_error_policy::crash:
        release();
        return workers::error_action::crash({"crashed: " + e});
      case on_error_policy::throws:
        throw std::runtime_error("on_error threw");
    }
    return workers::error_action::proceed();
  }
  template <class W>
  void on_close(W& self) {
    j->log("close");
    ++j->closes;
    release();
    if (self.parameters().throw_on_close) throw std::runtime_error("close failed");
  }

  void release() {
    if (std::exchange(j->resource_held, false)) ++j->releases;
  }
};

inline calc_table make_table(workers::table_options o = {}) {
  return calc::create_table(workers::infinite_queue{}, std::move(o));
}
inline bounded_table make_bounded_table(std::size_t size, workers::table_options o = {}) {
  return calc::create_table(workers::bounded_queue{size}, std::move(o));
}

// Adds merge into one add of their sum, which the callers of both follow; any
// other put replaces the pending request, whose callers are dropped.
inline workers::merged<calc_any> merge_adds(dropbox_worker&, calc_any incoming,
                                            const calc_any* pending) {
  if (pending && std::holds_alternative<add>(*pending) && std::holds_alternative<add>(incoming))
    return {add{std::get<add>(*pending).amount + std::get<add>(incoming).amount},
            workers::follow::both};
  return incoming;
}
inline dropbox_table make_dropbox_table(workers::table_options o = {}) {
  return calc::create_table(workers::merging_dropbox{merge_adds}, std::move(o));
}

// Reads the worker's stream; a spinning worker's read returns at once.
inline callback_table make_callback_table(workers::table_options o = {}) {
  return calc::create_table(
      workers::callback_source{
          [](callback_worker& self) -> asio::awaitable<std::optional<calc_any>> {
            const auto& p = self.parameters();
            if (p.spin == spin_mode::adds) co_return std::optional<calc_any>(add{1});
            if (p.spin == spin_mode::fails) co_return std::optional<calc_any>(fail{"spin"});
            co_return co_await p.stream->read();
          }},
      std::move(o));
}

// Launches a worker or fails the test. Handlers are passed as named objects
// (lvalues): GCC 12 mishandles class temporaries created inside a co_await
// expression (see README, "Compilers"). Any handlers type, never sliced.
template <class Table, class H = calc_handlers>
asio::awaitable<typename Table::worker_type> launch_ok(Table table, std::string name, H h,
                                                       calc_parameters p) {
  auto ex = co_await asio::this_coro::executor;
  auto r =
      co_await workers::launch(table, ex, std::move(name), p, std::move(h), test_launch_options());
  if (!r) throw std::runtime_error(fmt::format("launch failed: {}", r.error()));
  co_return *r;
}
template <class Table, class H>
asio::awaitable<typename Table::worker_type> launch_ok(Table table, std::string name, H h) {
  co_return co_await launch_ok(std::move(table), std::move(name), std::move(h), calc_parameters{});
}
template <class Table>
asio::awaitable<typename Table::worker_type> launch_ok(Table table, std::string name) {
  calc_handlers h;
  co_return co_await launch_ok(std::move(table), std::move(name), std::move(h), calc_parameters{});
}

// Launches a worker of kind W or fails the test; handlers and parameters are
// taken by reference to named objects (see README, Compilers).
template <class W, class H>
asio::awaitable<W> launch_as(const calc::table<typename W::kind>& table, std::string name, H& h,
                             const calc_parameters& p) {
  auto r = co_await workers::launch(table, co_await asio::this_coro::executor, std::move(name), p,
                                    h, test_launch_options());
  if (!r) throw std::runtime_error(fmt::format("launch failed: {}", r.error()));
  co_return *r;
}

// Keeps a worker busy on demand: push `request()`, await `entered()` to know
// its handler runs, and `open()` to let it finish.
class busy_gate {
 public:
  explicit busy_gate(const asio::any_io_executor& ex)
      : in_(std::make_shared<gate_channel>(ex, 1)), out_(std::make_shared<gate_channel>(ex, 1)) {}
  hold request() const { return {in_, out_}; }
  asio::awaitable<void> entered() const { co_await in_->async_receive(asio::use_awaitable); }
  void open() const { out_->try_send(boost::system::error_code{}); }

 private:
  std::shared_ptr<gate_channel> in_;
  std::shared_ptr<gate_channel> out_;
};

}  // namespace test
