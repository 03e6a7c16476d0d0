// `vsr sync-node NAME [--force] [--timeout SECONDS]`: the quorum-checked restore
// (product.md §1). With NAME stopped (its directory lock is taken and held throughout), it
// fetches a checkpoint and the committed log suffix from the running cluster
// (sync_fetch.hpp: accepted only when a quorum vouches for them by checksum), writes them
// into a new directory beside NAME's with the replica's own storage adapter
// (storage::ReplicaDisk executing the core's effects, so the files are what a replica
// writes), adds a RESTORED marker whose view floor is the highest view any replica
// reported, and swaps the directory in atomically (storage::NodeDirReplacement, the same
// procedure as recover-node). Nothing is changed unless all of that succeeded.

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "cli.hpp"
#include "restore_exit.hpp"
#include "sync_fetch.hpp"
#include "vsr/app/composite.hpp"
#include "vsr/node/settings.hpp"
#include "vsr/storage/replica_disk.hpp"
#include "vsr/storage/restore.hpp"

namespace vsr::cli {
namespace {

struct SyncNodeOptions {
  std::string name;
  bool force = false;
  double timeout_s = 10.0;
};

/// Prepares per ReplicaDisk::execute() call: one group commit each.
constexpr std::size_t install_batch = 256;

std::string names_of(const config::ClusterConfig& cluster, const std::vector<std::size_t>& which) {
  std::string names;
  for (std::size_t i : which) names += (names.empty() ? "" : ", ") + cluster.nodes[i].name;
  return names;
}

/// Writes the fetched state into the empty directory `dir` as replica `replica` would: the
/// checkpoint, the WAL continuing after it, the prepares, then the metadata naming them.
Result<void, std::string> install(const config::ClusterConfig& cluster, std::uint32_t replica,
                                  const std::string& dir, const sync::Fetched& fetched) {
  storage::DiskIdentity identity;
  identity.cluster_id = node::core_cluster_id(cluster.cluster_id);
  identity.cluster_id_text = cluster.cluster_id.hex();
  identity.replica = replica;
  auto disk = storage::ReplicaDisk::open(storage::posix_env(), dir, identity);
  if (!disk) return fail(disk.error().message);

  std::uint64_t write_id = 0;
  std::vector<core::Effect> batch;
  auto flush = [&]() -> Result<void, std::string> {
    if (batch.empty()) return {};
    auto durable = (*disk)->execute(batch);
    batch.clear();
    if (!durable) return fail(durable.error());
    if (*durable != write_id) {
      return fail(
          fmt::format("the storage reported writes durable through {} of {}", *durable, write_id));
    }
    return {};
  };
  if (fetched.checkpoint_op.value > 0) {
    batch.emplace_back(core::WriteCheckpoint{++write_id, fetched.checkpoint_op,
                                             core::make_bytes(fetched.checkpoint)});
    // As after a state transfer: the WAL continues at the op after the checkpoint.
    batch.emplace_back(core::TruncateWal{++write_id, fetched.checkpoint_op});
  }
  for (const sync::FetchedPrepare& p : fetched.prepares) {
    batch.emplace_back(core::WritePrepare{++write_id, p.header.op, p.header.checksum, p.bytes});
    if (batch.size() >= install_batch) {
      if (auto done = flush(); !done) return done;
    }
  }
  // The log is a committed prefix of the log of the cluster's current view; the replica
  // starts restored (recovering) and takes that view's log from a StartView anyway.
  core::Metadata md;
  md.view = core::View{fetched.view};
  md.log_view = core::View{fetched.view};
  md.commit = fetched.commit;
  md.checkpoint_op = fetched.checkpoint_op;
  md.checkpoint_checksum = fetched.checkpoint_checksum;
  md.voted_view = core::View{0};
  core::Bytes encoded = core::make_bytes(core::encode_metadata(identity.cluster_id, md));
  batch.emplace_back(core::WriteMetadata{++write_id, md, std::move(encoded)});
  if (auto done = flush(); !done) return done;
  disk->reset();

  // Read it back as a starting replica would, and check it is what was fetched.
  auto reopened = storage::ReplicaDisk::open(storage::posix_env(), dir, identity);
  if (!reopened) return fail("read back: " + reopened.error().message);
  core::DurableState state = (*reopened)->take_durable_state();
  if (!state.metadata || state.metadata->commit != fetched.commit ||
      state.metadata->checkpoint_op != fetched.checkpoint_op) {
    return fail(std::string("read back: the metadata is not the one written"));
  }
  if (fetched.checkpoint_op.value > 0 &&
      (!state.checkpoint || state.checkpoint->op != fetched.checkpoint_op)) {
    return fail(std::string("read back: the checkpoint is missing"));
  }
  std::size_t intact = 0;
  for (const core::WalEntry& entry : state.wal) {
    if (entry.op > fetched.checkpoint_op && entry.state == core::WalEntryState::intact) {
      intact += 1;
    }
  }
  if (intact != fetched.prepares.size()) {
    return fail(
        fmt::format("read back: {} of {} prepares in the WAL", intact, fetched.prepares.size()));
  }
  return {};
}

storage::RestoredMarker marker_of(const config::ClusterConfig& cluster, std::uint32_t replica,
                                  const sync::Fetched& fetched, std::uint64_t previous_view) {
  storage::RestoredMarker marker;
  const std::size_t source =
      fetched.checkpoint_source ? *fetched.checkpoint_source : fetched.vouched.front();
  marker.source_node = cluster.nodes[source].name;
  marker.source_replica = static_cast<std::uint32_t>(source);
  marker.replica = replica;
  marker.source_view = fetched.view;
  marker.source_log_view = fetched.view;
  marker.source_commit = fetched.commit.value;
  marker.source_checkpoint_op = fetched.checkpoint_op.value;
  marker.previous_view = previous_view;
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  marker.copied_at_ms = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(now).count());
  return marker;
}

void print_outcome(const config::ClusterConfig& cluster, const config::ClusterPaths& paths,
                   const SyncNodeOptions& options, std::uint32_t replica,
                   const sync::Fetched& fetched, const storage::RestoredMarker& marker,
                   bool replaced_data) {
  const std::string target_dir = paths.node_dir(options.name).string();
  std::printf("synced node %s (replica %u) from the running cluster\n", options.name.c_str(),
              replica);
  std::printf("sources: %s answered; %s vouched for op %llu (a quorum is %zu of %zu)\n",
              names_of(cluster, fetched.answered).c_str(),
              names_of(cluster, fetched.vouched).c_str(),
              static_cast<unsigned long long>(fetched.commit.value), cluster.nodes.size() / 2 + 1,
              cluster.nodes.size());
  if (fetched.checkpoint_source) {
    std::printf("checkpoint op %llu (from node %s)\n",
                static_cast<unsigned long long>(fetched.checkpoint_op.value),
                cluster.nodes[*fetched.checkpoint_source].name.c_str());
  } else {
    std::printf("checkpoint op 0 (none: the log from op 1)\n");
  }
  std::printf("ops installed: %zu (ops %llu..%llu), commit %llu\n", fetched.prepares.size(),
              static_cast<unsigned long long>(fetched.checkpoint_op.value + 1),
              static_cast<unsigned long long>(fetched.commit.value),
              static_cast<unsigned long long>(fetched.commit.value));
  if (replaced_data) {
    std::printf("replaced the earlier contents of %s (its last view: %llu)\n", target_dir.c_str(),
                static_cast<unsigned long long>(marker.previous_view));
  }
  std::printf(
      "view floor %llu: %s/%s marks %s as restored; it must not vote before a StartView of "
      "view %llu or later has given it the cluster's log\n",
      static_cast<unsigned long long>(marker.view_floor()), target_dir.c_str(),
      std::string(storage::restored_file_name).c_str(), options.name.c_str(),
      static_cast<unsigned long long>(marker.view_floor()));
  std::printf("next: vsr start-node %s\n", options.name.c_str());
  std::fflush(stdout);
}

ExitCode run_sync_node(const GlobalOptions& globals, const SyncNodeOptions& options) {
  const config::ClusterPaths paths = globals.paths();
  auto cluster = config::load_cluster(paths.cluster_file());
  if (!cluster) return report(exit_code_for(cluster.error().kind), cluster.error().message);
  const auto target = cluster->find_node(options.name);
  if (!target) {
    return report(ExitCode::usage,
                  fmt::format("no node '{}' in {} (nodes: {})", options.name,
                              paths.cluster_file().string(), node_names(*cluster)));
  }
  if (!(options.timeout_s > 0)) {
    return report(ExitCode::usage, "--timeout must be a positive number of seconds");
  }
  // The hello names the apps NAME serves: the peers refuse a different set.
  auto apps = app::Composite::make(globals.apps);
  if (!apps) return report(ExitCode::usage, apps.error());
  const auto replica = static_cast<std::uint32_t>(*target);

  // NAME stopped and kept stopped (its lock held until the swap), its data replaced only
  // with --force.
  auto replacement =
      storage::NodeDirReplacement::begin(paths.nodes_dir(), options.name, options.force);
  if (!replacement) {
    return report(
        restore_exit_code(replacement.error().kind),
        fmt::format("cannot sync node '{}': {}", options.name, replacement.error().message));
  }

  sync::FetchRequest request;
  request.cluster = *cluster;
  request.replica = *target;
  request.apps = fmt::format("{}", fmt::join((*apps)->served_apps(), ","));
  request.timeout = std::chrono::milliseconds(static_cast<long>(options.timeout_s * 1000));
  auto fetched = sync::fetch_from_cluster(request);
  if (!fetched) {
    return report(ExitCode::environment,
                  fmt::format("cannot sync node '{}': {}", options.name, fetched.error().message));
  }
  if (auto installed = install(*cluster, replica, replacement->copy_dir().string(), *fetched);
      !installed) {
    return report(ExitCode::environment,
                  fmt::format("cannot sync node '{}': writing {}: {}; nothing was changed",
                              options.name, replacement->copy_dir().string(), installed.error()));
  }
  const storage::RestoredMarker marker =
      marker_of(*cluster, replica, *fetched, replacement->previous_view());
  if (auto committed = replacement->commit(marker); !committed) {
    return report(
        restore_exit_code(committed.error().kind),
        fmt::format("cannot sync node '{}': {}", options.name, committed.error().message));
  }
  print_outcome(*cluster, paths, options, replica, *fetched, marker, replacement->replaces_data());
  return ExitCode::success;
}

}  // namespace

void add_sync_node(CLI::App& app, GlobalOptions& globals) {
  // Shared with the callback, which runs after parsing; CLI::App outlives both.
  auto options = std::make_shared<SyncNodeOptions>();
  CLI::App* command = app.add_subcommand(
      "sync-node",
      "Restore stopped node NAME's directory from the running cluster: a checkpoint and the "
      "committed log, accepted only when a quorum of the other replicas vouches for them by "
      "checksum");
  command->footer(
      "How it works: run it on NAME's machine (it needs cluster.tnet) while NAME is stopped. "
      "It takes NAME's directory lock, listens on NAME's address and talks to the other "
      "replicas as NAME, with read-only requests only (it never votes or acknowledges). The "
      "commit installed is one a quorum (ceil((n+1)/2) of the n replicas) has executed and "
      "reports the same checksum for; the hash chain from it fixes every op down to the "
      "checkpoint fetched. The new directory is written beside NAME's, gets a RESTORED "
      "marker (NAME rejoins without voting until a StartView of the cluster's view has given "
      "it the log) and replaces NAME's in one atomic rename. Then run `vsr start-node NAME`.\n"
      "Refusals (nothing is changed): an unknown NAME (exit 2); NAME running (exit 4); NAME's "
      "directory holding data without --force (exit 2); no quorum answering, or answers "
      "that do not agree, within --timeout (exit 4). The other replicas must serve the same "
      "--app set. See docs/vsr/static_membership.md.\n");
  command->add_option("NAME", options->name, "The stopped node to restore")->required();
  command->add_flag("--force", options->force,
                    "Replace NAME's directory even when it holds data (that data is lost)");
  command
      ->add_option("--timeout", options->timeout_s,
                   "Seconds to wait for a quorum to answer (and for progress once the "
                   "transfer runs)")
      ->check(seconds_between(0.01, 86400.0))
      ->type_name("SECONDS")
      ->capture_default_str();
  command->callback([&globals, options] {
    globals.run = [&globals, options] { return run_sync_node(globals, *options); };
  });
}

}  // namespace vsr::cli
