#pragma once

/// @file
/// @brief `hiredis_connector`: connections to a real Redis through hiredis'
/// asynchronous context, run by Asio. Needs `libhiredis` (the CMake target
/// `workers::redis`, `find_package(workers COMPONENTS redis)`).
///
/// hiredis asks its event loop for five things (start and stop watching for
/// reading, the same for writing, and a cleanup); here they are async waits
/// on a `posix::stream_descriptor` over hiredis' socket, on the connection's
/// executor (a worker's strand), so hiredis only ever runs there.

#include <workers/detail/config.hpp>
#include <workers/redis/connection.hpp>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include <pthread.h>
#include <signal.h>

#include <cerrno>
#include <csignal>
#include <cstddef>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <utility>
#include <vector>

WORKERS_BEGIN_NAMESPACE
namespace redis {

namespace detail {

// hiredis' reader builds our `reply` values directly (its reply object
// functions), instead of its own `redisReply` tree that would then be copied.
// A whole reply's root is a `reply_root`, whose first member is a
// `redisReply` header (type and error text) for the one place hiredis reads a
// root reply itself (an error sent when no command waits); the elements of an
// array are built in place in their parent's `elements`, reserved up front.
struct reply_root {
  redisReply header{};
  reply value;
};

inline reply* reply_of_task(const redisReadTask* task) {
  return task->parent == nullptr           ? nullptr
         : task->parent->parent == nullptr ? &static_cast<reply_root*>(task->parent->obj)->value
                                           : static_cast<reply*>(task->parent->obj);
}

template <class... A>
void* place_reply(const redisReadTask* task, A&&... a) {
  if (reply* parent = reply_of_task(task)) {
    parent->elements.push_back(reply{std::forward<A>(a)...});
    return &parent->elements.back();
  }
  auto* root = new (std::nothrow) reply_root{{}, reply{std::forward<A>(a)...}};
  if (!root) return nullptr;
  root->header.type = task->type;
  if (root->value.kind == reply::type::error || root->value.kind == reply::type::status) {
    root->header.str = root->value.str.data();
    root->header.len = root->value.str.size();
  }
  return root;
}

inline redisReplyObjectFunctions* reply_functions() {
  static redisReplyObjectFunctions functions{
      [](const redisReadTask* task, char* str, std::size_t len) -> void* {
        auto kind = task->type == REDIS_REPLY_ERROR    ? reply::type::error
                    : task->type == REDIS_REPLY_STATUS ? reply::type::status
                                                       : reply::type::string;
        return place_reply(task, kind, std::int64_t{0}, std::string(str, len));
      },
      [](const redisReadTask* task, int elements) -> void* {
        std::vector<reply> slots;
        slots.reserve(std::size_t(elements > 0 ? elements : 0));
        return place_reply(task, reply::type::array, std::int64_t{0}, std::string(),
                           std::move(slots));
      },
      [](const redisReadTask* task, long long n) -> void* {
        return place_reply(task, reply::type::integer, std::int64_t{n});
      },
      [](const redisReadTask* task) -> void* { return place_reply(task, reply::type::nil); },
      [](void* root) { delete static_cast<reply_root*>(root); },
  };
  return &functions;
}

// hiredis writes with write(2): to a socket the server closed, that raises
// SIGPIPE, whose default action ends the process. The signal is blocked in
// this thread around hiredis' writes and, if raised, taken back (the write
// fails with EPIPE, which hiredis reports as a lost connection).
class sigpipe_guard {
 public:
  sigpipe_guard() noexcept {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    sigset_t pending;
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
    pthread_sigmask(SIG_BLOCK, &pipe_, &old_);
  }
  ~sigpipe_guard() {
    if (!was_pending_) {
      sigset_t pending;
      sigpending(&pending);
      if (sigismember(&pending, SIGPIPE) == 1) {
        timespec zero{0, 0};
        while (sigtimedwait(&pipe_, nullptr, &zero) == -1 && errno == EINTR) {
        }
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  sigpipe_guard(const sigpipe_guard&) = delete;
  sigpipe_guard& operator=(const sigpipe_guard&) = delete;

 private:
  sigset_t pipe_;
  sigset_t old_;
  bool was_pending_ = false;
};

// One hiredis asynchronous context on an Asio executor. Owned by a
// shared_ptr: each wait in progress holds one, so that the context outlives
// the waits that call into it.
class hiredis_connection final : public connection,
                                 public std::enable_shared_from_this<hiredis_connection> {
 public:
  hiredis_connection(const boost::asio::any_io_executor& ex, redisAsyncContext* ac)
      : ex_(ex), socket_(ex), ac_(ac) {}
  hiredis_connection(const hiredis_connection&) = delete;
  hiredis_connection& operator=(const hiredis_connection&) = delete;

  ~hiredis_connection() override {
    // Commands still waiting are dropped without calling back: whoever sent
    // them is going away too (this is the last reference).
    silent_ = true;
    if (ac_) redisAsyncFree(ac_);
  }

  // Hooks hiredis into this object; `done` once the connection is made or failed.
  void start(connector::connect_handler done) {
    connect_done_ = std::move(done);
    ac_->data = this;
    ac_->c.reader->fn = reply_functions();
    ac_->ev.data = this;
    ac_->ev.addRead = [](void* p) { static_cast<hiredis_connection*>(p)->watch(read_, true); };
    ac_->ev.delRead = [](void* p) { static_cast<hiredis_connection*>(p)->watch(read_, false); };
    ac_->ev.addWrite = [](void* p) { static_cast<hiredis_connection*>(p)->watch(write_, true); };
    ac_->ev.delWrite = [](void* p) { static_cast<hiredis_connection*>(p)->watch(write_, false); };
    ac_->ev.cleanup = [](void* p) { static_cast<hiredis_connection*>(p)->cleanup(); };
    boost::system::error_code ec;
    socket_.assign(ac_->c.fd, ec);
    if (ec) {
      fail("cannot watch the socket: " + ec.message());
      return;
    }
    redisAsyncSetConnectCallback(ac_, [](const redisAsyncContext* c, int status) {
      auto* self = static_cast<hiredis_connection*>(c->data);
      if (!self) return;
      if (status == REDIS_OK)
        self->connected_now();
      else
        self->connect_failed(c->errstr);
    });
    redisAsyncSetDisconnectCallback(ac_, [](const redisAsyncContext* c, int) {
      if (auto* self = static_cast<hiredis_connection*>(c->data)) self->lost();
    });
  }

  void send(const redis::command& c, command_handler done) override {
    if (!ac_ || !connected_) {
      boost::asio::post(ex_, [done = std::move(done)] { done(std::nullopt); });
      return;
    }
    argv_.clear();
    lengths_.clear();
    for (std::size_t i = 0; i < c.size(); ++i) {
      argv_.push_back(c[i].data());
      lengths_.push_back(c[i].size());
    }
    auto* pending = new command_handler(std::move(done));
    if (redisAsyncCommandArgv(ac_, &hiredis_connection::replied, pending,
                              static_cast<int>(argv_.size()), argv_.data(),
                              lengths_.data()) != REDIS_OK) {
      auto handler = std::unique_ptr<command_handler>(pending);
      boost::asio::post(ex_, [done = std::move(*handler)] { done(std::nullopt); });
    }
  }

  bool connected() const noexcept override { return ac_ && connected_; }

  void close() noexcept override {
    connected_ = false;
    // Commands waiting get none at once (redisAsyncFree calls them with no reply).
    if (ac_ && !in_callback_) {
      auto* ac = std::exchange(ac_, nullptr);
      ac->data = nullptr;
      redisAsyncFree(ac);
    } else if (ac_) {
      redisAsyncDisconnect(ac_);
    }
  }

 private:
  enum direction { read_, write_ };

  static void replied(redisAsyncContext* c, void* r, void* privdata) {
    auto handler = std::unique_ptr<command_handler>(static_cast<command_handler*>(privdata));
    auto* self = c ? static_cast<hiredis_connection*>(c->data) : nullptr;
    if (self && self->silent_) return;
    std::optional<reply> answer;
    if (r) answer = std::move(static_cast<reply_root*>(r)->value);
    if (self) ++self->in_callback_;
    (*handler)(std::move(answer));
    if (self) --self->in_callback_;
  }

  void watch(direction d, bool on) {
    bool& wanted = d == read_ ? want_read_ : want_write_;
    wanted = on;
    if (on) arm(d);
  }

  void arm(direction d) {
    bool& waiting = d == read_ ? read_waiting_ : write_waiting_;
    if (waiting || !ac_) return;
    waiting = true;
    socket_.async_wait(d == read_ ? boost::asio::posix::stream_descriptor::wait_read
                                  : boost::asio::posix::stream_descriptor::wait_write,
                       [self = shared_from_this(), d](boost::system::error_code ec) {
                         (d == read_ ? self->read_waiting_ : self->write_waiting_) = false;
                         if (ec || !self->ac_) return;
                         if (d == read_ && self->want_read_)
                           redisAsyncHandleRead(self->ac_);
                         else if (d == write_ && self->want_write_) {
                           sigpipe_guard guard;
                           redisAsyncHandleWrite(self->ac_);
                         }
                         // hiredis may have freed the context meanwhile (cleanup).
                         if (self->ac_ && (d == read_ ? self->want_read_ : self->want_write_))
                           self->arm(d);
                       });
  }

  // hiredis frees the context (a lost connection, a disconnect): its socket
  // is hiredis' to close.
  void cleanup() {
    want_read_ = want_write_ = false;
    if (socket_.is_open()) {
      boost::system::error_code ignored;
      socket_.cancel(ignored);
      (void)socket_.release();
    }
    if (ac_) ac_->data = nullptr;
    ac_ = nullptr;
    connected_ = false;
    if (connect_done_) connect_failed("connection closed before it was made");
  }

  void connected_now() {
    connected_ = true;
    if (auto done = std::exchange(connect_done_, nullptr)) done(shared_from_this(), {});
  }
  void connect_failed(const std::string& why) {
    connected_ = false;
    if (auto done = std::exchange(connect_done_, nullptr)) done(nullptr, why);
  }
  void fail(const std::string& why) {
    auto done = std::exchange(connect_done_, nullptr);
    close();
    if (done) boost::asio::post(ex_, [done = std::move(done), why] { done(nullptr, why); });
  }
  void lost() { connected_ = false; }

  boost::asio::any_io_executor ex_;
  boost::asio::posix::stream_descriptor socket_;
  redisAsyncContext* ac_;
  connector::connect_handler connect_done_;
  bool connected_ = false;
  bool want_read_ = false;
  bool want_write_ = false;
  bool read_waiting_ = false;
  bool write_waiting_ = false;
  bool silent_ = false;
  int in_callback_ = 0;
  std::vector<const char*> argv_;  // reused by `send`
  std::vector<std::size_t> lengths_;
};

}  // namespace detail

/// @brief Connects to a Redis server on a unix socket (`unix_path`) or TCP
/// (`host`, `port`) through hiredis. Each connection is a non-blocking socket
/// watched on the executor it is opened for; no thread of its own.
class hiredis_connector final : public connector {
 public:
  /// @brief A server on the unix socket at `path`.
  static std::shared_ptr<hiredis_connector> unix_socket(std::string path) {
    return std::make_shared<hiredis_connector>(std::move(path), std::string{}, 0);
  }
  /// @brief A server at `host`:`port` over TCP.
  static std::shared_ptr<hiredis_connector> tcp(std::string host, int port) {
    return std::make_shared<hiredis_connector>(std::string{}, std::move(host), port);
  }

  /// @brief Use `unix_socket` or `tcp`.
  hiredis_connector(std::string path, std::string host, int port)
      : path_(std::move(path)), host_(std::move(host)), port_(port) {}

  void connect(const boost::asio::any_io_executor& ex, connect_handler done) override {
    redisAsyncContext* ac = path_.empty() ? redisAsyncConnect(host_.c_str(), port_)
                                          : redisAsyncConnectUnix(path_.c_str());
    if (!ac || ac->err) {
      std::string why = ac ? ac->errstr : "out of memory";
      if (ac) redisAsyncFree(ac);
      boost::asio::post(
          ex, [done = std::move(done), why = address() + ": " + why] { done(nullptr, why); });
      return;
    }
    auto c = std::make_shared<detail::hiredis_connection>(ex, ac);
    // The connection is made when the socket first becomes writable; until
    // then `c` is held by its wait for writing.
    c->start([done = std::move(done), where = address()](std::shared_ptr<connection> conn,
                                                         std::string why) {
      done(std::move(conn), why.empty() ? why : where + ": " + why);
    });
  }

  std::string address() const override {
    return path_.empty() ? host_ + ":" + std::to_string(port_) : "unix:" + path_;
  }

 private:
  std::string path_;
  std::string host_;
  int port_;
};

}  // namespace redis
WORKERS_END_NAMESPACE
