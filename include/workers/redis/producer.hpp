#pragma once

/// @file
/// @brief `redis::remote_table`: pushes requests to the workers of another
/// process through a stream (`XADD`), completing once Redis has the entry.

#include <workers/detail/config.hpp>
#include <workers/redis/codec.hpp>
#include <workers/redis/connection.hpp>

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/compose.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/system/error_code.hpp>

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

WORKERS_BEGIN_NAMESPACE
namespace redis {

/// @brief Why a remote push failed (category `workers.redis`).
enum class errc {
  refused = 1,      ///< Redis refused the `XADD` (`OOM`, `READONLY`, …)
  connection_lost,  ///< the connection was lost, or could not be made, before Redis answered
  over_watermark,   ///< the group's lag is past `producer_options::high_watermark`
};

/// @brief The category of `redis::errc`.
inline const boost::system::error_category& category() noexcept {
  struct cat final : boost::system::error_category {
    const char* name() const noexcept override { return "workers.redis"; }
    std::string message(int c) const override {
      switch (static_cast<errc>(c)) {
        case errc::refused:
          return "Redis refused the command";
        case errc::connection_lost:
          return "the connection to Redis was lost before it answered";
        case errc::over_watermark:
          return "the consumer group's lag is past the producer's high watermark";
      }
      return "unknown workers.redis error";
    }
  };
  static const cat instance;
  return instance;
}
/// @brief An error code of `redis::errc`.
inline boost::system::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), category()};
}

/// @brief Where a `remote_table` pushes.
struct producer_options {
  std::string stream;  ///< the stream's key (required)
  /// `XADD … MAXLEN ~ cap`: the stream is trimmed to about this many entries
  /// (entries trimmed before a consumer read them are lost to it); none: no trim.
  std::optional<std::uint64_t> max_length = std::nullopt;
  /// Refuse a push (`errc::over_watermark`) while consumer group `group`'s lag
  /// (`XINFO GROUPS`, entries not yet delivered) is above this; none: never.
  std::optional<std::uint64_t> high_watermark = std::nullopt;
  std::string group = {};  ///< the group whose lag `high_watermark` reads
};

namespace detail {

class producer_core : public std::enable_shared_from_this<producer_core> {
 public:
  using handler = boost::asio::any_completion_handler<void(boost::system::error_code, std::string)>;

  producer_core(const boost::asio::any_io_executor& ex, std::shared_ptr<connector> broker,
                producer_options o)
      : strand_(boost::asio::make_strand(ex)), broker_(std::move(broker)), o_(std::move(o)) {}

  boost::asio::any_io_executor executor() const { return strand_; }

  // On the strand: the connection goes; pushes waiting for it fail.
  void close() {
    closed_ = true;
    if (conn_) conn_->close();
    conn_.reset();
    fail_all(errc::connection_lost);
  }

  // On the strand.
  void add(fields f, handler h) {
    if (closed_) {
      queue_.push_back({std::move(f), std::move(h)});
      return fail_all(errc::connection_lost);
    }
    queue_.push_back({std::move(f), std::move(h)});
    if (conn_ && conn_->connected()) return send_all();
    if (connecting_) return;
    connecting_ = true;
    broker_->connect(strand_,
                     [self = shared_from_this()](std::shared_ptr<connection> c, std::string) {
                       self->connecting_ = false;
                       self->conn_ = std::move(c);
                       if (!self->conn_) return self->fail_all(errc::connection_lost);
                       self->send_all();
                     });
  }

 private:
  struct push {
    fields values;
    handler done;
  };

  void send_all() {
    while (!queue_.empty()) {
      auto p = std::make_shared<push>(std::move(queue_.front()));
      queue_.pop_front();
      if (o_.high_watermark) {
        conn_->send({"XINFO", "GROUPS", o_.stream},
                    [self = shared_from_this(), p](std::optional<reply> r) {
                      if (!r) return self->complete(*p, errc::connection_lost, {});
                      if (self->lag_of(*r) > *self->o_.high_watermark)
                        return self->complete(*p, errc::over_watermark, {});
                      self->xadd(p);
                    });
      } else {
        xadd(p);
      }
    }
  }

  std::uint64_t lag_of(const reply& r) const {
    for (const auto& g : r.elements)
      for (std::size_t i = 0; i + 1 < g.elements.size(); i += 2)
        if (g.elements[i].str == "name" && g.elements[i + 1].str == o_.group)
          for (std::size_t j = 0; j + 1 < g.elements.size(); j += 2)
            if (g.elements[j].str == "lag" && g.elements[j + 1].kind == reply::type::integer)
              return std::uint64_t(g.elements[j + 1].integer);
    return 0;
  }

  void xadd(const std::shared_ptr<push>& p) {
    if (!conn_ || !conn_->connected()) return complete(*p, errc::connection_lost, {});
    command add{"XADD", o_.stream};
    if (o_.max_length) add.push("MAXLEN").push("~").push_number(*o_.max_length);
    add.push("*");
    for (auto& [k, v] : p->values) add.push(k).push(v);
    conn_->send(add, [self = shared_from_this(), p](std::optional<reply> r) {
      if (!r) return self->complete(*p, errc::connection_lost, {});
      if (r->is_error()) return self->complete(*p, errc::refused, r->str);
      self->complete(*p, {}, r->str);
    });
  }

  void complete(push& p, std::optional<errc> e, std::string text) {
    boost::system::error_code ec;
    if (e) ec = make_error_code(*e);
    std::move(p.done)(ec, std::move(text));
  }

  void fail_all(errc e) {
    auto q = std::move(queue_);
    queue_.clear();
    for (auto& p : q) complete(p, e, {});
  }

  boost::asio::strand<boost::asio::any_io_executor> strand_;
  std::shared_ptr<connector> broker_;
  producer_options o_;
  std::shared_ptr<connection> conn_;
  std::deque<push> queue_;
  bool connecting_ = false;
  bool closed_ = false;
};

}  // namespace detail

/// @brief The producer side of a stream consumed by workers elsewhere
/// (`consume`): `push_request` appends an entry and completes once Redis has it.
///
/// Requests are encoded by the codec (`json_codec` by default). One connection,
/// opened at the first push, on a strand of the executor given. Cheap to copy.
/// Thread safety: any thread.
template <class Def, class Codec = json_codec<typename Def::request_variant>>
class remote_table {
 public:
  /// @brief A producer on `ex` for `options.stream` on `broker`.
  remote_table(const boost::asio::any_io_executor& ex, std::shared_ptr<connector> broker,
               producer_options options, Codec codec = {})
      : core_(std::make_shared<detail::producer_core>(ex, std::move(broker), std::move(options))),
        codec_(std::move(codec)) {}

  /// @brief Appends `request` to the stream (`XADD`, with `MAXLEN ~` if set),
  /// with a `trace` field if `trace` is not empty (the consumer's handler reads
  /// it in `delivery::trace`).
  ///
  /// Completion signature: `void(error_code, std::string id)`: the entry's ID
  /// once Redis has it; `errc::refused` (the id argument then holds Redis'
  /// error text), `errc::connection_lost` (it may or may not have been added:
  /// at-least-once producers push again), `errc::over_watermark`.
  /// No per-operation cancellation (a sent command cannot be taken back).
  /// Thread safety: any thread; pushes from one thread are added in order.
  /// @brief Closes the connection (its socket no longer keeps the
  /// executor's context running): pushes Redis has not answered yet complete
  /// with `errc::connection_lost`, and so do later ones. Thread safety: any thread.
  void close() {
    boost::asio::post(core_->executor(), [core = core_] { core->close(); });
  }

  template <class R,
            boost::asio::completion_token_for<void(boost::system::error_code, std::string)> Token>
  auto push_request(const R& request, Token&& token, std::string trace = {}) {
    auto f = codec_.encode(request);
    if (!trace.empty()) f.emplace_back("trace", std::move(trace));
    return boost::asio::async_compose<Token, void(boost::system::error_code, std::string)>(
        [core = core_, f = std::move(f), started = false](
            auto& self, boost::system::error_code ec = {}, std::string id = {}) mutable {
          if (!started) {
            started = true;
            auto c = core;  // `self` owns `core`, and moves
            auto ex = c->executor();
            boost::asio::post(ex, [c, f = std::move(f), self = std::move(self)]() mutable {
              c->add(std::move(f), std::move(self));
            });
            return;
          }
          self.complete(ec, std::move(id));
        },
        token, core_->executor());
  }

 private:
  std::shared_ptr<detail::producer_core> core_;
  Codec codec_;
};

}  // namespace redis
WORKERS_END_NAMESPACE

template <>
struct boost::system::is_error_code_enum<workers::redis::errc> : std::true_type {};
