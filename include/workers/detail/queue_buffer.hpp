#pragma once

// The FIFO behind queue workers. Producers append to `incoming_`; the worker
// swaps the whole of it into `batch_` and drains that without touching the
// producers' lock again, so a busy worker takes the producers' lock once per
// batch, not once per request. Both vectors keep their capacity, so steady
// state pushes do not allocate.

#include <cstddef>
#include <mutex>
#include <utility>
#include <vector>

namespace workers::detail {

template <class Entry>
class queue_buffer {
 public:
  // Under the producers' lock.
  void push(Entry&& e) { incoming_.push_back(std::move(e)); }
  bool incoming_empty() const noexcept { return incoming_.empty(); }

  // Worker side, under the batch lock; takes `producers` to refill. The entry
  // returned stays valid until the next call.
  Entry* next(std::mutex& producers) {
    if (pos_ == batch_.size()) {
      batch_.clear();
      pos_ = 0;
      std::lock_guard lock(producers);
      batch_.swap(incoming_);
      if (batch_.empty()) return nullptr;
    }
    return &batch_[pos_++];
  }

  // Under both locks.
  std::size_t size() const noexcept { return batch_.size() - pos_ + incoming_.size(); }
  template <class F>
  void for_each_pending(F&& f) const {
    for (std::size_t i = pos_; i < batch_.size(); ++i) f(batch_[i]);
    for (const auto& e : incoming_) f(e);
  }
  std::vector<Entry> take_all() {
    std::vector<Entry> out;
    out.reserve(size());
    for (std::size_t i = pos_; i < batch_.size(); ++i) out.push_back(std::move(batch_[i]));
    for (auto& e : incoming_) out.push_back(std::move(e));
    batch_.clear();
    incoming_.clear();
    pos_ = 0;
    return out;
  }

 private:
  std::vector<Entry> incoming_;
  std::vector<Entry> batch_;
  std::size_t pos_ = 0;
};

}  // namespace workers::detail
