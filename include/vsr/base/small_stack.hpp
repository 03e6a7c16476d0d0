#pragma once
// A stack that holds its first N elements inline and spills into the heap beyond them:
// for the container stacks of the tnetstring encoder and validator, which are shallow for
// every message vsr sends, so that encoding or checking one allocates nothing.

#include <array>
#include <cstddef>
#include <vector>

#include "vsr/base/assert.hpp"

namespace vsr {

template <class T, std::size_t N>
class SmallStack {
 public:
  bool empty() const { return size_ == 0; }
  std::size_t size() const { return size_; }
  /// REQUIRES: !empty().
  T& back() {
    VSR_ASSERT(size_ > 0);
    return size_ <= N ? inline_[size_ - 1] : spill_.back();
  }
  void push_back(const T& value) {
    if (size_ < N) {
      inline_[size_] = value;
    } else {
      spill_.push_back(value);
    }
    ++size_;
  }
  /// REQUIRES: !empty().
  void pop_back() {
    VSR_ASSERT(size_ > 0);
    if (size_ > N) spill_.pop_back();
    --size_;
  }

 private:
  std::array<T, N> inline_{};
  std::vector<T> spill_;  // elements N, N+1, ...
  std::size_t size_ = 0;
};

}  // namespace vsr
