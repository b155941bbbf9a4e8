#pragma once

// The completion of a waiter, posted (or dispatched) to the handler's
// executor: the handler and its value. When the handler has an allocator of
// its own they are kept in storage from that allocator, freed before the
// upcall, as Asio's operations do (an executor, type-erased, may not pass the
// allocator on); otherwise they ride in the posted function, which Asio
// allocates from its recycling cache.

#include <workers/detail/config.hpp>

#include <boost/asio/associated_allocator.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/recycling_allocator.hpp>

#include <memory>
#include <tuple>
#include <type_traits>
#include <utility>

WORKERS_BEGIN_NAMESPACE
namespace detail {

namespace asio = boost::asio;

template <class T>
inline constexpr bool is_tuple = false;
template <class... T>
inline constexpr bool is_tuple<std::tuple<T...>> = true;

template <class Handler, class T>
class waiter_completion {
  using allocator_type = asio::associated_allocator_t<Handler, asio::recycling_allocator<void>>;
  static constexpr bool own_allocator =
      !std::is_same_v<allocator_type, asio::recycling_allocator<void>>;

  struct contents {
    Handler handler;
    T value;
  };
  using storage_allocator =
      typename std::allocator_traits<allocator_type>::template rebind_alloc<contents>;
  struct release {
    storage_allocator alloc;
    void operator()(contents* c) const {
      storage_allocator a(alloc);
      std::allocator_traits<storage_allocator>::destroy(a, c);
      std::allocator_traits<storage_allocator>::deallocate(a, c, 1);
    }
  };
  using held = std::conditional_t<own_allocator, std::unique_ptr<contents, release>, contents>;

 public:
  waiter_completion(Handler&& h, T&& value, bool clear_slot)
      : held_(hold(std::move(h), std::move(value))), clear_slot_(clear_slot) {}

  // Runs on the handler's executor: the only place the slot is cleared, so it
  // never races with the caller emitting a cancellation.
  void operator()() {
    auto& c = get();
    Handler handler(std::move(c.handler));
    T value(std::move(c.value));
    if constexpr (own_allocator) held_.reset();
    if (clear_slot_) asio::get_associated_cancellation_slot(handler).clear();
    if constexpr (is_tuple<T>)
      std::apply(std::move(handler), std::move(value));
    else
      std::move(handler)(std::move(value));
  }

 private:
  static held hold(Handler&& h, T&& value) {
    if constexpr (own_allocator) {
      storage_allocator alloc(asio::get_associated_allocator(h));
      contents* c = std::allocator_traits<storage_allocator>::allocate(alloc, 1);
      try {
        std::allocator_traits<storage_allocator>::construct(
            alloc, c, contents{std::move(h), std::move(value)});
      } catch (...) {
        std::allocator_traits<storage_allocator>::deallocate(alloc, c, 1);
        throw;
      }
      return held(c, release{alloc});
    } else {
      return contents{std::move(h), std::move(value)};
    }
  }
  contents& get() {
    if constexpr (own_allocator)
      return *held_;
    else
      return held_;
  }

  held held_;
  bool clear_slot_;
};

}  // namespace detail
WORKERS_END_NAMESPACE
