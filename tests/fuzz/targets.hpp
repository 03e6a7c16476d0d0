#pragma once
// Every fuzz target, one per decoder that reads bytes it did not write; each file's header
// says what its targets prove.

#include <string>
#include <string_view>
#include <vector>

#include "fuzz_target.hpp"
#include "vsr/net/frame.hpp"
#include "vsr/net/handshake.hpp"

namespace vsr::fuzz {

/// The cluster id every target and seed uses.
inline constexpr std::uint64_t kCluster = 5;

/// Fixed keys of both kinds, so that seeds carry frames the `frame` target accepts.
net::Keyring fuzz_keyring();
/// A fixed session key at counter 0, so that seeds carry frames `sealed_frame` opens.
net::CipherState fuzz_session_key();

int tnetstring(const std::uint8_t* data, std::size_t size);
int frame(const std::uint8_t* data, std::size_t size);
int handshake(const std::uint8_t* data, std::size_t size);
int sealed_frame(const std::uint8_t* data, std::size_t size);
int message(const std::uint8_t* data, std::size_t size);
int runtime_message(const std::uint8_t* data, std::size_t size);
int client_table(const std::uint8_t* data, std::size_t size);
int metadata(const std::uint8_t* data, std::size_t size);
int checkpoint(const std::uint8_t* data, std::size_t size);
int wal_segment(const std::uint8_t* data, std::size_t size);
int config_file(const std::uint8_t* data, std::size_t size);
int app_operation(const std::uint8_t* data, std::size_t size);

struct NamedTarget {
  const char* name;  ///< also its corpus folder, tests/fuzz/corpus/<name>/
  Target run;
};

/// Every target, in a fixed order.
const std::vector<NamedTarget>& all_targets();

/// Valid inputs for the target `name`, made by the encoders the decoders mirror.
std::vector<std::string> seeds(std::string_view name);

}  // namespace vsr::fuzz
