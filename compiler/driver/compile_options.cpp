// Compile options as text (contract in compile_options.h).
#include "driver/compile_options.h"

#include <unistd.h>


namespace vaec {

int default_threads() {
  const long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n >= 1 && n <= 4096 ? static_cast<int>(n) : 1;
}

}  // namespace vaec
