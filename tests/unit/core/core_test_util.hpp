#pragma once
// Helpers shared by the core's unit tests: an app that does nothing, the last storage write
// id among effects, and opening a replica as a new member of a new cluster.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "vsr/core/replica.hpp"

namespace vsr::core::testing {

class NullApp final : public app::StateMachine {
 public:
  std::string_view name() const override { return "null"; }
  void execute(const app::Context&, std::string_view, std::string&) override {}
  void snapshot(std::string&) const override {}
  Result<void, std::string> restore(std::string_view) override { return {}; }
};

/// The highest storage write id among `effects` (0 when none).
inline std::uint64_t last_write(const std::vector<Effect>& effects) {
  std::uint64_t id = 0;
  for (const Effect& e : effects) {
    if (auto w = write_id_of(e)) id = std::max(id, *w);
  }
  return id;
}

/// Opens `r` empty and answers its Recovery as the other (new, not asking) replicas of a new
/// cluster would, so that it becomes a new replica (docs/vsr/protocol.md, "Replicas without
/// metadata"). Leaves the effects of becoming new (its first metadata write) to the caller.
inline void open_new(Replica& r, const Options& options) {
  r.open({});
  std::uint64_t nonce = 0;
  for (const Effect& e : r.take_effects()) {
    const auto* send = std::get_if<SendToReplica>(&e);
    if (send == nullptr) continue;
    auto m = decode(*send->message, decode_limits(options));
    if (!m.ok()) continue;
    if (const auto* q = std::get_if<Recovery>(&*m)) nonce = q->nonce;
  }
  for (std::uint32_t i = 0; i < options.replica_count; ++i) {
    if (i == r.self().value) continue;
    r.on_message(Message{
        RecoveryResponse{View{0}, ReplicaIndex{i}, View{0}, Op{0}, Op{0}, true, false, nonce}});
  }
  EXPECT_EQ(r.status(), Status::normal);
}

/// A message the replica sent to another replica, decoded.
struct Sent {
  ReplicaIndex to;
  Message message;
};

/// Takes the replica's effects and decodes the messages it sent to other replicas.
inline std::vector<Sent> sent(Replica& r, const DecodeLimits& limits) {
  std::vector<Sent> out;
  for (const Effect& e : r.take_effects()) {
    if (const auto* s = std::get_if<SendToReplica>(&e)) {
      auto m = decode(*s->message, limits);
      EXPECT_TRUE(m.ok());
      if (m.ok()) out.push_back(Sent{s->to, *m});
    }
  }
  return out;
}

/// The messages of type T among `sent`.
template <class T>
std::vector<T> of(const std::vector<Sent>& sent) {
  std::vector<T> out;
  for (const Sent& s : sent) {
    if (const T* t = std::get_if<T>(&s.message)) out.push_back(*t);
  }
  return out;
}

}  // namespace vsr::core::testing
