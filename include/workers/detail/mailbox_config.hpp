#pragma once

// What a table knows about its buffer kind, shared by its workers' mailboxes
// (mailbox.hpp): a queue's capacity, a dropbox's merge, a callback's read.
// Built once by `create_table` from the kind value, where the user's merge and
// read are checked.

#include <workers/buffer_kind.hpp>
#include <workers/detail/config.hpp>
#include <workers/detail/handler_traits.hpp>
#include <workers/merged.hpp>

#include <boost/asio/awaitable.hpp>

#include <fmt/format.h>

#include <concepts>
#include <cstddef>
#include <functional>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>

WORKERS_BEGIN_NAMESPACE
template <class Def, class Kind>
class worker;

namespace detail {

template <class Def, class Kind>
struct buffer_config;

template <class Def, class Bound>
struct buffer_config<Def, queue<Bound>> {
  std::size_t capacity = 0;  // 0: unbounded
};

template <class Def>
struct buffer_config<Def, dropbox> {
  using any = typename Def::request_variant;
  std::function<merged<any>(worker<Def, dropbox>&, any&&, const any*)> merge;
};

template <class Def>
struct buffer_config<Def, callback> {
  using any = typename Def::request_variant;
  // One of the two is set: reads that complete at once cost no coroutine frame.
  std::function<std::optional<any>(worker<Def, callback>&)> read_now;
  std::function<boost::asio::awaitable<std::optional<any>>(worker<Def, callback>&)> read_async;
};

// The capacity a worker's mailbox gets (0: unbounded, and for other kinds).
template <class Def, class Bound>
std::size_t capacity_of(const buffer_config<Def, queue<Bound>>& c) noexcept {
  return c.capacity;
}
template <class Config>
std::size_t capacity_of(const Config&) noexcept {
  return 0;
}

template <class Def>
buffer_config<Def, queue<infinite>> make_config(infinite_queue) {
  return {0};
}

template <class Def>
buffer_config<Def, queue<bounded>> make_config(bounded_queue kind) {
  if (kind.size < 1)
    throw std::invalid_argument(fmt::format(
        "workers: a bounded queue needs a size of at least 1 (table of {})", Def::base_name()));
  return {kind.size};
}

template <class Def, class Merge>
buffer_config<Def, dropbox> make_config(merging_dropbox<Merge> kind) {
  using any = typename Def::request_variant;
  using self = worker<Def, dropbox>;
  // Const: the table keeps one copy, which its workers call on their strands at the same time.
  constexpr bool callable = std::invocable<const Merge&, self&, any&&, const any*>;
  static_assert(callable,
                "workers: a dropbox's merge must be callable as merge(worker& self, "
                "any_request incoming, const any_request* pending) on a const merge (the "
                "table's workers share it and may call it at the same time)");
  if constexpr (callable) {
    constexpr bool returns_merged =
        std::convertible_to<std::invoke_result_t<const Merge&, self&, any&&, const any*>,
                            merged<any>>;
    static_assert(returns_merged,
                  "workers: a dropbox's merge must return workers::merged<any_request>, "
                  "std::optional<any_request> or any_request");
    if constexpr (returns_merged)
      return {
          [merge = std::move(kind.merge)](self& s, any&& in, const any* pending) -> merged<any> {
            return merge(s, std::move(in), pending);
          }};
  }
  return {};  // rejected above: nothing more to report
}

template <class Def, class Read>
buffer_config<Def, callback> make_config(callback_source<Read> kind) {
  using any = typename Def::request_variant;
  using self = worker<Def, callback>;
  static_assert(std::invocable<Read&, self&>,
                "workers: a callback's read must be callable as read(worker& self)");
  if constexpr (std::invocable<Read&, self&>) {
    using returned = std::invoke_result_t<Read&, self&>;
    static_assert(std::same_as<awaited_t<returned>, std::optional<any>>,
                  "workers: a callback's read must return std::optional<any_request>, or an "
                  "asio::awaitable of it");
    buffer_config<Def, callback> config;
    if constexpr (is_awaitable_v<returned>)
      config.read_async = std::move(kind.read);
    else
      config.read_now = std::move(kind.read);
    return config;
  }
  return {};
}

}  // namespace detail
WORKERS_END_NAMESPACE
