#pragma once

// The lock-free intake of a queue worker: a multi-producer, single-consumer
// stack of intrusive nodes in one atomic word. Producers push with a CAS on
// the word; the worker takes the whole stack at once with an exchange and
// reverses it into FIFO order (newest first on the stack, oldest first once
// taken). The word also says what the loop is doing when the stack is empty,
// so that a push learns in the same CAS whether it must wake the loop:
//
//   parked   empty, and the loop waits for a wake-up: the push that ends
//            this state posts the one wake-up (empty -> non-empty)
//   awake    empty, and the loop runs, or a wake-up is on its way
//   sealed   closed for good: pushes fail
//   a node   the newest pushed node; the loop is awake or being woken
//
// No ABA: a push depends only on the word's value (a node reused at the same
// address is still the top it links to), and the consumer never pops a
// single node with a CAS, it exchanges the whole stack.
//
// Lineage: libunifex's `atomic_intrusive_queue` (by way of asio-grpc's), whose
// one word holds either the stack or the consumer's "inactive" mark, so that
// the push that makes the queue non-empty learns it must wake the consumer;
// the `sealed` state is this library's, for the close.

#include <workers/detail/config.hpp>

#include <atomic>
#include <cstdint>

WORKERS_BEGIN_NAMESPACE
namespace detail {

template <class Node>  // Node::link(n, to) sets its raw link
class intake {
 public:
  enum class pushed : std::uint8_t { queued, first, woke, sealed };

  // Any thread. `woke`: the loop was parked, the caller must wake it.
  // `first` (only if `ReportFirst`): the intake was empty and the loop awake.
  // `sealed`: `n` is not linked; it still belongs to the caller. Once `n` is
  // linked the loop may handle it, and its worker may end, at once: a caller
  // that may act on the outcome gets ready first, with `before_waking()`
  // (called before a CAS that may end a park, or fill an empty intake if
  // `ReportFirst`; it may run more than once).
  template <bool ReportFirst = false, class BeforeWaking>
  pushed push(Node* n, BeforeWaking&& before_waking) noexcept(noexcept(before_waking())) {
    std::uintptr_t top = word_.load(std::memory_order_relaxed);
    for (;;) {
      if (top == sealed) return pushed::sealed;
      if (top == parked || (ReportFirst && top == awake)) before_waking();
      Node::link(n, is_node(top) ? reinterpret_cast<Node*>(top) : nullptr);
      if (word_.compare_exchange_weak(top, reinterpret_cast<std::uintptr_t>(n),
                                      std::memory_order_seq_cst, std::memory_order_relaxed)) {
        if (top == parked) return pushed::woke;
        return ReportFirst && top == awake ? pushed::first : pushed::queued;
      }
    }
  }
  pushed push(Node* n) noexcept {
    return push(n, [] {});
  }

  // The consumer: every pushed node, newest first, leaving the loop awake;
  // null if there is none.
  Node* take() noexcept {
    if (!is_node(word_.load(std::memory_order_relaxed))) return nullptr;
    // Only the consumer replaces a node with something else than a node.
    return reinterpret_cast<Node*>(word_.exchange(awake, std::memory_order_acquire));
  }
  // The consumer, with the stack empty: parks the loop (a loop parked
  // already stays so); false if a node arrived meanwhile or the intake is sealed.
  bool park() noexcept {
    std::uintptr_t expected = awake;
    return word_.compare_exchange_strong(expected, parked, std::memory_order_seq_cst) ||
           expected == parked;
  }
  // Any thread: ends a park; true for the one caller that must wake the loop.
  bool unpark() noexcept {
    std::uintptr_t expected = parked;
    return word_.compare_exchange_strong(expected, awake, std::memory_order_seq_cst);
  }
  // The consumer (or whoever stands for it once its execution context is
  // gone): closes the intake; what it held, newest first.
  Node* seal() noexcept {
    const std::uintptr_t top = word_.exchange(sealed, std::memory_order_acquire);
    return is_node(top) ? reinterpret_cast<Node*>(top) : nullptr;
  }

  // Any thread: the newest node, or null. The nodes below it are linked for
  // good until the consumer takes them: a reader that keeps the consumer from
  // taking (see queue_mailbox) may walk them.
  const Node* peek() const noexcept {
    const std::uintptr_t top = word_.load(std::memory_order_acquire);
    return is_node(top) ? reinterpret_cast<const Node*>(top) : nullptr;
  }

 private:
  static constexpr std::uintptr_t parked = 0, awake = 1, sealed = 2;
  static bool is_node(std::uintptr_t w) noexcept { return w > sealed; }

  std::atomic<std::uintptr_t> word_{awake};
};

}  // namespace detail
WORKERS_END_NAMESPACE
