#pragma once

// A minimal group for the compile-fail cases.

#include <workers/workers.hpp>

#include <boost/asio/io_context.hpp>

#include <string>
#include <string_view>

struct cf_name {
  static constexpr std::string_view base[] = {"cf"};
  using type = std::string;
};
struct ping {
  using result_type = int;
  using error_type = std::string;
};
struct pong {
  using result_type = int;
  using error_type = std::string;
};
struct cf_requests {
  using types = workers::request_types<ping, pong>;
  using view_type = std::string;
  static std::string view(const ping&) { return "ping"; }
  static std::string view(const pong&) { return "pong"; }
};
struct cf_types {
  using state_type = int;
  using parameters_type = int;
  using view_type = int;
  static int view(const int& s, const int&) { return s; }
};
using cf_group = workers::make_single<cf_name, cf_requests, cf_types>;
using cf_worker = cf_group::worker<workers::queue<workers::infinite>>;

struct cf_handlers {
  workers::result<int, std::string> on_request(cf_worker&, const ping&) { return 1; }
  workers::result<int, std::string> on_request(cf_worker&, const pong&) { return 2; }
};

template <class Handlers>
void launch_with(Handlers h) {
  boost::asio::io_context io;
  auto table = cf_group::create_table(workers::infinite_queue{});
  workers::launch(table, io.get_executor(), "x", 0, std::move(h), [](auto) {});
}
