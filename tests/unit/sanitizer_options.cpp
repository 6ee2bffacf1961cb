// The unit tests' sanitizer defaults in a sanitized build: a report exits
// with status 86, never the 1 of a refusal (support/sanitizer_options.h).
#include "support/sanitizer_options.h"
