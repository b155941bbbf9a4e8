#pragma once

/// @file
/// @brief The settings and the handle of `redis::consume`: `consumer_options`
/// (with `retry_backoff`, `reconnect_backoff`), `consumer_event`,
/// `consumer_stats` and `consumer`.

#include <workers/clock.hpp>
#include <workers/detail/config.hpp>
#include <workers/time_source.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

WORKERS_BEGIN_NAMESPACE
namespace redis {

/// @brief The backoff of a retried delivery: `first × factor^(count − 1)`,
/// at most `cap`, then ± `jitter` of it; on the consumer's steady clock.
struct retry_backoff {
  steady_clock::duration first = std::chrono::seconds(1);  ///< after the first delivery
  double factor = 2.0;                                     ///< growth per delivery
  steady_clock::duration cap = std::chrono::minutes(5);    ///< the longest
  double jitter = 0.2;  ///< the fraction the delay may move by, each way (0 to 1)
};

/// @brief The wait before a reconnect (or a retry after Redis refused a
/// command): doubling from `min` to `max`, back to `min` once connected.
struct reconnect_backoff {
  steady_clock::duration min = std::chrono::milliseconds(100);  ///< the first wait
  steady_clock::duration max = std::chrono::seconds(5);         ///< the longest
};

/// @brief What a consumer reports (`consumer_options::on_event`).
struct consumer_event {
  /// @brief What happened.
  enum class kind {
    delivered,        ///< a delivery was pushed to the worker
    acked,            ///< its `XACK` was applied
    retry_scheduled,  ///< it stays pending and is taken again after `delay`
    dead_lettered,    ///< it was moved to the dead-letter stream (`text`: the reason)
    decode_failed,    ///< it did not decode (`text`: why); it is dead-lettered
    claimed,          ///< a delivery idle past the lease was claimed from `text` (a consumer)
    released,         ///< the worker closed before handling it: it stays pending
    connection_lost,  ///< the connection was lost (`text`: where)
    connected,        ///< a connection was made (after a loss: a reconnect)
    refused,          ///< Redis refused a command (`text`: the error, stream, group, command)
    stopped,          ///< the worker closed and every delivery was settled or released
  };
  kind what;                       ///< what happened
  std::string id;                  ///< the entry's ID, for a delivery's events
  std::uint64_t count = 0;         ///< its delivery count
  std::string text;                ///< the reason, error or address
  steady_clock::duration delay{};  ///< for `retry_scheduled`: the backoff
};

/// @brief How a worker consumes a stream (`consume`). Durations on the
/// consumer's steady clock (`clock`: by default the worker's table's).
struct consumer_options {
  std::string stream;                   ///< the stream's key (required)
  std::string group;                    ///< the consumer group (required)
  std::string consumer = {};            ///< the consumer's name; empty: the worker's full name
  std::string dead_letter_stream = {};  ///< empty: `<stream>:dead`
  std::string group_start = "0";        ///< where a new group starts (`XGROUP CREATE … MKSTREAM`)
  std::size_t batch = 100;              ///< the most entries one `XREADGROUP` asks for
  std::size_t max_in_flight = 200;      ///< the most unsettled deliveries the worker holds
  std::uint64_t max_deliveries = 5;     ///< deliveries before a failing entry is dead-lettered
  retry_backoff retry = {};             ///< the backoff of retried deliveries
  /// Idle time after which another consumer's delivery is claimed; the
  /// consumer extends its own deliveries' leases every third of it.
  steady_clock::duration lease = std::chrono::seconds(30);
  steady_clock::duration poll = std::chrono::milliseconds(100);  ///< wait after an empty read
  reconnect_backoff reconnect = {};  ///< after a lost connection or a refused command
  /// How long a closed worker's consumer goes on trying to settle what was
  /// handled (Redis unreachable); then it gives up and they stay pending.
  steady_clock::duration settle_timeout = std::chrono::seconds(10);
  /// A delivery in hand longer than this is no longer touched, so that
  /// another consumer claims it after `lease` (give it the worker's watchdog
  /// `stuck` budget); none: touched as long as it is in hand.
  std::optional<steady_clock::duration> max_hold = std::nullopt;
  /// The clocks of the backoffs, the lease, the polls; empty: the worker's
  /// table's (`table_options::clock`), else the real ones.
  std::shared_ptr<time_source> clock = {};
  /// Called on the worker's strand for each event; what it throws is ignored.
  std::function<void(const consumer_event&)> on_event = {};
};

/// @brief A consumer's counters (monotonic, except `in_flight`, `lag`, `pending`).
struct consumer_stats {
  std::uint64_t delivered = 0;  ///< deliveries pushed to the worker
  std::uint64_t acked = 0;      ///< deliveries acknowledged
  /// Ids an `XACK` found settled already (another consumer took the delivery
  /// meanwhile: a lease that ran out while it was handled here)
  std::uint64_t ack_duplicates = 0;
  std::uint64_t retried = 0;        ///< retries scheduled
  std::uint64_t dead_lettered = 0;  ///< deliveries moved to the dead-letter stream
  std::uint64_t decode_failed = 0;  ///< entries that did not decode (dead-lettered too)
  std::uint64_t claimed = 0;        ///< deliveries claimed from other consumers
  std::uint64_t released = 0;       ///< deliveries left pending by a closing worker
  std::uint64_t connections = 0;    ///< connections made (1 + reconnects)
  std::uint64_t lost = 0;           ///< connections lost
  std::uint64_t refused = 0;        ///< commands Redis refused
  std::uint64_t in_flight = 0;      ///< unsettled deliveries held now
  /// The group's lag (entries not yet delivered to any consumer) and its
  /// pending count, read with `XINFO GROUPS` every third of the lease.
  std::uint64_t lag = 0;
  std::uint64_t pending = 0;  ///< see `lag`
};

/// @brief A handle on a running consumer. Cheap to copy. Any thread.
class consumer {
 public:
  /// @brief A snapshot of the counters.
  consumer_stats stats() const { return state_->stats(); }
  /// @brief The last error (a refused command, a failed connection), naming
  /// the stream, the group and the command; empty if none.
  std::string last_error() const { return state_->last_error(); }
  /// @brief True once the worker closed and the consumer settled what it could.
  bool stopped() const noexcept { return state_->stopped.load(); }

  /// @cond
  // The counters and the last error, shared by the handles and the consumer.
  struct state {
    consumer_stats stats() const {
      consumer_stats s;
      s.delivered = delivered.load();
      s.acked = acked.load();
      s.ack_duplicates = ack_duplicates.load();
      s.retried = retried.load();
      s.dead_lettered = dead_lettered.load();
      s.decode_failed = decode_failed.load();
      s.claimed = claimed.load();
      s.released = released.load();
      s.connections = connections.load();
      s.lost = lost_connections.load();
      s.refused = refused_commands.load();
      s.in_flight = in_flight.load();
      s.lag = lag.load();
      s.pending = pending.load();
      return s;
    }
    std::string last_error() const {
      std::lock_guard lock(mutex);
      return error;
    }
    void set_error(std::string text) {
      std::lock_guard lock(mutex);
      error = std::move(text);
    }
    std::atomic<std::uint64_t> delivered{0}, acked{0}, ack_duplicates{0}, retried{0},
        dead_lettered{0}, decode_failed{0}, claimed{0}, released{0}, connections{0},
        lost_connections{0}, refused_commands{0}, in_flight{0}, lag{0}, pending{0};
    mutable std::mutex mutex;
    std::string error;
    std::atomic<bool> stopped{false};
  };
  explicit consumer(std::shared_ptr<state> s) : state_(std::move(s)) {}
  /// @endcond

 private:
  std::shared_ptr<state> state_;
};

}  // namespace redis
WORKERS_END_NAMESPACE
