#pragma once

// Between a callback worker's loop and its reader, both on the worker's strand:
// the reader calls the user's read only when the loop wants a request, so a
// read request never waits in a buffer while the worker is busy, and the loop
// can wake up for its idle timeout while a read is pending without cancelling
// it (nothing read is ever lost to a timeout).

#include <workers/detail/config.hpp>

#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <optional>
#include <utility>

WORKERS_BEGIN_NAMESPACE
namespace detail {

class read_demand {
 public:
  // Loop: it wants its next request. Wakes the reader if it waits for that.
  template <class Strand>
  void want(const Strand& strand) {
    if (parked_) {
      boost::asio::post(strand, std::move(*parked_));
      parked_.reset();
    } else {
      wanted_ = true;  // the reader is reading, or not parked yet
    }
  }

  // Reader: a request was delivered, which is what the loop wanted.
  void met() noexcept { wanted_ = false; }

  // Reader: completes once the loop wants a request, or the worker closes.
  auto wait() {
    boost::asio::use_awaitable_t<> token;
    return boost::asio::async_initiate<boost::asio::use_awaitable_t<>, void()>(
        [this](auto handler) {
          if (std::exchange(wanted_, false) || released_)
            boost::asio::post(std::move(handler));
          else
            parked_.emplace(std::move(handler));
        },
        token);
  }

  // A new reader (a restart's): what the one before was told is forgotten.
  void renew() noexcept {
    released_ = false;
    wanted_ = false;
  }
  // Close: lets a waiting reader see that it is over.
  template <class Strand>
  void release(const Strand& strand) {
    released_ = true;
    want(strand);
  }

 private:
  using parked_reader =
      typename boost::asio::async_result<boost::asio::use_awaitable_t<>, void()>::handler_type;
  std::optional<parked_reader> parked_;
  bool wanted_ = false;
  bool released_ = false;
};

// Kinds other than callback have no reader.
struct no_read_demand {};

}  // namespace detail
WORKERS_END_NAMESPACE
