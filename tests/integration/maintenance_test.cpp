// Proves, by running the built `vsr` binary, the maintenance commands of product.md §1:
//
// `vsr move-node NAME HOST:PORT` rewrites cluster.tnet and client.tnet (mode 0600 kept)
// with only NAME's address changed and config_version bumped, and says what to restart;
// it refuses (exit 2, both files byte-identical) an unknown node, a bad address, an
// address another node uses, and NAME's own address.
//
// `vsr recover-node NAME --from-node SRC [--force]` replaces NAME's directory with a copy
// of SRC's: every file but LOCK, with NAME's replica index in the metadata, plus a RESTORED
// marker; SRC is unchanged; a stale-copy warning is printed. It refuses unknown nodes,
// NAME == SRC, a NAME with data without --force, a SRC without data (exit 2, nothing
// changed), and a running node, detected by its directory lock (exit 4, naming the pid).
//
// Node directories are built with the storage library (vsr_storage), so these tests do
// not depend on the daemon.

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "process.hpp"
#include "vsr/config/cluster_config.hpp"
#include "vsr/io/file.hpp"
#include "vsr/storage/metadata.hpp"
#include "vsr/storage/node_storage.hpp"
#include "vsr/storage/restore.hpp"

namespace vsr::test {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

std::string read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

mode_t mode_of(const fs::path& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

// Every file of a directory but its lock, by name. (Taking the lock writes the holder's
// pid into LOCK, so it is the one file a read-only command may change.)
std::map<std::string, std::string> files_of(const fs::path& dir) {
  std::map<std::string, std::string> files;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name == "LOCK") continue;
    files[name] = read_bytes(entry.path());
  }
  return files;
}

// The name of the last WAL segment in `files`.
std::string last_segment(const std::map<std::string, std::string>& files) {
  std::string name;
  for (const auto& [file, bytes] : files) {
    if (file.starts_with("wal-")) name = file;
  }
  EXPECT_FALSE(name.empty());
  return name;
}

// The nodes/ entries that are not node directories: leftovers of a restore.
std::vector<std::string> hidden_entries(const fs::path& nodes_dir) {
  std::vector<std::string> names;
  for (const fs::directory_entry& entry : fs::directory_iterator(nodes_dir)) {
    const std::string name = entry.path().filename().string();
    if (name.starts_with('.')) names.push_back(name);
  }
  return names;
}

// An error is one line "vsr: ..." on stderr after any warning lines, nothing on stdout.
void expect_refusal(const RunResult& result, int code, const std::string& fragment) {
  EXPECT_FALSE(result.timed_out);
  EXPECT_EQ(result.status.code, code) << result.err;
  EXPECT_THAT(result.err, StartsWith("vsr: "));
  EXPECT_THAT(result.err, HasSubstr(fragment));
  EXPECT_EQ(result.out, "");
}

// A cluster directory with n0..n2 on 127.0.0.1:9000..9002.
class Maintenance : public ::testing::Test {
 protected:
  void SetUp() override {
    RunResult init = run_vsr({"--cluster-dir", dir().string(), "init-cluster"});
    ASSERT_EQ(init.status.code, 0) << init.err;
    auto cluster = config::load_cluster(paths().cluster_file());
    ASSERT_TRUE(cluster.ok());
    cluster_ = *cluster;
  }

  fs::path dir() const { return temp_ / "cluster"; }
  config::ClusterPaths paths() const { return config::ClusterPaths{dir()}; }
  RunResult vsr(std::vector<std::string> args) const {
    args.insert(args.begin(), {"--cluster-dir", dir().string()});
    return run_vsr(std::move(args));
  }

  TempDir temp_;
  config::ClusterConfig cluster_;
};

// --- move-node ---------------------------------------------------------------------------

class MoveNode : public Maintenance {
 protected:
  // Both files' bytes, to show that a refusal changed nothing.
  std::pair<std::string, std::string> file_bytes() const {
    return {read_bytes(paths().cluster_file()), read_bytes(paths().client_file())};
  }

  void expect_refused(const std::vector<std::string>& args, const std::string& fragment) {
    const auto before = file_bytes();
    RunResult result = vsr(args);
    expect_refusal(result, 2, fragment);
    EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 1) << result.err;
    EXPECT_EQ(file_bytes(), before);
  }
};

TEST_F(MoveNode, RewritesBothFilesWithTheNewAddressAndABumpedVersion) {
  RunResult result = vsr({"move-node", "n1", "127.0.0.1:9101"});
  ASSERT_EQ(result.status.code, 0) << result.err;
  EXPECT_EQ(result.err, "");
  EXPECT_THAT(result.out, HasSubstr("moved node n1 (replica 1) from 127.0.0.1:9001 to "
                                    "127.0.0.1:9101"));
  EXPECT_THAT(result.out, HasSubstr("config version 2"));
  EXPECT_THAT(result.out, HasSubstr("vsr start-node n1"));
  EXPECT_THAT(result.out, HasSubstr("restart the other nodes (n0, n2) one at a time"));

  EXPECT_EQ(mode_of(paths().cluster_file()), 0600u);
  EXPECT_EQ(mode_of(paths().client_file()), 0600u);
  auto cluster = config::load_cluster(paths().cluster_file());
  ASSERT_TRUE(cluster.ok()) << cluster.error().message;
  auto client = config::load_client(paths().client_file());
  ASSERT_TRUE(client.ok()) << client.error().message;
  EXPECT_EQ(cluster->config_version, 2u);
  EXPECT_EQ(client->config_version, 2u);
  EXPECT_EQ(cluster->nodes[1].address.to_string(), "127.0.0.1:9101");
  EXPECT_EQ(client->nodes[1].address.to_string(), "127.0.0.1:9101");

  // Everything else is as it was: the other nodes, the order, the keys, the tuning.
  config::ClusterConfig expected = cluster_;
  expected.config_version = 2;
  expected.nodes[1].address = config::NodeAddress{"127.0.0.1", 9101};
  EXPECT_EQ(*cluster, expected);
  EXPECT_EQ(*client, config::client_config_of(expected));
}

TEST_F(MoveNode, EachMoveBumpsTheVersionAgainAndIpv6IsAccepted) {
  ASSERT_EQ(vsr({"move-node", "n2", "[::1]:9202"}).status.code, 0);
  RunResult second = vsr({"move-node", "n2", "node-2.example:9203"});
  ASSERT_EQ(second.status.code, 0) << second.err;
  EXPECT_THAT(second.out, HasSubstr("from [::1]:9202 to node-2.example:9203"));
  auto cluster = config::load_cluster(paths().cluster_file());
  ASSERT_TRUE(cluster.ok());
  EXPECT_EQ(cluster->config_version, 3u);
  EXPECT_EQ(cluster->nodes[2].address.to_string(), "node-2.example:9203");
  EXPECT_EQ(cluster->nodes[0].address.to_string(), "127.0.0.1:9000");
}

TEST_F(MoveNode, RefusesAnUnknownNode) {
  expect_refused({"move-node", "n7", "127.0.0.1:9107"}, "no node 'n7'");
  expect_refused({"move-node", "n7", "127.0.0.1:9107"}, "nodes: n0, n1, n2");
}

TEST_F(MoveNode, RefusesABadAddress) {
  expect_refused({"move-node", "n1", "127.0.0.1"}, "has no port");
  expect_refused({"move-node", "n1", "127.0.0.1:0"}, "out of range");
  expect_refused({"move-node", "n1", "127.0.0.1:70000"}, "out of range");
  expect_refused({"move-node", "n1", "999.0.0.1:9101"}, "not a valid IPv4 address");
  expect_refused({"move-node", "n1", "::1:9101"}, "put an IPv6 address in brackets");
  expect_refused({"move-node", "n1", "bad_host!:9101"}, "not a valid hostname");
}

TEST_F(MoveNode, RefusesAnAddressAnotherNodeUses) {
  expect_refused({"move-node", "n1", "127.0.0.1:9002"},
                 "address 127.0.0.1:9002 is already used by node 'n2'");
  // The same endpoint spelled differently is still the same endpoint.
  ASSERT_EQ(vsr({"move-node", "n0", "[::1]:9000"}).status.code, 0);
  expect_refused({"move-node", "n1", "[0:0::1]:9000"}, "already used by node 'n0'");
}

TEST_F(MoveNode, RefusesTheNodesOwnAddress) {
  expect_refused({"move-node", "n1", "127.0.0.1:9001"}, "node 'n1' is already at 127.0.0.1:9001");
  ASSERT_EQ(vsr({"move-node", "n1", "Node-1.Example:9001"}).status.code, 0);
  expect_refused({"move-node", "n1", "node-1.example:9001"}, "already at");
}

TEST_F(MoveNode, RefusesWithoutAClusterAndWithoutArguments) {
  RunResult missing =
      run_vsr({"--cluster-dir", (temp_ / "none").string(), "move-node", "n1", "127.0.0.1:9101"});
  expect_refusal(missing, 2, "cluster.tnet");
  expect_refusal(vsr({"move-node", "n1"}), 2, "ADDRESS");
}

// --- recover-node ------------------------------------------------------------------------

class RecoverNode : public Maintenance {
 protected:
  fs::path node_dir(const std::string& name) const { return paths().node_dir(name); }

  // A node directory as a replica leaves it: both metadata copies, WAL ops 1..ops (two
  // segments), and a checkpoint at op 2.
  void make_node(const std::string& name, std::uint32_t replica, std::uint64_t view,
                 std::uint64_t ops, const std::string& flavour = "") {
    ASSERT_TRUE(io::create_directories(node_dir(name), 0700).ok());
    storage::NodeOptions options;
    options.wal.segment_bytes_max = 256;  // more than one segment for a few ops
    auto recovered = storage::recover(storage::posix_env(), node_dir(name).string(), options);
    ASSERT_TRUE(recovered.ok()) << recovered.error().message;
    ASSERT_TRUE(recovered->state.fresh);
    storage::NodeStorage& storage = recovered->storage;
    storage::Metadata metadata;
    metadata.cluster_id = cluster_.cluster_id.hex();
    metadata.replica = replica;
    metadata.view = view;
    metadata.log_view = view;
    ASSERT_TRUE(storage.format(metadata).ok());
    for (std::uint64_t op = 1; op <= ops; ++op) {
      const std::string body = flavour + "prepare " + std::to_string(op) + std::string(60, 'x');
      ASSERT_TRUE(storage.wal().append(op, body).ok());
      ASSERT_TRUE(storage.wal().sync().ok());
    }
    metadata = storage.metadata();
    metadata.commit = ops;
    ASSERT_TRUE(storage.write_metadata(metadata).ok());
    if (ops >= 2) {
      ASSERT_TRUE(storage.write_checkpoint(2, flavour + "snapshot at 2").ok());
    }
  }

  // The newest valid metadata of a node directory.
  storage::Metadata metadata_of(const std::string& name) const {
    storage::MetadataStore store(storage::posix_env(), node_dir(name).string());
    auto loaded = store.load();
    EXPECT_TRUE(loaded.ok() && loaded->newest.has_value()) << name;
    return loaded.ok() && loaded->newest ? *loaded->newest : storage::Metadata{};
  }

  void expect_unchanged(const std::string& name,
                        const std::map<std::string, std::string>& before) const {
    EXPECT_EQ(files_of(node_dir(name)), before) << name << " changed";
  }
};

TEST_F(RecoverNode, CopiesTheSourceMarksTheTargetAndLeavesTheSourceAlone) {
  make_node("n0", 0, 3, 6);
  const auto source_before = files_of(node_dir("n0"));
  ASSERT_TRUE(io::DirectoryLock::acquire(node_dir("n0")).ok());  // leaves a LOCK, like a node

  RunResult result = vsr({"recover-node", "n1", "--from-node", "n0"});
  ASSERT_EQ(result.status.code, 0) << result.err;
  EXPECT_THAT(result.out, HasSubstr("recovered node n1 (replica 1) from node n0 (replica 0)"));
  EXPECT_THAT(result.out, HasSubstr("RESTORED"));
  EXPECT_THAT(result.out, HasSubstr("vsr start-node n1"));
  // The warning: the copy is unchecked, and sync-node is the checked path.
  EXPECT_THAT(result.err, StartsWith("vsr: warning: "));
  EXPECT_THAT(result.err, HasSubstr("stale"));
  EXPECT_THAT(result.err, HasSubstr("sync-node"));

  expect_unchanged("n0", source_before);
  const auto target = files_of(node_dir("n1"));
  for (const auto& [name, bytes] : source_before) {
    ASSERT_TRUE(target.count(name)) << name << " was not copied";
    // The metadata copies differ only in the replica index (and sequence): below.
    if (!name.starts_with("metadata.")) {
      EXPECT_EQ(target.at(name), bytes) << name;
    }
  }
  EXPECT_EQ(target.size(), source_before.size() + 1);  // + RESTORED
  EXPECT_EQ(mode_of(node_dir("n1")), 0700u);
  EXPECT_EQ(mode_of(node_dir("n1") / last_segment(target)), 0600u);
  EXPECT_TRUE(fs::exists(node_dir("n1") / "LOCK"));
  EXPECT_THAT(hidden_entries(paths().nodes_dir()), ::testing::IsEmpty());

  const storage::Metadata source = metadata_of("n0");
  storage::Metadata restored = metadata_of("n1");
  EXPECT_EQ(source.replica, 0u);
  EXPECT_EQ(restored.replica, 1u);
  restored.replica = source.replica;
  restored.sequence = source.sequence;
  EXPECT_EQ(restored, source);

  // Both metadata copies carry the new index, so neither can bring the old one back.
  for (const char* copy : {"metadata.0", "metadata.1"}) {
    EXPECT_NE(target.at(copy), source_before.at(copy)) << copy;
  }

  // The marker says where the state came from; the storage layer opens the directory.
  ASSERT_TRUE(storage::was_restored(storage::posix_env(), node_dir("n1").string()));
  auto marker = storage::read_restored(storage::posix_env(), node_dir("n1").string());
  ASSERT_TRUE(marker.ok() && marker->has_value());
  EXPECT_EQ((*marker)->source_node, "n0");
  EXPECT_EQ((*marker)->source_replica, 0u);
  EXPECT_EQ((*marker)->replica, 1u);
  EXPECT_EQ((*marker)->source_view, 3u);
  EXPECT_EQ((*marker)->source_commit, 6u);
  EXPECT_EQ((*marker)->source_checkpoint_op, 2u);
  EXPECT_EQ((*marker)->previous_view, 0u);
  EXPECT_GT((*marker)->copied_at_ms, 0u);
  auto reopened = storage::recover(storage::posix_env(), node_dir("n1").string());
  ASSERT_TRUE(reopened.ok()) << reopened.error().message;
  EXPECT_FALSE(reopened->state.fresh);
  EXPECT_EQ(reopened->state.metadata.replica, 1u);
  EXPECT_EQ(reopened->state.wal.head_op, 6u);
}

TEST_F(RecoverNode, ForceReplacesDataAndRecordsTheViewItHadReached) {
  make_node("n0", 0, 3, 4, "source ");
  make_node("n2", 2, 9, 5, "target ");
  RunResult result = vsr({"recover-node", "n2", "--from-node", "n0", "--force"});
  ASSERT_EQ(result.status.code, 0) << result.err;
  EXPECT_THAT(result.out, HasSubstr("replaced the earlier contents"));
  const auto target = files_of(node_dir("n2"));
  // n2's own files are gone; n0's are there (the metadata with n2's index).
  auto without_metadata = [](std::map<std::string, std::string> files) {
    files.erase("metadata.0");
    files.erase("metadata.1");
    files.erase("RESTORED");
    return files;
  };
  EXPECT_EQ(without_metadata(target), without_metadata(files_of(node_dir("n0"))));
  EXPECT_EQ(metadata_of("n2").replica, 2u);
  auto marker = storage::read_restored(storage::posix_env(), node_dir("n2").string());
  ASSERT_TRUE(marker.ok() && marker->has_value());
  // n2 had reached view 9; the copy is of view 3: it must not vote before view > 9.
  EXPECT_EQ((*marker)->previous_view, 9u);
  EXPECT_EQ((*marker)->view_floor(), 9u);
  EXPECT_THAT(hidden_entries(paths().nodes_dir()), ::testing::IsEmpty());
}

TEST_F(RecoverNode, AnEmptyTargetDirectoryNeedsNoForce) {
  make_node("n0", 0, 1, 3);
  ASSERT_TRUE(io::create_directories(node_dir("n1"), 0700).ok());
  ASSERT_TRUE(io::DirectoryLock::acquire(node_dir("n1")).ok());  // only a LOCK: no data
  RunResult result = vsr({"recover-node", "n1", "--from-node", "n0"});
  ASSERT_EQ(result.status.code, 0) << result.err;
  EXPECT_TRUE(storage::was_restored(storage::posix_env(), node_dir("n1").string()));
}

TEST_F(RecoverNode, RefusesDataWithoutForceAndChangesNothing) {
  make_node("n0", 0, 3, 4, "source ");
  make_node("n1", 1, 4, 5, "target ");
  const auto source_before = files_of(node_dir("n0"));
  const auto target_before = files_of(node_dir("n1"));
  RunResult result = vsr({"recover-node", "n1", "--from-node", "n0"});
  expect_refusal(result, 2, "holds data; pass --force");
  EXPECT_THAT(result.err, HasSubstr("stale"));
  expect_unchanged("n0", source_before);
  expect_unchanged("n1", target_before);
  EXPECT_THAT(hidden_entries(paths().nodes_dir()), ::testing::IsEmpty());
}

TEST_F(RecoverNode, RefusesUnknownNodesAndItself) {
  make_node("n0", 0, 1, 2);
  const auto source_before = files_of(node_dir("n0"));
  expect_refusal(vsr({"recover-node", "n9", "--from-node", "n0"}), 2, "no node 'n9'");
  expect_refusal(vsr({"recover-node", "n1", "--from-node", "n9"}), 2, "no node 'n9'");
  expect_refusal(vsr({"recover-node", "n0", "--from-node", "n0"}), 2,
                 "node 'n0' cannot be recovered from itself");
  expect_refusal(vsr({"recover-node", "n1"}), 2, "--from-node");
  expect_unchanged("n0", source_before);
  EXPECT_FALSE(fs::exists(node_dir("n1")));
  EXPECT_FALSE(fs::exists(node_dir("n9")));
}

TEST_F(RecoverNode, RefusesASourceWithoutData) {
  expect_refusal(vsr({"recover-node", "n1", "--from-node", "n0"}), 2, "does not exist");
  ASSERT_TRUE(io::create_directories(node_dir("n0"), 0700).ok());
  expect_refusal(vsr({"recover-node", "n1", "--from-node", "n0"}), 2, "no replica metadata");
  EXPECT_FALSE(fs::exists(node_dir("n1")));
  EXPECT_THAT(hidden_entries(paths().nodes_dir()), ::testing::IsEmpty());
}

TEST_F(RecoverNode, RefusesASourceDirectoryOfAnotherReplica) {
  make_node("n0", 2, 1, 2);  // n2's state in n0's directory
  expect_refusal(vsr({"recover-node", "n1", "--from-node", "n0"}), 2,
                 "belongs to cluster " + cluster_.cluster_id.hex() + " replica 2");
  EXPECT_FALSE(fs::exists(node_dir("n1")));
  EXPECT_THAT(hidden_entries(paths().nodes_dir()), ::testing::IsEmpty());
}

TEST_F(RecoverNode, RefusesWhileTheSourceRunsNamingThePid) {
  make_node("n0", 0, 1, 3);
  const auto source_before = files_of(node_dir("n0"));
  auto lock = io::DirectoryLock::acquire(node_dir("n0"));  // a "running" n0: this process
  ASSERT_TRUE(lock.ok()) << lock.error().message;
  RunResult result = vsr({"recover-node", "n1", "--from-node", "n0"});
  expect_refusal(result, 4, "node 'n0' is running");
  EXPECT_THAT(result.err, HasSubstr("pid " + std::to_string(::getpid())));
  EXPECT_THAT(result.err, HasSubstr("stop it"));
  expect_unchanged("n0", source_before);
  EXPECT_FALSE(fs::exists(node_dir("n1")));
}

TEST_F(RecoverNode, RefusesWhileTheTargetRunsEvenWithForce) {
  make_node("n0", 0, 1, 3, "source ");
  make_node("n1", 1, 1, 2, "target ");
  const auto target_before = files_of(node_dir("n1"));
  auto lock = io::DirectoryLock::acquire(node_dir("n1"));
  ASSERT_TRUE(lock.ok()) << lock.error().message;
  RunResult result = vsr({"recover-node", "n1", "--from-node", "n0", "--force"});
  expect_refusal(result, 4, "node 'n1' is running");
  EXPECT_THAT(result.err, HasSubstr("pid " + std::to_string(::getpid())));
  expect_unchanged("n1", target_before);
  EXPECT_FALSE(storage::was_restored(storage::posix_env(), node_dir("n1").string()));
}

TEST_F(RecoverNode, DeletesTheLeftoversOfAnInterruptedRestore) {
  make_node("n0", 0, 1, 3);
  const fs::path leftover = paths().nodes_dir() / ".n1.restore.tmp";
  ASSERT_TRUE(io::create_directories(leftover, 0700).ok());
  std::ofstream(leftover / "metadata.0") << "half a copy";
  RunResult result = vsr({"recover-node", "n1", "--from-node", "n0"});
  ASSERT_EQ(result.status.code, 0) << result.err;
  EXPECT_THAT(hidden_entries(paths().nodes_dir()), ::testing::IsEmpty());
  EXPECT_EQ(metadata_of("n1").replica, 1u);
}

}  // namespace
}  // namespace vsr::test
