#pragma once
// The client table (VR Revisited §4, with TigerBeetle's session fixes): one session per
// client id holding its latest executed request number and that request's reply, so that
// a retry gets the cached reply and a request is executed at most once. The table is part
// of the replicated state: every replica updates it identically while executing committed
// ops, and it is saved in every checkpoint. Sessions are created by an explicit
// registration (request_no 0); when the table is full the session committed least recently
// is evicted and its client told (ReplyStatus::evicted), so that a client never silently
// loses at-most-once.
//
// Misuse is answered, never executed (docs/vsr/protocol.md, "Client sessions"):
//  - a session's number is the op of the registration that created it, and every request
//    names it: a request of an earlier session of the same client id (a retry from before
//    an eviction, or a replayed frame) finds another number and is refused as evicted;
//  - the session keeps a checksum of its latest request's operation: the same request
//    number with another operation is refused as request_no_reused, never answered with
//    the other operation's reply.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "vsr/base/result.hpp"
#include "vsr/core/message.hpp"
#include "vsr/core/types.hpp"

namespace vsr::core {

struct ClientSession {
  Op session;                 ///< the op of the registration that created it (never 0)
  RequestNo request_no;       ///< latest executed request (0: only registered)
  Op op;                      ///< op that executed it; orders sessions for eviction (LRU)
  Checksum request_checksum;  ///< of request_no's operation (checksum_of(""): registered)
  std::string result;         ///< the reply to request_no, returned on a retry
  friend bool operator==(const ClientSession&, const ClientSession&) = default;
};

/// How an arriving request relates to the committed client table.
enum class RequestClass : std::uint8_t {
  fresh,         ///< newer than the session's latest (or a registration of a new client)
  registered,    ///< a registration of a client id that has a session: answer its number
  retry_latest,  ///< equal to the latest, same operation: answer with the cached reply
  reused,        ///< equal to the latest, another operation: answer request_no_reused
  stale,         ///< older than the latest: answer stale_request
  no_session,    ///< no session, or another session's number: answer evicted
};

/// What executing one request did to the table.
struct ExecuteOutcome {
  enum class Kind : std::uint8_t {
    execute,
    registered,  ///< a new session, numbered by this op
    duplicate,   ///< executed before (or an older number, or a registration that exists)
    reused,      ///< the latest request number with another operation
    no_session   ///< no session, or another session's number
  } kind = Kind::execute;
  std::optional<std::string> evicted_client;  ///< a registration evicted this session
};

class ClientTable {
 public:
  /// REQUIRES: capacity >= 1.
  explicit ClientTable(std::uint32_t capacity);

  /// Classifies a request of `session` (0 for a registration) against the committed table
  /// (no change).
  RequestClass classify(std::string_view client_id, Op session, RequestNo request_no,
                        std::string_view operation) const;

  /// Decides, while executing a committed request at `op`, whether the app runs it.
  /// Registrations create the session here (evicting the least recently committed one when
  /// full). Deterministic: every replica gets the same outcome.
  ExecuteOutcome begin_execute(std::string_view client_id, Op session, RequestNo request_no,
                               std::string_view operation, Op op);

  /// Records the reply of a request that begin_execute() said to execute.
  /// REQUIRES: the session exists and request_no is newer than its latest.
  void finish_execute(std::string_view client_id, RequestNo request_no, std::string_view operation,
                      Op op, std::string result);

  const ClientSession* find(std::string_view client_id) const;
  std::size_t size() const { return sessions_.size(); }
  std::uint32_t capacity() const { return capacity_; }

  /// Appends a deterministic encoding (sorted by client id) for checkpoints.
  void encode(std::string& out) const;
  /// Replaces the table with a decoded one. On error the table is unchanged.
  Result<void, std::string> decode(std::string_view bytes);
  void clear() { sessions_.clear(); }

  friend bool operator==(const ClientTable&, const ClientTable&) = default;

 private:
  std::uint32_t capacity_;
  std::map<std::string, ClientSession, std::less<>> sessions_;
};

}  // namespace vsr::core
