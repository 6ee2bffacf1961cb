// The progress bar of a training epoch on stderr, when stderr is a terminal.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

#include "support/text.h"

namespace vaec::rt {

// `[=====>     ] 61% 34,567 img/s` on stderr, redrawn at most 10 times a
// second, and only when stderr is a terminal.
class ProgressBar {
 public:
  explicit ProgressBar(bool enabled) : enabled_(enabled && isatty(STDERR_FILENO)) {}
  void update(int64_t done, int64_t total, double images_per_second) {
    if (!enabled_ || std::chrono::steady_clock::now() - last_ < std::chrono::milliseconds(100)) return;
    last_ = std::chrono::steady_clock::now();
    constexpr int kWidth = 30;
    const int filled = static_cast<int>(kWidth * done / std::max<int64_t>(total, 1));
    std::string bar(kWidth, ' ');
    for (int i = 0; i < filled; ++i) bar[i] = '=';
    if (filled < kWidth) bar[filled] = '>';
    std::fprintf(stderr, "\r[%s] %3d%% %s img/s\033[K", bar.c_str(), int(100 * done / std::max<int64_t>(total, 1)),
                 grouped(int64_t(images_per_second)).c_str());
    std::fflush(stderr);
    drawn_ = true;
  }
  void clear() {
    if (drawn_) std::fprintf(stderr, "\r\033[K"), std::fflush(stderr);
    drawn_ = false;
  }

 private:
  bool enabled_, drawn_ = false;
  std::chrono::steady_clock::time_point last_{};
};

}  // namespace vaec::rt
