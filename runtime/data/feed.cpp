// Splits, layouts and the transform of examples into model rows (contract
// in feed.h).
#include "data/feed.h"

#include <immintrin.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>

#include "abi/bf16_rounding.h"
#include "abi/philox.h"
#include "support/text.h"

namespace vaec::rt::data {
namespace {

std::string shape_text(const std::vector<int64_t> &s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

int64_t elements(const std::vector<int64_t> &s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

bool parse_double(const std::string &text, double &v) {
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  return ec == std::errc() && p == text.data() + text.size();
}

// The seeded choice of validation examples (feed.h): sorted indices.
std::vector<int64_t> validation_examples(int64_t n, double fraction, uint64_t seed) {
  const int64_t k = std::llround(fraction * double(n));
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::seed_seq seq{uint32_t(seed), uint32_t(seed >> 32), 0x76616cu};  // "val"
  std::mt19937_64 gen(seq);
  for (int64_t i = n - 1; i > 0; --i) {
    const uint64_t m = uint64_t(i) + 1, limit = UINT64_MAX - UINT64_MAX % m;
    uint64_t x;
    do x = gen(); while (x >= limit);
    std::swap(order[i], order[x % m]);
  }
  order.resize(k);
  std::sort(order.begin(), order.end());
  return order;
}

// A row of bytes as floats, float(v) * scale, and with `rounded` each of
// those rounded to bfloat16 too (vcvtneps2bf16 is abi/bf16_rounding.h's
// rounding), 16 at a time in one pass: the common feed, MNIST's bytes
// (docs/BENCHMARKS.md, "The input's bf16 copy written by the feed").
__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16"))) void scale_bytes_avx512(
    const uint8_t *src, int64_t n, float scale, float *out, uint16_t *rounded) {
  const __m512 s = _mm512_set1_ps(scale);
  for (int64_t j = 0; j < n; j += 16) {
    const auto lanes = static_cast<__mmask16>(n - j >= 16 ? 0xffffu : (1u << (n - j)) - 1);
    // (the masked forms: GCC 12 warns about the unmasked ones' undefined pass-through)
    const __m512i ints = _mm512_maskz_cvtepu8_epi32(0xFFFF, _mm_maskz_loadu_epi8(lanes, src + j));
    const __m512 v = _mm512_mul_ps(_mm512_maskz_cvtepi32_ps(0xFFFF, ints), s);
    _mm512_mask_storeu_ps(out + j, lanes, v);
    if (rounded) _mm256_mask_storeu_epi16(rounded + j, lanes, (__m256i)_mm512_cvtneps_pbh(v));
  }
}

void scale_bytes(const uint8_t *__restrict src, int64_t n, float scale, float *__restrict out, uint16_t *rounded) {
  if (has_avx512_bf16()) return scale_bytes_avx512(src, n, scale, out, rounded);
  for (int64_t j = 0; j < n; ++j) out[j] = float(src[j]) * scale;
  if (rounded) round_bf16(out, rounded, n);
}

}  // namespace

const char *binarize_name(Binarize b) {
  return b == Binarize::Static ? "static" : b == Binarize::Dynamic ? "dynamic" : "none";
}

bool settings_from_config(const std::map<std::string, std::string> &config, Settings &out, std::string &error) {
  auto get = [&](const char *k) {
    auto it = config.find(k);
    return it == config.end() ? std::string() : it->second;
  };
  out = Settings{};
  out.data = get("data");
  out.path = get("data_path");
  out.test_path = get("test_path");
  out.label_column = get("label");
  for (std::string rest = get("condition_inputs"); !rest.empty();) {
    const size_t comma = rest.find(',');
    out.arrays.push_back(rest.substr(0, comma));
    rest = comma == std::string::npos ? "" : rest.substr(comma + 1);
  }
  const std::string validation = get("validation"), scale = get("scale"), binarize = get("binarize"),
                    standardize = get("standardize"), seed = get("seed");
  if (!validation.empty() && (!parse_double(validation, out.validation) || !(out.validation >= 0 && out.validation < 1)))
    return error = "the plan's validation '" + validation + "' is not a fraction in [0, 1)", false;
  if (!scale.empty() && scale != "auto" && (!parse_double(scale, out.scale) || !(out.scale > 0) || !std::isfinite(out.scale)))
    return error = "the plan's scale '" + scale + "' is not auto or a positive number", false;
  if (binarize == "static") out.binarize = Binarize::Static;
  else if (binarize == "dynamic") out.binarize = Binarize::Dynamic;
  else if (!binarize.empty() && binarize != "none") return error = "the plan's binarize '" + binarize + "' is unknown", false;
  if (standardize == "yes") out.standardize = true;
  else if (!standardize.empty() && standardize != "no") return error = "the plan's standardize '" + standardize + "' is not yes or no", false;
  if (!seed.empty()) {
    auto [p, ec] = std::from_chars(seed.data(), seed.data() + seed.size(), out.seed);
    if (ec != std::errc() || p != seed.data() + seed.size()) return error = "the plan's seed '" + seed + "' is not a number", false;
  }
  return true;
}

bool model_input_from_config(const std::map<std::string, std::string> &config, std::string &name,
                             std::vector<int64_t> &shape, std::string &error) {
  auto it = config.find("input_shape");
  auto nt = config.find("input");
  if (it == config.end() || nt == config.end())
    return error = "the plan does not state its input (config input, input_shape); recompile the model", false;
  name = nt->second;
  shape.clear();
  std::string part;
  for (size_t i = 0; i <= it->second.size(); ++i) {
    if (i < it->second.size() && it->second[i] != ',') {
      part += it->second[i];
      continue;
    }
    int64_t d = 0;
    auto [p, ec] = std::from_chars(part.data(), part.data() + part.size(), d);
    if (ec != std::errc() || p != part.data() + part.size() || d < 1 || d > (int64_t{1} << 31))
      return error = "the plan's input_shape '" + it->second + "' is not a list of sizes", false;
    shape.push_back(d);
    part.clear();
  }
  return true;
}

std::map<std::string, std::string> settings_to_config(const Settings &s) {
  char scale[32];
  std::snprintf(scale, sizeof scale, "%.17g", s.scale);
  char validation[32];
  std::snprintf(validation, sizeof validation, "%.17g", s.validation);
  std::map<std::string, std::string> c{{"data", s.data},
                                       {"data_path", s.path},
                                       {"validation", validation},
                                       {"scale", s.scale > 0 ? scale : "auto"},
                                       {"binarize", binarize_name(s.binarize)},
                                       {"standardize", s.standardize ? "yes" : "no"}};
  if (!s.test_path.empty()) c["test_path"] = s.test_path;
  if (!s.label_column.empty()) c["label"] = s.label_column;
  return c;
}

std::string describe_array(const Array &x) {
  return grouped(x.count()) + " × " + shape_text(x.item_shape()) + " " + dtype_name(x.dtype);
}

bool fit_layout(const Array &x, const std::string &file, const std::string &input_name,
                const std::vector<int64_t> &model_shape, Layout &out, std::string &error) {
  const std::vector<int64_t> S = x.item_shape(), &M = model_shape;
  out = Layout{S, M, {}, "as stored"};
  const bool channels_last = S.size() == 3 && S[2] <= 4 && S[2] < S[0] && S[2] < S[1];
  // model element (c, h, w) of a [C, H, W] image = stored element (h, w, c)
  auto to_chw = [&](int64_t H, int64_t W, int64_t C) {
    out.from.resize(H * W * C);
    for (int64_t c = 0; c < C; ++c)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t w = 0; w < W; ++w) out.from[(c * H + h) * W + w] = static_cast<int32_t>((h * W + w) * C + c);
  };
  if (S == M) return true;
  if (S.size() == 3 && M.size() == 3 && S[0] == M[1] && S[1] == M[2] && S[2] == M[0]) {
    if (S[2] > 1) to_chw(S[0], S[1], S[2]);
    out.how = "channels-last to " + shape_text(M);
    return true;
  }
  if (S.size() == 2 && M.size() == 3 && M[0] == 1 && S[0] == M[1] && S[1] == M[2]) return out.how = "a grey image", true;
  if (M.size() == 1 && elements(S) == M[0]) {
    if (channels_last && S[2] > 1) {
      to_chw(S[0], S[1], S[2]);
      out.how = "channels-last to [C, H, W], flattened";
    } else {
      out.how = "flattened";
    }
    return true;
  }
  if (S.size() == 1 && S[0] == elements(M)) return out.how = "a flat row shaped " + shape_text(M), true;
  error = file + ": examples of shape " + shape_text(S) + " (" + dtype_name(x.dtype) + ") do not fit the model's input " +
          input_name + ": " + shape_text(M) + " (an image is [H, W], [H, W, C] or [C, H, W]; a [D] input takes any example of D elements)";
  return false;
}

Feed::Feed(const Split *split, std::vector<int64_t> examples, const Layout *layout, float scale, Binarize binarize,
           const Standardization *standard, uint64_t seed)
    : split_(split), examples_(std::move(examples)), layout_(layout), scale_(scale), binarize_(binarize),
      standard_(standard && !standard->mean.empty() ? standard : nullptr), seed_(seed) {}

int64_t Feed::row() const { return split_ ? split_->x.item_elements() : 0; }

void Feed::fill_labels(const int64_t *which, int64_t n, int64_t classes, float *dst) const {
  std::fill(dst, dst + n * classes, 0.0f);
  for (int64_t i = 0; i < n; ++i) dst[i * classes + split_->y[examples_[which[i]]]] = 1.0f;
}

int32_t Feed::label_beyond(int64_t classes) const {
  for (int64_t e : examples_)
    if (split_->y[e] >= classes) return split_->y[e];
  return -1;
}

std::string Feed::check_array(const std::string &name, int64_t row) const {
  const Array *a = split_ ? split_->array(name) : nullptr;
  if (!a)
    return "has no array '" + name + "' for the model's condition input " + name +
           " (a condition comes from an .npz member of its name, and NAME_test for the test split)";
  if (a->item_elements() != row)
    return "its array '" + name + "' has " + std::to_string(a->item_elements()) + " numbers per example, but the "
           "model's input " + name + " takes " + std::to_string(row);
  return "";
}

void Feed::fill_array(const std::string &name, const int64_t *which, int64_t n, int64_t row, float *dst) const {
  const Array &a = *split_->array(name);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < row; ++j) dst[i * row + j] = static_cast<float>(a.value(examples_[which[i]], j));
}

bool Feed::raw_bytes() const {
  return split_ && split_->x.dtype == DType::U8 && (!layout_ || layout_->from.empty()) && scale_ == float(1.0 / 255.0) &&
         !standard_ && binarize_ == Binarize::None;
}

void Feed::fill_bytes(const int64_t *which, int64_t n, uint8_t *dst) const {
  const int64_t bytes = split_->x.item_bytes();
  for (int64_t i = 0; i < n; ++i) std::memcpy(dst + i * bytes, split_->x.bytes + examples_[which[i]] * bytes, bytes);
}

void Feed::fill(const int64_t *which, int64_t n, float *dst, int64_t epoch, int threads, uint16_t *rounded) const {
  constexpr int64_t kAhead = 2;
  const Array &x = split_->x;
  const int64_t row = x.item_elements(), bytes = x.item_bytes();
  const int32_t *from = layout_ && !layout_->from.empty() ? layout_->from.data() : nullptr;
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1 && n * row >= 8192)
  for (int64_t i = 0; i < n; ++i) {
    // A batch's examples lie anywhere in the data (shuffled), mostly out of
    // cache: the example two rows on is fetched while this one is converted.
    if (i + kAhead < n)
      for (int64_t b = 0, e = std::min<int64_t>(bytes, 4096); b < e; b += 64)
        __builtin_prefetch(x.bytes + examples_[which[i + kAhead]] * bytes + b);
    const int64_t example = examples_[which[i]];
    const uint8_t *src = x.bytes + example * bytes;
    float *out = dst + i * row;
    uint16_t *copy = rounded ? rounded + i * row : nullptr;
    const bool transformed = standard_ || binarize_ != Binarize::None;
    bool copied = false;
    switch (x.dtype) {  // unaligned sources: element by element through memcpy
    case DType::U8:
      if (from)
        for (int64_t j = 0; j < row; ++j) out[j] = float(src[from[j]]) * scale_;
      else {  // the common case: rounded in the same pass when nothing follows
        scale_bytes(src, row, scale_, out, transformed ? nullptr : copy);
        copied = !transformed;
      }
      break;
    case DType::F32:
      for (int64_t j = 0; j < row; ++j) {
        float v;
        std::memcpy(&v, src + 4 * (from ? from[j] : j), 4);
        out[j] = v * scale_;
      }
      break;
    case DType::F64:
      for (int64_t j = 0; j < row; ++j) {
        double v;
        std::memcpy(&v, src + 8 * (from ? from[j] : j), 8);
        out[j] = float(v) * scale_;
      }
      break;
    default:
      for (int64_t j = 0; j < row; ++j) out[j] = float(x.value(example, from ? from[j] : j)) * scale_;
    }
    if (standard_)
      for (int64_t j = 0; j < row; ++j) out[j] = (out[j] - standard_->mean[j]) / standard_->std[j];
    if (binarize_ == Binarize::Static) {
      for (int64_t j = 0; j < row; ++j) out[j] = out[j] > 0.5f ? 1.0f : 0.0f;
    } else if (binarize_ == Binarize::Dynamic) {
      for (int64_t j0 = 0; j0 < row; j0 += 4) {
        const Philox4x32 w = philox4x32_10({{uint32_t(j0 / 4), uint32_t(example), uint32_t(epoch), 0xB1u << 24}},
                                           uint32_t(seed_), uint32_t(seed_ >> 32));
        for (int64_t j = j0; j < std::min(row, j0 + 4); ++j) {
          const float u = float(w.w[j - j0] >> 8) * 0x1p-24f;
          out[j] = u < out[j] ? 1.0f : 0.0f;
        }
      }
    }
    if (copy && !copied) round_bf16(out, copy, row);
  }
}

namespace {

bool open_test(const Settings &s, Data &d, std::string &error) {
  if (s.test_path.empty()) return true;
  if (!open_source(s.test_path, {s.label_column, s.arrays}, d.test_source, error)) return false;
  // A test file is one split: its training split (x, the IDX train files, the
  // folder's images) is the test set.
  if (!d.test_source.test.present()) d.test_source.test = std::move(d.test_source.train);
  d.test_source.train = {};
  return true;
}

}  // namespace

bool load_data(const Settings &s, const std::string &input_name, const std::vector<int64_t> &model_shape,
               const Standardization *stored, Data &d, std::string &error) {
  d.settings = s;
  if (s.path.empty()) return error = "the plan names no data (config data_path); pass --data PATH", false;
  if (!open_source(s.path, {s.label_column, s.arrays}, d.source, error) || !open_test(s, d, error)) return false;
  const Split &train = d.source.train;
  if (!train.present()) return error = s.path + ": no training examples", false;
  if (!fit_layout(train.x, s.path, input_name, model_shape, d.layout, error)) return false;
  const Source &ts = d.test_owner();
  const Split &test = ts.test;
  if (test.present()) {
    if (!fit_layout(test.x, ts.path, input_name, model_shape, d.test_layout, error)) return false;
    if (test.x.dtype != train.x.dtype)
      return error = ts.path + ": test examples are " + dtype_name(test.x.dtype) + ", training examples " +
                     dtype_name(train.x.dtype) + " (" + s.path + "); the transform needs one type",
             false;
  }
  const float scale = s.scale > 0 ? float(s.scale) : train.x.dtype == DType::U8 ? float(1.0 / 255.0) : 1.0f;

  // The training examples less the validation ones.
  std::vector<int64_t> held = s.validation > 0 ? validation_examples(train.x.count(), s.validation, s.seed)
                                               : std::vector<int64_t>{};
  std::vector<int64_t> kept;
  kept.reserve(train.x.count() - held.size());
  for (int64_t i = 0, h = 0; i < train.x.count(); ++i) {
    if (h < int64_t(held.size()) && held[h] == i) ++h;
    else kept.push_back(i);
  }
  if (kept.empty()) return error = s.path + ": validation " + std::to_string(s.validation) + " leaves no training examples", false;
  if (s.validation > 0 && held.empty())
    return error = s.path + ": validation " + std::to_string(s.validation) + " of " + std::to_string(train.x.count()) +
                   " examples holds out none",
           false;

  // Standardize: the checkpoint's statistics, or the training split's.
  const int64_t row = train.x.item_elements();
  if (s.standardize) {
    if (stored && !stored->mean.empty()) {
      if (int64_t(stored->mean.size()) != row || int64_t(stored->std.size()) != row)
        return error = "the checkpoint's standardization has " + std::to_string(stored->mean.size()) +
                       " elements, the data " + std::to_string(row),
               false;
      d.standard = *stored;
    } else {
      Feed raw(&train, kept, &d.layout, scale, Binarize::None, nullptr, s.seed);
      std::vector<double> sum(row), sq(row);
      std::vector<float> buf(row);
      for (int64_t i = 0; i < raw.count(); ++i) {
        raw.fill(&i, 1, buf.data(), 0);
        for (int64_t j = 0; j < row; ++j) sum[j] += buf[j], sq[j] += double(buf[j]) * buf[j];
      }
      d.standard.mean.resize(row), d.standard.std.resize(row);
      const double n = double(raw.count());
      for (int64_t j = 0; j < row; ++j) {
        const double mean = sum[j] / n, var = std::max(0.0, sq[j] / n - mean * mean), sd = std::sqrt(var);
        d.standard.mean[j] = float(mean);
        d.standard.std[j] = sd > 0 && std::isfinite(sd) ? float(sd) : 1.0f;
      }
    }
  }
  d.train = Feed(&train, std::move(kept), &d.layout, scale, s.binarize, &d.standard, s.seed);
  if (test.present()) {
    std::vector<int64_t> all(test.x.count());
    std::iota(all.begin(), all.end(), 0);
    d.test = Feed(&test, std::move(all), &d.test_layout, scale, s.binarize, &d.standard, s.seed);
  }
  if (!held.empty()) {
    d.eval = Feed(&train, std::move(held), &d.layout, scale, s.binarize, &d.standard, s.seed);
    d.eval_name = "validation";
  } else if (test.present()) {
    d.eval = d.test;
    d.eval_name = "test";
  }
  return true;
}

}  // namespace vaec::rt::data
