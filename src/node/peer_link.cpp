// The outbound peer link (peer_link.hpp): a net::Link with a hello, pings and pongs, and
// the log lines an operator reads when a peer goes up or down.

#include "vsr/node/peer_link.hpp"

#include <utility>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "vsr/base/assert.hpp"
#include "vsr/node/status.hpp"

namespace vsr::node {

PeerLink::PeerLink(asio::io_context& io, std::string name, config::NodeAddress address,
                   const net::Keyring& keys, net::OutFrame hello, PeerLinkOptions options,
                   std::uint64_t seed)
    : name_(std::move(name)),
      address_(std::move(address)),
      hello_(std::move(hello)),
      options_(options) {
  VSR_ASSERT(keys.has_replica);
  VSR_ASSERT(options_.ping_interval.count() > 0);
  VSR_ASSERT(options_.silence_limit > options_.ping_interval);
  net::LinkOptions o;
  o.handshake = net::HandshakeParams{options_.cluster_id, options_.protocol_version};
  o.kind = net::KeyKind::replica;
  o.backoff_min = options_.backoff_min;
  o.backoff_max = options_.backoff_max;
  o.queue_capacity = options_.queue_capacity;
  o.frames_per_write = options_.frames_per_write;
  o.max_frame_bytes = options_.max_frame_bytes;
  o.ping_interval = options_.ping_interval;
  o.silence_limit = options_.silence_limit;
  link_ = std::make_unique<net::Link>(io.get_executor(), address_.host, address_.port, keys.replica,
                                      o, events(), seed);
}

void PeerLink::send(net::OutFrame frame) {
  if (link_->send(std::move(frame))) return;
  const std::uint64_t dropped = link_->counters().dropped;
  if (dropped >= dropped_logged_ * 2 + 1) {  // log at 1, 3, 7, 15, ... drops
    dropped_logged_ = dropped;
    spdlog::debug("peer {}: send queue full, {} messages dropped so far", name_, dropped);
  }
}

PeerLinkCounters PeerLink::counters() const {
  const net::LinkCounters& c = link_->counters();
  return PeerLinkCounters{c.connects, c.silent_closes, c.connect_timeouts, c.frames_read,
                          c.dropped};
}

net::LinkEvents PeerLink::events() {
  net::LinkEvents e;
  // The link opens with a hello, so the peer can refuse a different app set.
  e.greeting = [this] { return std::vector<net::OutFrame>{hello_}; };
  e.ping = [this] {
    return net::OutFrame{
        std::make_shared<const std::string>(encode_ping(options_.cluster_id, next_ping_++))};
  };
  // The peer writes nothing on our link but pongs.
  e.on_frame = [this](std::string_view message) {
    if (decode_pong(message, options_.cluster_id)) return true;
    spdlog::warn("peer {}: sent something other than a pong on our link; closing it", name_);
    return false;
  };
  e.on_up = [this] {
    warned_ = false;
    spdlog::info("peer {} up ({})", name_, address_.to_string());
  };
  e.on_down = [this](const net::LinkDown& down) {
    if (down.refused && !warned_) {
      // A peer that refuses this node's key, cluster or version stays down until an
      // operator acts: say so loudly, once per outage.
      spdlog::error("peer {} ({}): handshake failed: {}", name_, address_.to_string(),
                    down.refused->detail);
    }
    if (down.silent && down.was_up) {
      spdlog::warn("peer {}: {}; closing the connection and dialling again", name_, down.why);
    }
    if (down.was_up || !warned_) {
      spdlog::info("peer {} down ({}): {}", name_, address_.to_string(), down.why);
      warned_ = true;
    }
  };
  return e;
}

}  // namespace vsr::node
