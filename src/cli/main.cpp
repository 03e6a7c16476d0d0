// The `vsr` executable: everything lives in vsr_cli so that tests can link it.

#include <sodium.h>

#include "cli.hpp"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

int main(int argc, char** argv) {
#if defined(__GLIBC__)
  // No fastbins: glibc merges every fastbin chunk (malloc_consolidate) whenever a chunk of
  // 1 KiB or more is requested, and a node allocates such buffers (prepares, frames) while
  // small messages are freed around them; under load that merging cost about an eighth of
  // a node's CPU. The per-thread cache still serves small allocations without locking.
  mallopt(M_MXFAST, 0);
#endif
  // libsodium picks its fastest BLAKE2b (the frame MAC, config checksums) for this CPU in
  // sodium_init(); without it every MAC runs the portable code, about twice as slow.
  if (::sodium_init() < 0) return 4;  // the environment error of product.md
  return vsr::cli::run_cli(argc, argv);
}
