#pragma once

// The mailbox of callback workers (see mailbox.hpp for the interface): no
// buffer of its own, but a reader. The reader is a coroutine on the worker's
// strand, beside the loop, that calls the user's read each time the loop wants
// a request (read_demand.hpp) and hands over what it returns through a queue
// that thus holds at most one. None ends the source: the worker closes
// normally. A read that throws crashes the worker, unless the worker was
// closing, whose cancellation ends a pending read.

#include <workers/close_reason.hpp>
#include <workers/detail/config.hpp>
#include <workers/detail/hook_executor.hpp>
#include <workers/detail/queue_mailbox.hpp>
#include <workers/detail/read_demand.hpp>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/this_coro.hpp>

#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <utility>

WORKERS_BEGIN_NAMESPACE
namespace detail {

template <class Def, class Host>
class callback_mailbox : public queue_mailbox<Def, Host> {
  using base = queue_mailbox<Def, Host>;

 public:
  callback_mailbox(Host& host, std::size_t /*capacity*/, bool counted) noexcept
      : base(host, 0, counted) {}

  // The loop sleeps: the reader may read.
  void parked() { demand_.want(this->host().strand()); }
  // The loop runs: a reader starts (a new one at each restart, with a signal
  // of its own: the one before may still be finishing a read).
  void launched() {
    demand_.renew();
    auto signal = std::make_shared<boost::asio::cancellation_signal>();
    reader_signal_ = signal;
    boost::asio::co_spawn(
        this->host().hook_executor(), read_requests(this->host().hold(), signal, ++readers_),
        boost::asio::bind_cancellation_slot(signal->slot(), boost::asio::detached));
  }
  // The close began, or a restart: a reader waiting for demand ends; a
  // pending read is cancelled.
  void closing() {
    demand_.release(this->host().strand());
    if (reader_signal_) reader_signal_->emit(boost::asio::cancellation_type::terminal);
  }
  void restarting() { closing(); }
  // The execution context dies: what refers to it goes before its services do
  // (a reader waiting for demand is handed back to the context, which destroys it).
  void abandoned() noexcept {
    if (this->host().has_strand()) demand_.release(this->host().strand());
    if (reader_signal_) reader_signal_->slot().clear();
  }

 private:
  // Reads while the worker runs as the incarnation that started reader
  // `mine`. A read that ends as a restart begins still hands its request
  // over (it waits for the next incarnation); one that ends in a close does
  // not (nothing is left to hand it to).
  static boost::asio::awaitable<void> read_requests(
      std::shared_ptr<Host> host, std::shared_ptr<boost::asio::cancellation_signal> signal,
      std::uint64_t mine) {
    co_await boost::asio::this_coro::throw_if_cancelled(false);
    auto self = host->self();
    const auto& config = host->config().buffer;
    auto& mailbox = host->mailbox();
    auto& demand = mailbox.demand_;
    const auto stale = [&] { return host->takes_no_more() || mailbox.readers_ != mine; };
    for (;;) {
      co_await demand.wait();
      if (host->closing() || stale()) break;
      std::optional<typename Def::request_variant> request;
      std::exception_ptr failure;
      try {
        if (config.read_now) {
          hook_scope inside;
          request = config.read_now(self);
        } else {
          request = co_await config.read_async(self);
        }
      } catch (...) {
        failure = std::current_exception();
      }
      if (host->closing()) break;  // closed meanwhile: nothing left to hand it to
      if (stale()) {               // a restart began meanwhile: the read is kept, the reader ends
        if (request) host->push_read(std::move(*request));
        break;
      }
      if (failure) {
        host->crash("read", failure);
        break;
      }
      if (!request) {
        host->end_of_source();
        break;
      }
      demand.met();
      host->push_read(std::move(*request));
    }
    (void)signal;  // kept while this reader may be cancelled through it
  }

  read_demand demand_;
  // Cancels the pending read of the current reader at the close or a restart.
  std::shared_ptr<boost::asio::cancellation_signal> reader_signal_;
  std::uint64_t readers_ = 0;  // readers started: the current one's number
};

}  // namespace detail
WORKERS_END_NAMESPACE
