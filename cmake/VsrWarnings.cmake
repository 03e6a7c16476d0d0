# vsr_warnings: the warning set every vsr target compiles with (errors with VSR_WERROR).
add_library(vsr_warnings INTERFACE)
target_compile_options(vsr_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wconversion -Wsign-conversion -Wshadow -Wold-style-cast
  -Wnon-virtual-dtor -Woverloaded-virtual -Wimplicit-fallthrough
  $<$<BOOL:${VSR_WERROR}>:-Werror>)
