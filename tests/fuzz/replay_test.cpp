// The replay driver: every fuzz target (targets.hpp) runs once over each file of its
// corpus, tests/fuzz/corpus/<name>/, and over its seeds (seeds.cpp), without mutation, in
// the ordinary test build (under ASan + UBSan in `make check`). An input that once
// crashed a target is saved into its corpus, so the crash stays fixed. A target aborts on a
// violated property, which fails the test binary.

#include <gtest/gtest.h>

#include <cctype>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "targets.hpp"

namespace vsr::fuzz {
namespace {

std::string read_all(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

int run(Target target, const std::string& input) {
  return target(reinterpret_cast<const std::uint8_t*>(input.data()), input.size());
}

class FuzzReplay : public ::testing::TestWithParam<NamedTarget> {};

TEST_P(FuzzReplay, RunsItsCorpusAndSeeds) {
  const NamedTarget& t = GetParam();
  const std::filesystem::path dir = std::filesystem::path(VSR_FUZZ_CORPUS_DIR) / t.name;
  ASSERT_TRUE(std::filesystem::is_directory(dir)) << dir << " is every target's corpus";
  std::size_t files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    EXPECT_EQ(run(t.run, read_all(entry.path())), 0) << entry.path();
    files += 1;
  }
  EXPECT_GT(files, 0u) << dir << " is empty";
  const std::vector<std::string> made = seeds(t.name);
  EXPECT_FALSE(made.empty()) << "no seeds for " << t.name;
  for (const std::string& seed : made) EXPECT_EQ(run(t.run, seed), 0);
  // The empty input and every prefix of the first seed: truncated input is the commonest
  // damage.
  EXPECT_EQ(run(t.run, ""), 0);
  if (!made.empty()) {
    for (std::size_t n = 0; n < made.front().size(); ++n) run(t.run, made.front().substr(0, n));
  }
}

/// "wal_segment" → "WalSegment", for the test's name.
std::string test_name(const ::testing::TestParamInfo<NamedTarget>& param) {
  std::string name;
  bool upper = true;
  for (const char c : std::string(param.param.name)) {
    if (c == '_') {
      upper = true;
      continue;
    }
    name += upper ? static_cast<char>(std::toupper(static_cast<unsigned char>(c))) : c;
    upper = false;
  }
  return name;
}

INSTANTIATE_TEST_SUITE_P(Targets, FuzzReplay, ::testing::ValuesIn(all_targets()), test_name);

}  // namespace
}  // namespace vsr::fuzz
