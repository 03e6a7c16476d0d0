// The `vsr` executable: everything lives in vsr_cli so that tests can link it.

#include "cli.hpp"

int main(int argc, char** argv) {
  return vsr::cli::run_cli(argc, argv);
}
