// The inspection commands' table, their options and the parsing of option
// values (inspect.h has the commands themselves).
#pragma once

#include <charconv>
#include <cstdint>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace vaec::rt {

struct Command {
  const char *name, *options, *help;
};
inline const Command kCommands[] = {
    {"reconstruct", "count json", "PNG grid: test images (rows) over their reconstructions from mu"},
    {"sample", "count seed label condition", "PNG grid of decoded draws z ~ N(0, I) (a conditional model: --label D, else one class a column)"},
    {"manifold", "n dims label condition", "PNG: the n x n grid of decoded z at Gaussian quantiles (two latent dims, others 0)"},
    {"interpolate", "from to steps label condition", "PNG strip: image a, decodes of (i/N) mu_b + (1 - i/N) mu_a, image b"},
    {"scatter", "dims count", "PNG: test-set mu (two dims) coloured by label"},
    {"concept", "labels images strength", "PNG: images plus s * (mean mu of label A - of label B), s in -S..S"},
    {"eval", "images iwae-images k seed", "test -ELBO (recon + KL) and the IWAE estimate of -log p(x)"},
    {"export", "file", "the weights as safetensors (YAML names, PyTorch layouts)"},
};
inline const char *const kCommon = "out checkpoint data test threads png help";

inline const Command *find_command(const std::string &name) {
  for (const Command &c : kCommands)
    if (name == c.name) return &c;
  return nullptr;
}

inline bool in_list(const std::string &list, const std::string &word) {
  std::istringstream in(list);
  for (std::string w; in >> w;)
    if (w == word) return true;
  return false;
}

struct Args {
  std::map<std::string, std::string> v;
  bool has(const std::string &k) const { return v.count(k) > 0; }
  std::string get(const std::string &k, const std::string &def) const {
    auto it = v.find(k);
    return it == v.end() ? def : it->second;
  }
};

inline bool to_int(const std::string &s, int64_t lo, int64_t hi, int64_t &out) {
  int64_t x = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), x);
  if (ec != std::errc() || p != s.data() + s.size() || x < lo || x > hi) return false;
  out = x;
  return true;
}

// "3,7" -> {3, 7}
inline bool to_ints(const std::string &s, int64_t lo, int64_t hi, std::vector<int64_t> &out) {
  out.clear();
  std::stringstream in(s);
  for (std::string part; std::getline(in, part, ',');) {
    int64_t x;
    if (!to_int(part, lo, hi, x)) return false;
    out.push_back(x);
  }
  return !out.empty();
}

}  // namespace vaec::rt
