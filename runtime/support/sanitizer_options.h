// The sanitizers' defaults for vaec's programs, in a sanitized build
// (VAEC_SANITIZE=ON): a report exits with status 86. ASan's and UBSan's own
// default, 1, is also vaec's and the trainer's error status, so a test that
// expects a refusal would pass on a report. ASAN_OPTIONS and UBSAN_OPTIONS
// in the environment still override these. Include it from the one file that
// defines main() (it defines the hooks the sanitizer runtimes look up).
#pragma once

#if defined(__SANITIZE_ADDRESS__)
extern "C" const char *__asan_default_options() { return "exitcode=86"; }
extern "C" const char *__ubsan_default_options() { return "exitcode=86:print_stacktrace=1"; }
#endif
