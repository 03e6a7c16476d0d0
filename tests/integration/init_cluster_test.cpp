// Proves, by running the built `vsr` binary, the command-line contract of product.md §1 for
// what exists so far: --help and --version, the global options (--cluster-dir, its
// VSR_CLUSTER_DIR default, --log-level, --app), and `vsr init-cluster`: the files it writes
// (mode 0600, client.tnet without the replica key), its refusal to overwrite without
// --force (exit 2, nothing changed), --force (new keys), exit 2 with a one-line message for
// each invalid option, exit 4 when the directory cannot be written, and exit 2 for a
// cluster larger than the replicas run (17 nodes), whether asked of init-cluster or found
// by start-node in a hand-edited cluster.tnet.

#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "process.hpp"
#include "vsr/base/assert.hpp"
#include "vsr/codec/tnetstring.hpp"
#include "vsr/config/cluster_config.hpp"

#ifndef VSR_EXPECTED_VERSION
#error "VSR_EXPECTED_VERSION must be defined by the build (the project version)"
#endif

namespace vsr::test {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

std::string read_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

mode_t mode_of(const std::filesystem::path& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

std::string fmt_hex(std::uint8_t b) {
  static constexpr char digits[] = "0123456789abcdef";
  return {digits[b >> 4], digits[b & 0xf]};
}

std::string hex(const std::array<std::uint8_t, 32>& bytes) {
  std::string out;
  for (std::uint8_t b : bytes) out += fmt_hex(b);
  return out;
}

// `count` nodes n0.. on 127.0.0.1, ports 9000.., as --nodes takes them.
std::string node_list(std::size_t count) {
  std::string list;
  for (std::size_t i = 0; i < count; i++) {
    if (i > 0) list += ',';
    list += fmt::format("n{}=127.0.0.1:{}", i, 9000 + i);
  }
  return list;
}

// A hand edit of a cluster.tnet: its nodes list replaced by `count` nodes, and the checksum
// recomputed as docs/vsr/config.md defines it (BLAKE2b-128 of the body), so that the file is
// well-formed and only the node count is wrong.
std::string with_nodes(const std::string& file, std::size_t count) {
  const auto top = tnet::decode(file);
  VSR_ASSERT(top.ok());
  const auto body = top->find("body");
  VSR_ASSERT(body.has_value());
  std::string edited;
  tnet::Encoder b(edited);
  b.begin_dict();
  for (const tnet::Entry& entry : body->entries()) {
    b.key(entry.key);
    if (entry.key != "nodes") {
      b.raw(entry.value.encoded());
      continue;
    }
    b.begin_list();
    for (std::size_t i = 0; i < count; i++) {
      b.begin_dict();
      b.key("name");
      b.bytes(fmt::format("n{}", i));
      b.key("host");
      b.bytes("127.0.0.1");
      b.key("port");
      b.integer(static_cast<std::int64_t>(9000 + i));
      b.end_dict();
    }
    b.end_list();
  }
  b.end_dict();
  unsigned char digest[16];
  crypto_generichash(digest, sizeof(digest), reinterpret_cast<const unsigned char*>(edited.data()),
                     edited.size(), nullptr, 0);
  std::string out;
  tnet::Encoder e(out);
  e.begin_dict();
  for (const tnet::Entry& entry : top->entries()) {
    e.key(entry.key);
    if (entry.key == "body") {
      e.raw(edited);
    } else if (entry.key == "checksum") {
      std::string checksum;
      for (unsigned char byte : digest) checksum += fmt_hex(byte);
      e.bytes(checksum);
    } else {
      e.raw(entry.value.encoded());
    }
  }
  e.end_dict();
  return out;
}

// An error is one line on stderr, "vsr: ...", with nothing on stdout.
void expect_one_line_error(const RunResult& result, int code, const std::string& fragment) {
  EXPECT_FALSE(result.timed_out);
  EXPECT_EQ(result.status.code, code) << result.err;
  EXPECT_THAT(result.err, StartsWith("vsr: "));
  EXPECT_THAT(result.err, HasSubstr(fragment));
  EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 1) << result.err;
  EXPECT_EQ(result.out, "");
}

TEST(CliFrame, HelpExplainsAndListsCommands) {
  RunResult result = run_vsr({"--help"});
  EXPECT_EQ(result.status.code, 0);
  EXPECT_THAT(result.out, HasSubstr("Viewstamped Replication"));
  EXPECT_THAT(result.out, HasSubstr("init-cluster"));
  EXPECT_THAT(result.out, HasSubstr("--cluster-dir"));
  EXPECT_THAT(result.out, HasSubstr("VSR_CLUSTER_DIR"));
  EXPECT_THAT(result.out, HasSubstr("--log-level"));
  EXPECT_THAT(result.out, HasSubstr("--app"));
  EXPECT_THAT(result.out, HasSubstr("Exit codes"));
  EXPECT_EQ(result.err, "");
}

TEST(CliFrame, EveryAppCommandHelpShowsExamples) {
  for (const char* app : {"bank", "inventory", "catalog", "locks"}) {
    for (const std::vector<std::string>& args :
         {std::vector<std::string>{app, "--help"},
          std::vector<std::string>{app,
                                   std::string(app) == "bank"        ? "add"
                                   : std::string(app) == "inventory" ? "reserve"
                                   : std::string(app) == "catalog"   ? "put"
                                                                     : "acquire",
                                   "--help"}}) {
      RunResult result = run_vsr(args);
      EXPECT_EQ(result.status.code, 0) << app;
      EXPECT_THAT(result.out, HasSubstr("Examples:")) << app;
      EXPECT_THAT(result.out, HasSubstr(std::string("vsr ") + app + " ")) << app;
      EXPECT_THAT(result.out, HasSubstr("Exit codes")) << app;
    }
  }
}

TEST(CliFrame, BenchHelpSaysWhatItWritesAndShowsExamples) {
  RunResult result = run_vsr({"bench", "--help"});
  EXPECT_EQ(result.status.code, 0);
  EXPECT_THAT(result.out, HasSubstr("bench-<i>"));
  EXPECT_THAT(result.out, HasSubstr("one request outstanding"));
  EXPECT_THAT(result.out, HasSubstr("Examples:"));
  EXPECT_THAT(result.out, HasSubstr("vsr bench --clients"));
  EXPECT_THAT(result.out, HasSubstr("Exit codes"));
}

TEST(CliFrame, InitClusterHelpShowsEveryOptionWithDefaults) {
  RunResult result = run_vsr({"init-cluster", "--help"});
  EXPECT_EQ(result.status.code, 0);
  for (const char* fragment :
       {"--nodes", "n0=127.0.0.1:9000,n1=127.0.0.1:9001,n2=127.0.0.1:9002", "--max-batch-size",
        "1..1024=64", "--max-batch-delay", "0..1000=1", "--max-pipeline-depth", "1..128=8",
        "--checkpoint-interval", "=1024", "--force", "heartbeat_ms=100",
        "view_change_timeout_ms=500", "request_timeout_ms=1000"}) {
    EXPECT_THAT(result.out, HasSubstr(fragment));
  }
}

TEST(CliFrame, VersionPrintsProjectVersion) {
  RunResult result = run_vsr({"--version"});
  EXPECT_EQ(result.status.code, 0);
  EXPECT_EQ(result.out, std::string("vsr ") + VSR_EXPECTED_VERSION + "\n");
}

TEST(CliFrame, UsageErrorsExit2WithOneLine) {
  expect_one_line_error(run_vsr({}), 2, "A subcommand is required");
  expect_one_line_error(run_vsr({"no-such-command"}), 2, "unknown command 'no-such-command'");
  expect_one_line_error(run_vsr({"--no-such-option", "init-cluster"}), 2, "--no-such-option");
  expect_one_line_error(run_vsr({"--log-level", "loud", "init-cluster"}), 2, "--log-level");
  expect_one_line_error(run_vsr({"--cluster-dir", "", "init-cluster"}), 2,
                        "--cluster-dir: the directory must not be empty");
}

class InitCluster : public ::testing::Test {
 protected:
  std::filesystem::path cluster_dir() const { return temp_ / "cluster"; }
  std::vector<std::string> init(std::vector<std::string> extra = {}) const {
    std::vector<std::string> args{"--cluster-dir", cluster_dir().string(), "init-cluster"};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }

  TempDir temp_;
};

TEST_F(InitCluster, WritesBothFilesMode0600AndReportsThem) {
  RunResult result = run_vsr(init());
  ASSERT_EQ(result.status.code, 0) << result.err;
  EXPECT_EQ(result.err, "");
  const config::ClusterPaths paths{cluster_dir()};
  EXPECT_EQ(mode_of(paths.cluster_file()), 0600u);
  EXPECT_EQ(mode_of(paths.client_file()), 0600u);
  EXPECT_EQ(mode_of(cluster_dir()), 0700u);

  auto cluster = config::load_cluster(paths.cluster_file());
  ASSERT_TRUE(cluster.ok()) << cluster.error().message;
  auto client = config::load_client(paths.client_file());
  ASSERT_TRUE(client.ok()) << client.error().message;
  EXPECT_EQ(*client, config::client_config_of(*cluster));
  EXPECT_EQ(cluster->config_version, 1u);
  EXPECT_EQ(cluster->tuning, config::Tuning{});
  EXPECT_EQ(cluster->timeouts, config::Timeouts{});
  ASSERT_EQ(cluster->nodes.size(), 3u);
  EXPECT_EQ(cluster->nodes[2].name, "n2");
  EXPECT_EQ(cluster->nodes[2].address.to_string(), "127.0.0.1:9002");

  EXPECT_THAT(result.out, HasSubstr("wrote " + paths.cluster_file().string()));
  EXPECT_THAT(result.out, HasSubstr("wrote " + paths.client_file().string()));
  EXPECT_THAT(result.out, HasSubstr("cluster id " + cluster->cluster_id.hex()));
  EXPECT_THAT(result.out, HasSubstr("0 n0 127.0.0.1:9000"));
  EXPECT_THAT(result.out, HasSubstr("2 n2 127.0.0.1:9002"));
}

TEST_F(InitCluster, ClientFileHoldsNoReplicaKey) {
  ASSERT_EQ(run_vsr(init()).status.code, 0);
  const config::ClusterPaths paths{cluster_dir()};
  auto cluster = config::load_cluster(paths.cluster_file());
  ASSERT_TRUE(cluster.ok());
  const std::string client_bytes = read_bytes(paths.client_file());
  EXPECT_THAT(client_bytes, Not(HasSubstr("replica_key")));
  EXPECT_THAT(client_bytes, Not(HasSubstr(hex(cluster->replica_key.bytes))));
  EXPECT_THAT(client_bytes, HasSubstr(hex(cluster->client_key.bytes)));
  EXPECT_THAT(read_bytes(paths.cluster_file()), HasSubstr(hex(cluster->replica_key.bytes)));
}

TEST_F(InitCluster, SecondRunWithoutForceExits2AndChangesNothing) {
  ASSERT_EQ(run_vsr(init()).status.code, 0);
  const config::ClusterPaths paths{cluster_dir()};
  const std::string cluster_before = read_bytes(paths.cluster_file());
  const std::string client_before = read_bytes(paths.client_file());
  RunResult again = run_vsr(init({"--nodes", "x=127.0.0.1:1"}));
  expect_one_line_error(again, 2, "already exists");
  EXPECT_THAT(again.err, HasSubstr("--force"));
  EXPECT_EQ(read_bytes(paths.cluster_file()), cluster_before);
  EXPECT_EQ(read_bytes(paths.client_file()), client_before);
}

TEST_F(InitCluster, ForceRewritesWithNewIdAndKeys) {
  ASSERT_EQ(run_vsr(init()).status.code, 0);
  const config::ClusterPaths paths{cluster_dir()};
  auto before = config::load_cluster(paths.cluster_file());
  ASSERT_TRUE(before.ok());
  RunResult forced = run_vsr(init({"--force", "--nodes", "solo=127.0.0.1:7000"}));
  ASSERT_EQ(forced.status.code, 0) << forced.err;
  EXPECT_THAT(forced.out, HasSubstr("replaced " + paths.cluster_file().string()));
  auto after = config::load_cluster(paths.cluster_file());
  ASSERT_TRUE(after.ok());
  EXPECT_NE(after->cluster_id, before->cluster_id);
  EXPECT_NE(after->replica_key, before->replica_key);
  EXPECT_NE(after->client_key, before->client_key);
  ASSERT_EQ(after->nodes.size(), 1u);
  auto client = config::load_client(paths.client_file());
  ASSERT_TRUE(client.ok());
  EXPECT_EQ(client->client_key, after->client_key);
}

TEST_F(InitCluster, EveryOptionIsWritten) {
  RunResult result = run_vsr(init({"--nodes", "a=127.0.0.1:7000,b=[::1]:7001,c=localhost:7002",
                                   "--max-batch-size", "10", "--max-batch-delay", "0",
                                   "--max-pipeline-depth", "2", "--checkpoint-interval", "100"}));
  ASSERT_EQ(result.status.code, 0) << result.err;
  auto cluster = config::load_cluster(config::ClusterPaths{cluster_dir()}.cluster_file());
  ASSERT_TRUE(cluster.ok());
  EXPECT_EQ(cluster->tuning.max_batch_size, 10u);
  EXPECT_EQ(cluster->tuning.max_batch_delay_ms, 0u);
  EXPECT_EQ(cluster->tuning.max_pipeline_depth, 2u);
  EXPECT_EQ(cluster->tuning.checkpoint_interval, 100u);
  ASSERT_EQ(cluster->nodes.size(), 3u);
  EXPECT_EQ(cluster->nodes[1].address.host, "::1");
  EXPECT_EQ(cluster->nodes[2].address.host, "localhost");
  EXPECT_THAT(result.out, HasSubstr("1 b [::1]:7001"));
}

struct InvalidCase {
  std::vector<std::string> args;
  std::string fragment;
};

TEST_F(InitCluster, EachInvalidOptionExits2NamingTheProblemAndWritesNothing) {
  const std::vector<InvalidCase> cases = {
      {{"--nodes", "bad name=127.0.0.1:9000"}, "node name 'bad name' is invalid"},
      {{"--nodes", std::string(33, 'n') + "=127.0.0.1:9000"}, "is invalid: use 1 to 32"},
      {{"--nodes", "a=127.0.0.1:9000,a=127.0.0.1:9001"}, "node name 'a' appears more than once"},
      {{"--nodes", "a=127.0.0.1:9000,b=127.0.0.1:9000"}, "have the same address"},
      {{"--nodes", "a=127.0.0.1:0"}, "port 0"},
      {{"--nodes", "a=127.0.0.1:65536"}, "port 65536"},
      {{"--nodes", "a=127.0.0.1"}, "has no port"},
      {{"--nodes", "a=300.0.0.1:9000"}, "not a valid IPv4 address"},
      {{"--nodes", "a=::1:9000"}, "brackets"},
      {{"--nodes", "a"}, "is not NAME=HOST:PORT"},
      {{"--nodes", ""}, "is not NAME=HOST:PORT"},
      {{"--max-batch-size", "0"}, "--max-batch-size: 0 is out of range; use 1..1024"},
      {{"--max-batch-size", "1025"}, "--max-batch-size: 1025 is out of range"},
      {{"--max-batch-size", "ten"}, "--max-batch-size: 'ten' is not a whole number"},
      {{"--max-batch-delay", "1001"}, "--max-batch-delay: 1001 is out of range"},
      {{"--max-batch-delay", "-1"}, "--max-batch-delay: '-1' is not a whole number"},
      {{"--max-pipeline-depth", "0"}, "--max-pipeline-depth: 0 is out of range"},
      {{"--max-pipeline-depth", "129"}, "--max-pipeline-depth: 129 is out of range"},
      {{"--checkpoint-interval", "0"}, "--checkpoint-interval: 0 is out of range"},
      {{"--checkpoint-interval", "99999999999"}, "--checkpoint-interval: 99999999999 is out"},
      {{"unexpected"}, "unexpected"},
  };
  for (const InvalidCase& c : cases) {
    SCOPED_TRACE(c.fragment);
    expect_one_line_error(run_vsr(init(c.args)), 2, c.fragment);
    EXPECT_FALSE(std::filesystem::exists(cluster_dir()));
  }
}

TEST_F(InitCluster, EnvironmentVariableSetsTheDirectory) {
  SpawnOptions options;
  options.env["VSR_CLUSTER_DIR"] = (temp_ / "from-env").string();
  options.cwd = temp_.path();
  RunResult result = run_vsr({"init-cluster"}, options);
  ASSERT_EQ(result.status.code, 0) << result.err;
  EXPECT_TRUE(std::filesystem::exists(temp_ / "from-env" / "cluster.tnet"));
  EXPECT_FALSE(std::filesystem::exists(temp_ / ".vsr"));
}

TEST_F(InitCluster, FlagWinsOverEnvironmentVariable) {
  SpawnOptions options;
  options.env["VSR_CLUSTER_DIR"] = (temp_ / "from-env").string();
  RunResult result =
      run_vsr({"--cluster-dir", (temp_ / "from-flag").string(), "init-cluster"}, options);
  ASSERT_EQ(result.status.code, 0) << result.err;
  EXPECT_TRUE(std::filesystem::exists(temp_ / "from-flag" / "cluster.tnet"));
  EXPECT_FALSE(std::filesystem::exists(temp_ / "from-env"));
}

TEST_F(InitCluster, DefaultDirectoryIsDotVsrInWorkingDirectory) {
  SpawnOptions options;
  options.cwd = temp_.path();
  RunResult result = run_vsr({"init-cluster"}, options);
  ASSERT_EQ(result.status.code, 0) << result.err;
  EXPECT_TRUE(std::filesystem::exists(temp_ / ".vsr" / "cluster.tnet"));
  EXPECT_TRUE(std::filesystem::exists(temp_ / ".vsr" / "client.tnet"));
  EXPECT_THAT(result.out, HasSubstr("wrote .vsr/cluster.tnet"));
}

TEST_F(InitCluster, GlobalOptionsAreAcceptedAndAfterTheCommandToo) {
  RunResult result = run_vsr({"--app", "bank", "--app", "locks", "--log-level", "debug",
                              "init-cluster", "--cluster-dir", cluster_dir().string()});
  ASSERT_EQ(result.status.code, 0) << result.err;
  EXPECT_TRUE(std::filesystem::exists(cluster_dir() / "cluster.tnet"));
}

TEST_F(InitCluster, UnwritableDirectoryExits4) {
  // A regular file where a directory must go fails even for root.
  { std::ofstream(temp_ / "file") << "x"; }
  RunResult result =
      run_vsr({"--cluster-dir", (temp_ / "file" / "cluster").string(), "init-cluster"});
  expect_one_line_error(result, 4, (temp_ / "file").string());
  EXPECT_THAT(result.err, HasSubstr("Not a directory"));

  RunResult on_file = run_vsr({"--cluster-dir", (temp_ / "file").string(), "init-cluster"});
  expect_one_line_error(on_file, 4, "Not a directory");
}

TEST_F(InitCluster, ReadOnlyDirectoryExits4) {
  if (::geteuid() == 0) GTEST_SKIP() << "root ignores directory permissions";
  std::filesystem::create_directory(temp_ / "ro");
  std::filesystem::permissions(
      temp_ / "ro", std::filesystem::perms::owner_read | std::filesystem::perms::owner_exec);
  RunResult result = run_vsr({"--cluster-dir", (temp_ / "ro").string(), "init-cluster"});
  expect_one_line_error(result, 4, "Permission denied");
}

// Issue 12, finding 1: every size init-cluster accepts is one the replicas run (1..16).
TEST_F(InitCluster, SixteenNodesAreWrittenAndSeventeenExit2) {
  RunResult sixteen = run_vsr(init({"--nodes", node_list(16)}));
  ASSERT_EQ(sixteen.status.code, 0) << sixteen.err;
  auto cluster = config::load_cluster(config::ClusterPaths{cluster_dir()}.cluster_file());
  ASSERT_TRUE(cluster.ok()) << cluster.error().message;
  EXPECT_EQ(cluster->nodes.size(), 16u);

  const std::filesystem::path other = temp_ / "seventeen";
  RunResult seventeen =
      run_vsr({"--cluster-dir", other.string(), "init-cluster", "--nodes", node_list(17)});
  expect_one_line_error(seventeen, 2, "a cluster has at most 16");
  EXPECT_FALSE(std::filesystem::exists(other));
}

// A cluster.tnet edited by hand to hold 17 nodes (with its checksum recomputed, so that only
// the node count is wrong) is refused by start-node with exit 2 and one line: it used to be
// loaded and handed to a replica that aborted on the core's limit of 16.
TEST_F(InitCluster, StartNodeRefusesAHandEditedSeventeenNodeClusterWithExit2) {
  ASSERT_EQ(run_vsr(init()).status.code, 0);
  const config::ClusterPaths paths{cluster_dir()};
  const std::string edited = with_nodes(read_bytes(paths.cluster_file()), 17);
  { std::ofstream(paths.cluster_file(), std::ios::binary | std::ios::trunc) << edited; }

  RunResult result = run_vsr({"--cluster-dir", cluster_dir().string(), "start-node", "n0"});
  expect_one_line_error(result, 2, "17 nodes is too many: a cluster has at most 16");
  EXPECT_EQ(result.status.signal, 0);
  EXPECT_THAT(result.err, HasSubstr(paths.cluster_file().string()));
  EXPECT_FALSE(std::filesystem::exists(cluster_dir() / "nodes" / "n0"));
}

TEST_F(InitCluster, LeftoverNodeDataIsWarnedAbout) {
  ASSERT_EQ(run_vsr(init()).status.code, 0);
  std::filesystem::create_directories(cluster_dir() / "nodes" / "n0");
  RunResult forced = run_vsr(init({"--force"}));
  ASSERT_EQ(forced.status.code, 0);
  EXPECT_THAT(forced.err, HasSubstr("warning: " + (cluster_dir() / "nodes").string()));
}

// A timeout is a finite number of seconds in the option's range: nan passed CLI11's range
// check (every comparison with nan is false) and reached a cast that is undefined behaviour.
TEST(CliFrame, TimeoutsThatAreNotFiniteNumbersOfSecondsExit2) {
  const std::vector<std::vector<std::string>> commands = {
      {"bank", "add", "x", "1"}, {"status"}, {"bench"}, {"sync-node", "n0"}};
  for (const auto& command : commands) {
    for (const std::string bad : {"nan", "NaN", "inf", "-inf", "-1", "0", "1e9", "ten", ""}) {
      std::vector<std::string> args = command;
      args.insert(args.end(), {"--timeout", bad});
      SCOPED_TRACE(fmt::format("{}", fmt::join(args, " ")));
      RunResult result = run_vsr(args);
      EXPECT_EQ(result.status.code, 2) << result.err;
      EXPECT_THAT(result.err, HasSubstr("--timeout"));
    }
  }
}

// A FIFO (or any file that is not a regular file) where cluster.tnet belongs is refused at
// once: opening a FIFO for reading used to wait for a writer for ever.
TEST(CliFrame, AClusterFileThatIsAFifoIsRefusedAtOnceWithExit2) {
  TempDir dir;
  ASSERT_EQ(::mkfifo((dir / "cluster.tnet").c_str(), 0600), 0);
  ASSERT_EQ(::mkfifo((dir / "client.tnet").c_str(), 0600), 0);
  for (const std::vector<std::string>& command : std::vector<std::vector<std::string>>{
           {"status"}, {"start-node", "n0"}, {"bank", "get", "x"}}) {
    std::vector<std::string> args{"--cluster-dir", dir.path().string()};
    args.insert(args.end(), command.begin(), command.end());
    RunResult result = run(vsr_binary, SpawnOptions{args, {}, {}}, std::chrono::seconds(10));
    EXPECT_FALSE(result.timed_out) << command.front();
    EXPECT_EQ(result.status.code, 2) << command.front() << ": " << result.err;
    EXPECT_THAT(result.err, HasSubstr("a FIFO, not a regular file")) << command.front();
  }
}

// An operation over the limit is refused by the client before anything is sent (exit 2),
// with --json too; no node needs to run. It used to reach a node, which closed the
// connection, and the client reported "outcome unknown" (exit 3) after retrying every node.
TEST_F(InitCluster, AnOversizedOperationIsRefusedBeforeItIsSentWithExit2) {
  ASSERT_EQ(run_vsr(init()).status.code, 0);
  const std::string value(70 * 1024, 'v');
  for (const bool json : {false, true}) {
    std::vector<std::string> args{
        "--cluster-dir", cluster_dir().string(), "catalog", "put", "k", value, "--timeout", "1"};
    if (json) args.push_back("--json");
    RunResult result = run_vsr(args);
    EXPECT_FALSE(result.timed_out);
    EXPECT_EQ(result.status.code, 2) << result.err;
    EXPECT_THAT(result.err, HasSubstr("more than the limit of 65536 bytes"));
    if (json) {
      EXPECT_THAT(result.out, HasSubstr("operation_too_large"));
    }
  }
}

}  // namespace
}  // namespace vsr::test
