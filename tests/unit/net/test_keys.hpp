#pragma once
// A fixed keyring for the net layer's tests: both keys present and different.

#include "vsr/net/frame.hpp"

namespace vsr::net {

inline Keyring test_keys() {
  Keyring keys;
  for (std::size_t i = 0; i < key_size; ++i) {
    keys.replica.bytes[i] = static_cast<unsigned char>(i);
    keys.client.bytes[i] = static_cast<unsigned char>(100 + i);
  }
  keys.has_replica = true;
  return keys;
}

}  // namespace vsr::net
