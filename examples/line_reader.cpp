// A callback worker reading requests from a TCP connection, one line each, on
// 127.0.0.1: the worker awaits its read (an Asio socket read) whenever it is
// ready for the next request, and closes normally when the peer disconnects.

#include <workers/format.hpp>
#include <workers/workers.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/asio/write.hpp>

#include <fmt/format.h>

#include <charconv>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

namespace asio = boost::asio;
using asio::ip::tcp;

struct session_name {
  static constexpr std::string_view base[] = {"session", "lines"};
  using type = std::string;  // the peer's address
};

// "add N" adds N to the total; "total" answers it; anything else is a bad line.
struct add_line {
  using result_type = long;
  using error_type = std::string;
  long amount;
};
struct total_line {
  using result_type = long;
  using error_type = std::string;
};
struct bad_line {
  using result_type = workers::unit;
  using error_type = std::string;
  std::string text;
};
struct line_requests {
  using types = workers::request_types<add_line, total_line, bad_line>;
  using view_type = std::string;
  static std::string view(const add_line& r) { return fmt::format("add {}", r.amount); }
  static std::string view(const total_line&) { return "total"; }
  static std::string view(const bad_line& r) { return fmt::format("bad line '{}'", r.text); }
};

// The connection: its socket and what was read past the last line.
struct connection {
  explicit connection(tcp::socket s) : socket(std::move(s)) {}
  tcp::socket socket;
  std::string buffer;
  long final_total = -1;  // written by on_close
};

struct session_types {
  using state_type = long;  // the total
  using parameters_type = std::shared_ptr<connection>;
  using view_type = long;
  static long view(const long& total, const std::shared_ptr<connection>&) { return total; }
};

using session = workers::make_single<session_name, line_requests, session_types>;
using session_worker = session::worker<workers::callback>;
using any_request = session::any_request;

any_request parse(std::string_view line) {
  if (line == "total") return total_line{};
  long amount = 0;
  if (line.starts_with("add ")) {
    auto digits = line.substr(4);
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), amount);
    if (ec == std::errc{} && end == digits.data() + digits.size()) return add_line{amount};
  }
  return bad_line{std::string(line)};
}

// The read: the next line of the connection, or none once the peer has
// disconnected. It runs on the worker's strand, so the connection needs no lock.
asio::awaitable<std::optional<any_request>> read_line(session_worker& self) {
  auto& c = *self.parameters();
  auto [ec, n] = co_await asio::async_read_until(c.socket, asio::dynamic_buffer(c.buffer), '\n',
                                                 asio::as_tuple(asio::use_awaitable));
  if (ec == asio::error::eof) co_return std::nullopt;     // end of the source: close normally
  if (ec) throw boost::system::system_error(ec, "read");  // a broken connection crashes it
  std::string line = c.buffer.substr(0, n - 1);
  c.buffer.erase(0, n);
  co_return parse(line);
}

struct session_handlers {
  workers::result<long, std::string> on_request(session_worker& self, const add_line& r) {
    return workers::state(self) += r.amount;
  }
  workers::result<long, std::string> on_request(session_worker& self, const total_line&) {
    fmt::print("  [{}] total {}\n", self.full_name(), workers::state(self));
    return workers::state(self);
  }
  workers::result<workers::unit, std::string> on_request(session_worker&, const bad_line& r) {
    return {boost::system::in_place_error, fmt::format("cannot parse '{}'", r.text)};
  }
  workers::error_action on_error(session_worker& self, const workers::request_status&,
                                 const bad_line&, const std::string& e) {
    fmt::print("  [{}] {}\n", self.full_name(), e);
    return workers::error_action::proceed();
  }
  void on_close(session_worker& self) {
    self.parameters()->final_total = workers::state(self);
    fmt::print("  [{}] peer disconnected, total {}\n", self.full_name(), workers::state(self));
  }
};

// The peer: writes its lines, then disconnects.
asio::awaitable<void> client(tcp::endpoint server) {
  tcp::socket socket(co_await asio::this_coro::executor);
  co_await socket.async_connect(server, asio::use_awaitable);
  std::string lines;
  for (int i = 1; i <= 100; ++i) lines += fmt::format("add {}\n", i);
  lines += "hello\ntotal\n";
  co_await asio::async_write(socket, asio::buffer(lines), asio::use_awaitable);
  socket.shutdown(tcp::socket::shutdown_send);
  socket.close();
}

asio::awaitable<int> serve(session::table<workers::callback> table) {
  auto ex = co_await asio::this_coro::executor;
  tcp::acceptor acceptor(ex, {asio::ip::make_address("127.0.0.1"), 0});
  asio::co_spawn(ex, client(acceptor.local_endpoint()), asio::detached);

  auto socket = co_await acceptor.async_accept(asio::use_awaitable);
  std::string peer = fmt::format("{}", socket.remote_endpoint().port());
  auto conn = std::make_shared<connection>(std::move(socket));
  auto launched = co_await workers::launch(table, ex, std::move(peer), conn, session_handlers{});
  if (!launched) throw std::runtime_error(fmt::format("{}", launched.error()));
  auto w = *launched;

  co_await workers::wait_for_completion(w);  // the peer disconnects: the worker closes itself
  const auto st = workers::status(w);
  const bool clean = std::holds_alternative<workers::closed>(st) &&
                     !std::get<workers::closed>(st).crash_errors && table.size() == 0 &&
                     conn->final_total == 5050;
  fmt::print("session is {}\n", st);
  co_return clean ? 0 : 1;
}

int main() {
  asio::io_context io;
  auto table = session::create_table(workers::callback_source{read_line});
  auto done = asio::co_spawn(io, serve(table), asio::use_future);
  io.run();
  return done.get();
}
