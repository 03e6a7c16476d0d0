#pragma once
// `vsr sync-node`'s transfer: a checkpoint and the committed log suffix fetched from the
// running cluster, accepted only when a quorum of replicas vouches for them by checksum.
//
// sync-node runs on NAME's machine while NAME is stopped, and speaks to the other replicas
// *as replica NAME*: it listens on NAME's address (where the peers' outbound links deliver
// what they send to NAME), dials each peer with the usual hello under the replica key, and
// sends only requests the core answers without changing its state (RequestHeaders,
// RequestCheckpoint, RequestPrepare). It never sends a PrepareOk, a view-change message or
// a StartView, and it ignores what the peers push to NAME (prepares, commits, view-change
// messages). Each replica's view and commit come from a `vsr status` query (client key).
//
// The quorum rule (product.md): let q = ⌈(n+1)/2⌉. The commit Y is the q-th highest commit
// among the replicas that answer (so a quorum has executed it), and the checksum at Y must
// be reported by q replicas, each counted once; every header is asked only of replicas
// that had executed its op, so each answer is the replica's committed prepare. The chain
// of parent checksums then fixes every op from Y down to the checkpoint X: each fetched
// header and prepare is checked against the checksum the chain expects, and the
// checkpoint's checksum must be the parent named by the prepare at X + 1 (or be the
// checksum at Y when X = Y). The committed prepares X+1..Y are the log installed.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "vsr/base/result.hpp"
#include "vsr/config/cluster_config.hpp"
#include "vsr/core/message.hpp"

namespace vsr::cli::sync {

/// What to fetch, and for whom.
struct FetchRequest {
  config::ClusterConfig cluster;
  std::size_t replica = 0;  ///< NAME's index in cluster.nodes
  std::string apps;         ///< served app names, sorted, comma-separated (the hello)
  /// How long to wait for a quorum, and for any progress once the transfer runs.
  std::chrono::milliseconds timeout{10000};
  bool progress = true;  ///< draw a progress bar on stderr
};

/// One committed prepare: its verified header and the encoded message, as a replica stores it.
struct FetchedPrepare {
  core::PrepareHeader header;
  core::Bytes bytes;
};

/// What a quorum vouched for.
struct Fetched {
  std::vector<std::size_t> answered;  ///< replicas that answered (status and log)
  std::vector<std::size_t> vouched;   ///< the replicas that reported the checksum at commit
  std::uint64_t view = 0;             ///< the highest view any answering replica reported
  core::Op commit;                    ///< Y: the last op installed
  core::Checksum commit_checksum;
  std::optional<std::size_t> checkpoint_source;  ///< the replica that sent the checkpoint
  core::Op checkpoint_op;                        ///< X; 0: no checkpoint, the log from op 1
  core::Checksum checkpoint_checksum;            ///< of the prepare at X (the root at 0)
  std::string checkpoint;                        ///< encode_checkpoint() bytes; empty at X = 0
  std::vector<FetchedPrepare> prepares;          ///< X+1..Y, ascending
};

/// Why nothing was fetched.
struct FetchError {
  enum class Kind : std::uint8_t {
    no_quorum,    ///< too few replicas answered, or their answers did not agree, in time
    environment,  ///< this machine failed (cannot listen on NAME's address)
  };
  Kind kind = Kind::no_quorum;
  std::string message;
};

/// Runs the transfer (blocking). Changes nothing on disk.
Result<Fetched, FetchError> fetch_from_cluster(const FetchRequest& request);

}  // namespace vsr::cli::sync
