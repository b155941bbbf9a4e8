#pragma once

/// @file
/// @brief Buffer kinds: the tags that parameterize worker handles and tables,
/// and the values given to `create_table`.

#include <cstddef>

namespace workers {

/// @brief Tag: a queue that never blocks its producers.
struct infinite {};
/// @brief Tag: a queue of bounded capacity whose producers wait for room.
struct bounded {};
/// @brief Tag of queue buffers: `queue<infinite>` or `queue<bounded>`.
template <class Bound>
struct queue {};

/// @brief Buffer kind value: an infinite FIFO queue (`create_table(infinite_queue{})`).
struct infinite_queue {
  using tag = queue<infinite>;
};

/// @brief Buffer kind value: a FIFO queue of exactly `size` requests whose
/// producers wait (asynchronously) for room (`create_table(bounded_queue{64})`).
/// A size of 0 is rejected by `create_table` with `std::invalid_argument`.
struct bounded_queue {
  using tag = queue<bounded>;
  std::size_t size = 0;
};

namespace detail {
template <class Kind>
inline constexpr bool is_queue = false;
template <class Bound>
inline constexpr bool is_queue<queue<Bound>> = true;

// The capacity a buffer kind value gives its queues (0: unbounded).
inline std::size_t capacity_of(const infinite_queue&) noexcept { return 0; }
inline std::size_t capacity_of(const bounded_queue& k) noexcept { return k.size; }

template <class Tag>
struct kind_value;
template <>
struct kind_value<queue<infinite>> {
  using type = infinite_queue;
};
template <>
struct kind_value<queue<bounded>> {
  using type = bounded_queue;
};
}  // namespace detail

}  // namespace workers
