#pragma once
// A blocking loopback connection that speaks vsr's handshake (docs/vsr/wire.md), for tests
// that hand-craft what follows it: frames a well-behaved client would never send.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "vsr/net/handshake.hpp"

namespace vsr::test {

class WireSession {
 public:
  /// Connects to 127.0.0.1:port and completes a handshake under `key` (of kind `kind`);
  /// nullopt if either fails within 3 s.
  static std::unique_ptr<WireSession> open(std::uint16_t port, net::HandshakeParams params,
                                           net::KeyKind kind, const net::Key& key) {
    auto session = std::unique_ptr<WireSession>(new WireSession());
    session->fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    if (::connect(session->fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      return nullptr;
    }
    net::Initiator initiator(params, kind, key);
    if (!session->send_raw(initiator.offer())) return nullptr;
    std::string answer;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
    while (std::chrono::steady_clock::now() < deadline) {
      auto established = initiator.finish(answer);
      if (established) {
        session->keys_ = established->keys;
        return session;
      }
      if (established.error().code != net::HandshakeErrc::incomplete) return nullptr;
      pollfd p{session->fd_, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      char buf[4096];
      const ssize_t n = ::recv(session->fd_, buf, sizeof buf, 0);
      if (n <= 0) return nullptr;
      answer.append(buf, static_cast<std::size_t>(n));
    }
    return nullptr;
  }

  WireSession(const WireSession&) = delete;
  WireSession& operator=(const WireSession&) = delete;
  ~WireSession() { ::close(fd_); }

  /// Seals `message` as the next frame and sends it.
  bool send_sealed(std::string_view message) {
    std::string frame;
    net::seal_frame(frame, message, keys_.send);
    return send_raw(frame);
  }
  /// Sends bytes as they are.
  bool send_raw(std::string_view bytes) {
    return ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
           static_cast<ssize_t>(bytes.size());
  }
  /// The sending half, to seal frames by hand (out of order, say).
  net::CipherState& send_state() { return keys_.send; }
  /// True iff the node closes the connection within `timeout` (replies are dropped).
  bool closed_within(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 100) > 0) {
        char buf[4096];
        if (::recv(fd_, buf, sizeof buf, 0) <= 0) return true;
      }
    }
    return false;
  }

 private:
  WireSession() = default;
  int fd_ = -1;
  net::SessionKeys keys_;
};

}  // namespace vsr::test
