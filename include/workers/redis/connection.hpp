#pragma once

/// @file
/// @brief What the Redis consumer and producer talk to: a `reply` (RESP2 as
/// values), a `connection` that sends commands and answers each once, and a
/// `connector` that opens connections — to a real Redis (`hiredis_connector`,
/// `<workers/redis/hiredis.hpp>`) or to the in-memory fake
/// (`memory_broker`, `<workers/redis/memory_broker.hpp>`).

#include <workers/detail/config.hpp>

#include <boost/asio/any_io_executor.hpp>

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

WORKERS_BEGIN_NAMESPACE
namespace redis {

/// @brief A Redis reply (RESP2), copied out of the client's buffers.
struct reply {
  /// @brief The reply's type (hiredis' `REDIS_REPLY_*`).
  enum class type : std::uint8_t { nil, status, error, integer, string, array };
  type kind = type::nil;          ///< what the reply is
  std::int64_t integer = 0;       ///< the value of an `integer`
  std::string str{};              ///< the text of a `status`, an `error` or a `string`
  std::vector<reply> elements{};  ///< the elements of an `array`

  /// @brief An error reply (`-ERR …`, `-NOGROUP …`, `-OOM …`, `-READONLY …`).
  bool is_error() const noexcept { return kind == type::error; }
  /// @brief A nil reply, or a nil array.
  bool is_nil() const noexcept { return kind == type::nil; }

  /// @brief An error reply with text `text` (its first word is the error's code).
  static reply error(std::string text) { return reply{type::error, 0, std::move(text), {}}; }
  /// @brief A status reply (`+OK`).
  static reply status(std::string text) { return reply{type::status, 0, std::move(text), {}}; }
  /// @brief A bulk string reply.
  static reply string(std::string text) { return reply{type::string, 0, std::move(text), {}}; }
  /// @brief An integer reply.
  static reply number(std::int64_t n) { return reply{type::integer, n, {}, {}}; }
  /// @brief An array reply.
  static reply list(std::vector<reply> e) { return reply{type::array, 0, {}, std::move(e)}; }
};

/// @brief An entry's fields, in order (name, value).
using fields = std::vector<std::pair<std::string, std::string>>;

/// @brief A command: its name and arguments, in one buffer (one allocation
/// for a whole `XACK` of a hundred IDs).
class command {
 public:
  command() = default;
  /// @brief A command of these words.
  command(std::initializer_list<std::string_view> words) {
    for (auto w : words) push(w);
  }
  /// @brief Appends an argument.
  command& push(std::string_view arg) {
    data_.append(arg);
    ends_.push_back(data_.size());
    return *this;
  }
  /// @brief Appends a number, in decimal.
  command& push_number(std::uint64_t n) {
    char digits[24];
    auto end = std::to_chars(digits, digits + sizeof digits, n).ptr;
    return push(std::string_view(digits, std::size_t(end - digits)));
  }
  /// @brief How many arguments (the name included).
  std::size_t size() const noexcept { return ends_.size(); }
  /// @brief Argument `i` (0: the name).
  std::string_view operator[](std::size_t i) const noexcept {
    std::size_t begin = i == 0 ? 0 : ends_[i - 1];
    return std::string_view(data_).substr(begin, ends_[i] - begin);
  }
  /// @brief The arguments as strings.
  std::vector<std::string> strings() const {
    std::vector<std::string> out;
    out.reserve(size());
    for (std::size_t i = 0; i < size(); ++i) out.emplace_back((*this)[i]);
    return out;
  }

 private:
  std::string data_;
  std::vector<std::size_t> ends_;
};

/// @brief What a command completes with: the reply, or none when the
/// connection was lost before the reply came (the command may or may not have
/// been applied).
using command_handler = std::function<void(std::optional<reply>)>;

/// @brief One connection to a Redis server (or to the fake).
///
/// Commands are sent in order and pipelined; each `done` runs exactly once, on
/// the executor the connection was opened on, in the order the commands were
/// sent: with the reply, or with none once the connection is lost (then every
/// command still waiting gets none, and so do the commands sent afterwards).
/// Thread safety: on that executor only (a worker's strand).
class connection {
 public:
  virtual ~connection() = default;
  /// @brief Sends `c`.
  virtual void send(const redis::command& c, command_handler done) = 0;
  /// @brief False once the connection was lost or closed.
  virtual bool connected() const noexcept = 0;
  /// @brief Closes the connection; commands waiting for replies get none.
  virtual void close() noexcept = 0;
};

/// @brief Opens connections (a server's address, or the fake).
///
/// Thread safety: `connect` may be called from any thread at the same time.
class connector {
 public:
  virtual ~connector() = default;
  /// @brief What `connect` completes with: the connection, or none and why.
  using connect_handler = std::function<void(std::shared_ptr<connection>, std::string error)>;
  /// @brief Opens a connection whose replies run on `ex`; `done` runs on `ex`.
  virtual void connect(const boost::asio::any_io_executor& ex, connect_handler done) = 0;
  /// @brief Where it connects, for messages (`unix:/path`, `127.0.0.1:6379`, `memory`).
  virtual std::string address() const = 0;
};

/// @brief The first word of an error reply (`NOGROUP`, `OOM`, `READONLY`, `ERR`).
inline std::string_view error_code_of(const reply& r) noexcept {
  std::string_view s = r.str;
  return s.substr(0, s.find(' '));
}

}  // namespace redis
WORKERS_END_NAMESPACE
