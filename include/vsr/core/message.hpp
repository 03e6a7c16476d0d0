#pragma once
// The protocol's messages (VR Revisited §4 plus TigerBeetle-style repair), each a typed
// struct with one tnetstring encoding. Every message carries the cluster id, the protocol
// version and, between replicas, the view and the sender. decode() validates everything
// (types, ranges, limits, checksums) and returns a reason for rejection; a rejected message
// changes nothing. The wire grammar is in docs/vsr/protocol.md.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "vsr/base/result.hpp"
#include "vsr/core/options.hpp"
#include "vsr/core/types.hpp"

namespace vsr::core {

/// 2: requests and batch entries name their client session.
constexpr std::int64_t protocol_version = 3;

/// The header of a prepare: everything but the batch. `checksum` covers every other field
/// (and, through body_checksum, the batch); `parent` is the checksum of the prepare at
/// op - 1, which chains the log.
struct PrepareHeader {
  View view;                       ///< the view in which the primary created this prepare
  Op op;                           ///< position in the log
  Op commit;                       ///< the primary's commit number when it created this prepare
  std::uint64_t timestamp_ms = 0;  ///< primary-stamped, never goes backwards
  Checksum parent;                 ///< checksum of the prepare at op - 1
  Checksum body_checksum;          ///< XXH3-128 of the encoded batch
  Checksum checksum;               ///< XXH3-128 of all the fields above and the cluster id

  /// The checksum these fields should have in cluster `cluster_id`.
  Checksum compute_checksum(std::uint64_t cluster_id) const;
  friend bool operator==(const PrepareHeader&, const PrepareHeader&) = default;
};

/// One client request inside a prepare's batch.
struct BatchRequest {
  std::string client_id;
  RequestNo request_no;
  std::string operation;
  Op session;  ///< the client session it belongs to (0: a registration)
  friend bool operator==(const BatchRequest&, const BatchRequest&) = default;
};

/// Client → primary. request_no 0 registers a session (operation must be empty, session
/// 0); the registration's reply names the session, and every later request carries it.
struct Request {
  View view;  ///< the view the client believes current (a hint)
  std::string client_id;
  RequestNo request_no;
  std::string operation;
  Op session;  ///< the registration reply's op (0 in a registration)
};

enum class ReplyStatus : std::uint8_t {
  ok,                 ///< executed; `result` is the app's reply
  stale_request,      ///< request_no is older than the client's latest: its outcome is lost
  evicted,            ///< the client id has no session, or another one (evicted, never registered)
  request_no_reused,  ///< the client's latest request number, with another operation
  /// The request never reached the core: its operation is over max_operation_bytes (the
  /// node's runtime answers it, so that the client learns a definite "no"). `result` says
  /// why.
  invalid_request,
};
const char* to_string(ReplyStatus status);

/// Primary → client.
struct Reply {
  View view;
  ReplicaIndex replica;
  std::string client_id;
  RequestNo request_no;
  /// ok: the op that executed the request; for a registration, the session's number (the
  /// op that registered it). evicted: the op at (or before) which the session was found
  /// missing; a client ignores an evicted reply with op <= the op of its own registration
  /// (a duplicate about an older session).
  Op op;
  ReplyStatus status = ReplyStatus::ok;
  std::string result;
};

/// Primary → backups (and repair answers): a batch of requests at one op.
struct Prepare {
  ReplicaIndex replica;  ///< the primary that created it (primary of header.view)
  PrepareHeader header;
  std::vector<BatchRequest> batch;
};

/// Backup → primary: the prepare at `op` with `checksum` is durable in my WAL.
struct PrepareOk {
  View view;
  ReplicaIndex replica;
  Op op;
  Checksum checksum;
};

/// Primary → backups: heartbeat and commit number (with the checksum of that op).
struct Commit {
  View view;
  ReplicaIndex replica;
  Op commit;
  Checksum checksum;
};

struct StartViewChange {
  View view;
  ReplicaIndex replica;
  /// The sender's durable voted_view: it sent a DoViewChange for this view, so a quorum once
  /// wanted to leave every view below it.
  View voted_view;
};

/// What a replica knows about one op of its log suffix, for the view change.
enum class SlotState : std::uint8_t {
  intact,   ///< the prepare is durable and readable
  missing,  ///< never durably written here (a "nack": it cannot have been acknowledged)
  corrupt,  ///< a slot exists but cannot be read: maybe acknowledged, so never a nack
};
const char* to_string(SlotState state);

struct DvcEntry {
  Op op;
  SlotState state = SlotState::missing;
  std::optional<PrepareHeader> header;  ///< when known
  std::optional<Checksum> checksum;     ///< when known (equals header->checksum if both)
};

/// Replica → new primary: my log suffix (the last max_pipeline_depth + 1 ops) and log_view.
struct DoViewChange {
  View view;
  ReplicaIndex replica;
  View log_view;
  Op op;
  Op commit;
  std::vector<DvcEntry> entries;  ///< ascending op
};

/// New primary → backups: the canonical log suffix of the new view.
struct StartView {
  View view;
  ReplicaIndex replica;
  Op op;
  Op commit;
  std::vector<PrepareHeader> headers;  ///< ascending op, ends at `op`
  /// The nonce of the RequestStartView this answers (0: sent unasked, at the start of the
  /// view or to a replica changing views). A recovering replica takes a StartView of its
  /// floor view only with its own nonce: then the StartView was made after it restarted, and
  /// carries every op its previous life could have acknowledged in that view.
  std::uint64_t nonce = 0;
};

/// A replica that fell behind a view, or is recovering, asks the primary for StartView.
struct RequestStartView {
  View view;
  ReplicaIndex replica;
  std::uint64_t nonce = 0;  ///< echoed by the StartView; fresh per incarnation (below 2^63)
};

/// Asks a peer for the headers of ops [op_min, op_max] it has.
struct RequestHeaders {
  View view;
  ReplicaIndex replica;
  Op op_min;
  Op op_max;
};

struct Headers {
  View view;
  ReplicaIndex replica;
  std::vector<PrepareHeader> headers;  ///< descending op
};

/// Asks a peer for the prepare at `op` with exactly `checksum`.
struct RequestPrepare {
  View view;
  ReplicaIndex replica;
  Op op;
  Checksum checksum;
};

/// State transfer (§5): a replica that cannot repair the op after its commit point because
/// its peers released it asks for a checkpoint newer than `op`.
struct RequestCheckpoint {
  View view;
  ReplicaIndex replica;
  Op op;  ///< the asker's commit point
};

/// A durable checkpoint (encode_checkpoint bytes). The receiver installs it only if its
/// checksum is the parent named by the canonical header at op + 1 in its verified chain.
struct SyncCheckpoint {
  View view;
  ReplicaIndex replica;
  Op op;
  Checksum checksum;
  std::string checkpoint;
};

/// A replica that opened without metadata does not know what it acknowledged or voted for:
/// it asks every other replica for its state (docs/vsr/protocol.md, "Replicas without
/// metadata"). `nonce` pairs the answers with this round of asking.
struct Recovery {
  View view;  ///< the asker's view (0: it knows none)
  ReplicaIndex replica;
  std::uint64_t nonce = 0;  ///< below 2^63 (a wire integer)
};

/// The answer to Recovery, from any replica in any status.
struct RecoveryResponse {
  View view;  ///< the sender's current view
  ReplicaIndex replica;
  /// The highest view the sender durably voted for (voted_view) or was normal in (log_view);
  /// a recovering sender's view floor. At most `view`. Every view that ever started has
  /// a quorum of replicas that durably say at least that view here.
  View voted_view;
  Op op;
  Op commit;
  /// Op 0, commit 0, log_view and voted_view 0 (its view may have moved on its own
  /// timeout), and never anything else: the sender never prepared, acknowledged or voted for
  /// anything.
  bool pristine = false;
  /// The sender has no metadata either and is still asking (so it is pristine, and says
  /// nothing about what it may have forgotten).
  bool asking = false;
  std::uint64_t nonce = 0;  ///< the asker's nonce
};

using Message =
    std::variant<Request, Reply, Prepare, PrepareOk, Commit, StartViewChange, DoViewChange,
                 StartView, RequestStartView, RequestHeaders, Headers, RequestPrepare,
                 RequestCheckpoint, SyncCheckpoint, Recovery, RecoveryResponse>;

/// The message kind's wire name, e.g. "prepare_ok".
const char* message_name(const Message& message);

/// Appends the encoding of `message` to `out`. For a Prepare, header.checksum and
/// header.body_checksum must already be set (see seal_prepare).
void encode(std::uint64_t cluster_id, const Message& message, std::string& out);
std::string encode(std::uint64_t cluster_id, const Message& message);

/// A reply's fields as views, for encoding one without copying its strings into a Reply.
struct ReplyFields {
  View view;
  ReplicaIndex replica;
  std::string_view client_id;
  RequestNo request_no;
  Op op;
  ReplyStatus status = ReplyStatus::ok;
  std::string_view result;
};

/// The encoding of the Reply with these fields (what encode() makes of it).
std::string encode_reply(std::uint64_t cluster_id, const ReplyFields& reply);

/// Fills body_checksum and checksum of a prepare from its fields and batch.
void seal_prepare(std::uint64_t cluster_id, Prepare& prepare);

/// Upper bounds on a Prepare's encoding beyond its requests' client ids and operations: the
/// fixed fields, and each batch entry's framing and request number. The primary sizes
/// batches with them so that a prepare never exceeds max_message_bytes
/// (`CoreBatching.PrepareStaysWithinTheMessageLimit` checks the bounds).
inline constexpr std::size_t prepare_overhead_bytes = 1024;
inline constexpr std::size_t batch_entry_overhead_bytes = 64;

/// What decode() checks against.
struct DecodeLimits {
  std::uint64_t cluster_id = 0;
  std::uint32_t replica_count = 1;
  std::uint32_t max_headers = 64;
  std::uint32_t max_batch = 1024;
  std::uint32_t max_operation_bytes = 64 * 1024;
  std::uint32_t max_message_bytes = 16 * 1024 * 1024;
};

DecodeLimits decode_limits(const Options& options);

/// Decodes and validates one message. On error: a reason, e.g. "prepare: checksum mismatch".
Result<Message, std::string> decode(std::string_view bytes, const DecodeLimits& limits);

/// A request that decode() refused only because its operation is over
/// limits.max_operation_bytes: its client and request number, to answer it with
/// ReplyStatus::invalid_request. Nothing for any other message or fault.
std::optional<std::pair<std::string, RequestNo>> oversized_request(std::string_view bytes,
                                                                   const DecodeLimits& limits);

/// Decodes only a prepare (e.g. a WAL record) and verifies both checksums.
Result<Prepare, std::string> decode_prepare(std::string_view bytes, const DecodeLimits& limits);

/// The prepare at op 0: identical on every replica of a cluster, never written.
Prepare root_prepare(std::uint64_t cluster_id);

}  // namespace vsr::core
