// vsr_fuzz_seeds DIR: writes each fuzz target's seeds (seeds.cpp) to DIR/<target>/seed-N,
// the start of a corpus (tests/fuzz/corpus/ holds the committed one).

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "targets.hpp"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: vsr_fuzz_seeds DIR\n");
    return 2;
  }
  for (const vsr::fuzz::NamedTarget& t : vsr::fuzz::all_targets()) {
    const std::filesystem::path dir = std::filesystem::path(argv[1]) / t.name;
    std::filesystem::create_directories(dir);
    int n = 0;
    for (const std::string& seed : vsr::fuzz::seeds(t.name)) {
      std::ofstream out(dir / ("seed-" + std::to_string(n++)), std::ios::binary);
      out << seed;
    }
  }
  return 0;
}
