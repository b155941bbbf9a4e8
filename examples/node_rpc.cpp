// A live introspection endpoint, as an Octez node serves its workers over RPC:
// an HTTP/1.1 server (Boost.Beast) in front of busy workers, answering
//
//   GET /workers/demo-node          the workers, with status and information (JSON)
//   GET /workers/demo-node/<name>   one worker's full status, with its backlog (JSON)
//   GET /events                     the event backlog, by level (JSON)
//   GET /metrics                    Prometheus text, through prometheus-cpp
//   GET /quit                       shuts the workers down; the program exits 0
//
// `node_rpc --serve` serves until /quit (or SIGINT/SIGTERM); with no argument it
// asks each route once, in-process, and exits. Needs Boost.JSON and prometheus-cpp.

#include <workers/json.hpp>
#include <workers/prometheus.hpp>
#include <workers/sinks.hpp>
#include <workers/workers.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value_from.hpp>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <fmt/format.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

// The group: block validators of a demo node, one per peer (two on infinite queues, one
// on a bounded queue: workers of one group may live in tables of different kinds).
struct validator_name {
  static constexpr std::string_view base[] = {"demo", "node"};
  using type = std::string;
};
struct validate {
  using result_type = int;  // the level validated
  using error_type = std::string;
  int level;
};
struct validator_requests {
  using types = workers::request_types<validate>;
  using view_type = std::string;
  static std::string view(const validate& r) { return fmt::format("validate {}", r.level); }
};
struct validator_types {
  using state_type = int;       // blocks validated
  using parameters_type = int;  // every how many levels a block is invalid
  using view_type = int;
  static int view(const int& validated, const int&) { return validated; }
};
using validators = workers::make_single<validator_name, validator_requests, validator_types>;
using infinite = workers::queue<workers::infinite>;
using bounded = workers::queue<workers::bounded>;

struct validator_handlers {
  template <class W>
  int on_launch(W&, const std::string&, const int&) {
    return 0;
  }
  template <class W>
  asio::awaitable<workers::result<int, std::string>> on_request(W& self, const validate& r) {
    asio::steady_timer work(co_await asio::this_coro::executor, 1ms * (r.level % 3));
    co_await work.async_wait(asio::use_awaitable);
    if (r.level % self.parameters() == 0) {
      workers::result<int, std::string> invalid{boost::system::in_place_error,
                                                fmt::format("block {} is invalid", r.level)};
      co_return invalid;
    }
    ++workers::state(self);
    co_return r.level;
  }
};

// Everything the routes read. Tables, backlog and collector may be read from any thread.
struct node {
  explicit node(asio::io_context& context) : io(context) {
    collector->add(peers);
    collector->add(limited_peers);
  }
  asio::io_context& io;
  std::shared_ptr<workers::backlog_sink> backlog = std::make_shared<workers::backlog_sink>(50);
  validators::table<infinite> peers =
      validators::create_table(workers::infinite_queue{}, {.sink = backlog, .metrics = true});
  validators::table<bounded> limited_peers =
      validators::create_table(workers::bounded_queue{8}, {.sink = backlog, .metrics = true});
  std::shared_ptr<workers::prometheus_collector> collector =
      std::make_shared<workers::prometheus_collector>();
  // The node's own metrics live in a registry; the workers' come from the collector.
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  prometheus::Family<prometheus::Counter>& rpc_requests =
      prometheus::BuildCounter()
          .Name("node_rpc_requests_total")
          .Help("RPC requests served, by route.")
          .Register(*registry);
  tcp::acceptor acceptor{io, {asio::ip::make_address("127.0.0.1"), 0}};
  asio::steady_timer tick{io};
  asio::signal_set signals{io, SIGINT, SIGTERM};
  bool stopping = false;
};

// Keeps the workers busy: one block per peer every 3 ms, a burst to the bounded
// queue now and then (its queue alarm rises, then falls).
asio::awaitable<void> produce(node& n) {
  for (int level = 1; !n.stopping; ++level) {
    for (const auto& [name, w] : workers::list(n.peers))
      workers::push_request_now(w, validate{level});
    for (const auto& [name, w] : workers::list(n.limited_peers))
      for (int i = 0; i < (level % 100 == 0 ? 6 : 1); ++i)
        workers::try_push_request_now(w, validate{level});  // false when full: skipped
    n.tick.expires_after(3ms);
    co_await n.tick.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

// Octez's list RPCs (/workers/prevalidators, /workers/chain_validators) answer a
// list of objects: the worker's id, "status", "information" (and "pipelines").
json::value list_workers(const node& n) {
  std::map<std::string, json::object> rows;  // sorted by name
  const auto add = [&](const auto& table) {
    for (const auto& [name, w] : workers::list(table))
      rows[name] = {{"name", name},
                    {"status", json::value_from(workers::status(w))},
                    {"information", json::value_from(workers::information(w))}};
  };
  add(n.peers);
  add(n.limited_peers);
  json::array out;
  for (auto& [name, row] : rows) out.emplace_back(std::move(row));
  return out;
}

// Octez's backlog: [{"level": "info", "events": [...]}, ...], of every worker or of one.
json::array event_backlog(const node& n, std::string_view worker = {}) {
  json::array out;
  for (const auto& [level, events] : n.backlog->snapshot()) {
    json::array list;
    for (const auto& e : events)
      if (worker.empty() || e.worker == worker) list.push_back(json::value_from(e));
    if (!list.empty())
      out.push_back(json::object{{"level", json::value_from(level)}, {"events", std::move(list)}});
  }
  return out;
}

// Octez's full status: status, pending requests, current request, and the worker's backlog.
template <class W>
json::value full_status_with_backlog(const node& n, const W& w) {
  json::value out = json::value_from(workers::full_status(w));
  out.as_object()["backlog"] = event_backlog(n, w.full_name());
  return out;
}

std::optional<json::value> find_full_status(const node& n, const std::string& name) {
  if (auto w = workers::find_opt(n.peers, name)) return full_status_with_backlog(n, *w);
  if (auto w = workers::find_opt(n.limited_peers, name)) return full_status_with_backlog(n, *w);
  return std::nullopt;
}

std::string metrics_text(const node& n) {
  auto families = n.registry->Collect();
  for (auto& f : n.collector->Collect()) families.push_back(std::move(f));
  return prometheus::TextSerializer().Serialize(families);
}

using request = http::request<http::string_body>;
using response = http::response<http::string_body>;

response reply(http::status status, std::string_view type, std::string body) {
  response res{status, 11};
  res.set(http::field::content_type, type);
  res.keep_alive(false);  // one request per connection: nothing lingers after /quit
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

response route(node& n, const request& req) {
  const std::string_view target = req.target();
  const std::string group = "/workers/" + validators::definition::base_name();
  const auto served = [&](const char* route, response res) {
    n.rpc_requests.Add({{"route", route}}).Increment();
    return res;
  };
  const auto as_json = [](const json::value& v) {
    return reply(http::status::ok, "application/json", json::serialize(v) + "\n");
  };
  if (req.method() == http::verb::get) {
    if (target == group) return served("list", as_json(list_workers(n)));
    if (target.starts_with(group + "/"))
      if (auto s = find_full_status(n, std::string(target.substr(group.size() + 1))))
        return served("worker", as_json(*s));
    if (target == "/events") return served("events", as_json(event_backlog(n)));
    if (target == "/metrics")
      return served("metrics",
                    reply(http::status::ok, "text/plain; version=0.0.4", metrics_text(n)));
    if (target == "/quit") return reply(http::status::ok, "text/plain", "stopping\n");
  }
  return reply(http::status::not_found, "text/plain", "not found\n");
}

// Stops producing and accepting, and shuts every worker down: io_context::run returns.
asio::awaitable<void> stop(node& n) {
  if (std::exchange(n.stopping, true)) co_return;
  n.tick.cancel();
  n.signals.cancel();
  n.acceptor.close();
  for (const auto& [name, w] : workers::list(n.peers)) co_await workers::shutdown(w);
  for (const auto& [name, w] : workers::list(n.limited_peers)) co_await workers::shutdown(w);
}

asio::awaitable<void> session(node& n, tcp::socket socket) {
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;
  request req;
  stream.expires_after(10s);
  auto [read_error, read] =
      co_await http::async_read(stream, buffer, req, asio::as_tuple(asio::use_awaitable));
  if (read_error) co_return;
  const response res = route(n, req);
  co_await http::async_write(stream, res, asio::as_tuple(asio::use_awaitable));
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  if (req.target() == "/quit" && res.result() == http::status::ok) co_await stop(n);
}

asio::awaitable<void> accept(node& n) {
  for (;;) {
    auto [ec, socket] = co_await n.acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
    if (ec) co_return;  // closed by stop()
    asio::co_spawn(n.io, session(n, std::move(socket)), asio::detached);
  }
}

// Without --serve: asks each route once, in-process (example.node_rpc_http asks them over
// HTTP, with curl), then stops.
asio::awaitable<int> self_check(node& n) {
  auto alice = *workers::find_opt(n.peers, "alice");
  (void)co_await workers::push_request_and_wait(alice, validate{1});  // the workers are at work
  int failures = 0;
  const std::string group = "/workers/" + validators::definition::base_name();
  for (const auto& [target, expected] : {std::pair{group, 200},
                                         {group + "/alice", 200},
                                         {group + "/nobody", 404},
                                         {std::string("/events"), 200},
                                         {std::string("/metrics"), 200}}) {
    const response res = route(n, request{http::verb::get, target, 11});
    fmt::print("GET {} -> {}, {} bytes of {}\n", target, res.result_int(), res.body().size(),
               std::string_view(res[http::field::content_type]));
    if (static_cast<int>(res.result_int()) != expected) ++failures;
  }
  fmt::print("{}", route(n, request{http::verb::get, group, 11}).body());
  co_await stop(n);
  co_return failures == 0 ? 0 : 1;
}

asio::awaitable<int> run(node& n, bool serve) {
  validator_handlers handlers;  // a named object: see README, "Compilers"
  for (const auto& [name, fail_every] : {std::pair{"alice", 7}, {"bob", 5}})
    (void)(co_await workers::launch(n.peers, n.io, name, fail_every, handlers)).value();
  const workers::launch_options alarms{.alarms = workers::queue_alarms{.high = 4, .low = 1}};
  (void)(co_await workers::launch(n.limited_peers, n.io, "carol", 11, handlers, alarms)).value();

  asio::co_spawn(n.io, produce(n), asio::detached);
  asio::co_spawn(n.io, accept(n), asio::detached);
  n.signals.async_wait([&n](beast::error_code ec, int) {
    if (!ec) asio::co_spawn(n.io, stop(n), asio::detached);
  });
  fmt::print("listening on 127.0.0.1:{}\n", n.acceptor.local_endpoint().port());
  std::fflush(stdout);
  if (serve) co_return 0;  // until /quit
  co_return co_await self_check(n);
}

int main(int argc, char** argv) {
  const bool serve = argc > 1 && std::string_view(argv[1]) == "--serve";
  asio::io_context io;
  node n(io);
  auto status = asio::co_spawn(io, run(n, serve), asio::use_future);
  io.run();
  fmt::print("stopped\n");
  return status.get();
}
