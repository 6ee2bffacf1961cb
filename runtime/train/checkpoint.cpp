// Checkpoint files (format and contract in checkpoint.h): encoding, the
// crash-safe write, and a reader that checks every length before using it.
#include "train/checkpoint.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <new>

#include "support/files.h"
#include "support/text.h"

namespace vaec::rt {
namespace {

constexpr char kMagic[8] = {'V', 'A', 'E', 'C', 'K', 'P', 'T', '\0'};
constexpr uint32_t kVersion = 4;  // reads 2 (without the data statistics) and 3 (without the running ones)
constexpr size_t kFixedHeader = 100;  // up to and including the model name's length
constexpr uint32_t kMaxRegions = 64, kMaxNames = 1024;

std::string errno_text() { return std::strerror(errno); }

// --- encoding ---

struct Writer {
  std::string bytes;
  template <typename T>
  void put(T v) {
    bytes.append(reinterpret_cast<const char *>(&v), sizeof v);
  }
  void put_string(const std::string &s) {
    put<uint32_t>(static_cast<uint32_t>(s.size()));
    bytes += s;
  }
};

std::string encode(const Checkpoint &c) {
  Writer w;
  // The regions where they are, or the copies (write_checkpoint checked their sizes).
  std::vector<const float *> regions = c.region_views;
  if (regions.empty())
    for (const std::vector<float> &r : c.regions) regions.push_back(r.data());
  // Sized once: a string that doubled its way up held both copies for a moment.
  size_t size = 256 + c.model.size() + regions.size() * static_cast<size_t>(std::max<int64_t>(0, c.param_count)) * 4 +
                c.history.rows.size() * (8 + 16 * c.history.names.size()) + c.epoch_sums.size() * 8 +
                (c.data_mean.size() + c.data_std.size() + c.stats.size()) * 4;
  for (const std::string &n : c.history.names) size += 4 + n.size();
  w.bytes.reserve(size);
  w.bytes.append(kMagic, sizeof kMagic);
  w.put<uint32_t>(kVersion);
  w.put<uint32_t>(c.drop_last ? 1u : 0u);  // flags
  w.put<uint64_t>(0);  // the length, patched below
  w.put<uint64_t>(c.model_hash);
  w.put<int64_t>(c.epoch);
  w.put<int64_t>(c.epoch_step);
  w.put<uint64_t>(c.global_step);
  w.put<uint64_t>(c.seed);
  w.put<double>(c.lr);
  w.put<uint32_t>(c.threads);
  w.put<uint32_t>(static_cast<uint32_t>(regions.size()));
  w.put<int64_t>(c.param_count);
  w.put<int64_t>(c.batch);
  w.put_string(c.model);
  if (c.param_count > 0)
    for (const float *r : regions) w.bytes.append(reinterpret_cast<const char *>(r), static_cast<size_t>(c.param_count) * 4);
  const LossHistory &h = c.history;
  w.put<uint32_t>(static_cast<uint32_t>(h.names.size()));
  for (const std::string &n : h.names) w.put_string(n);
  w.put<uint32_t>(static_cast<uint32_t>(h.rows.size()));
  for (const LossHistory::Row &row : h.rows) {
    w.put<int64_t>(row.epoch);
    for (const std::vector<double> *v : {&row.train, &row.test})
      for (size_t i = 0; i < h.names.size(); ++i) w.put<double>(i < v->size() ? (*v)[i] : NAN);
  }
  w.put<uint32_t>(static_cast<uint32_t>(c.epoch_sums.size()));
  for (double v : c.epoch_sums) w.put<double>(v);
  w.put<uint32_t>(static_cast<uint32_t>(c.data_mean.size()));
  for (const std::vector<float> *v : {&c.data_mean, &c.data_std})
    w.bytes.append(reinterpret_cast<const char *>(v->data()), c.data_mean.size() * 4);
  w.put<uint32_t>(static_cast<uint32_t>(c.stats.size()));
  w.bytes.append(reinterpret_cast<const char *>(c.stats.data()), c.stats.size() * 4);
  const uint64_t length = w.bytes.size() + 8;
  std::memcpy(w.bytes.data() + 16, &length, 8);
  w.put<uint64_t>(fnv1a64(w.bytes.data(), w.bytes.size()));
  return std::move(w.bytes);
}

// Reads fields in order; every read checks the bytes are there.
struct Reader {
  const std::string &bytes;
  size_t pos, end;
  bool ok = true;

  template <typename T>
  T get() {
    T v{};
    if (!ok || end - pos < sizeof v) return ok = false, v;
    std::memcpy(&v, bytes.data() + pos, sizeof v);
    pos += sizeof v;
    return v;
  }
  std::string get_string() {
    const uint32_t n = get<uint32_t>();
    if (!ok || end - pos < n) return ok = false, std::string();
    std::string s = bytes.substr(pos, n);
    pos += n;
    return s;
  }
};

}  // namespace

uint64_t fnv1a64(const void *data, size_t bytes, uint64_t hash) {
  const unsigned char *p = static_cast<const unsigned char *>(data);
  for (size_t i = 0; i < bytes; ++i) hash = (hash ^ p[i]) * 0x100000001b3ull;
  return hash;
}

uint64_t model_identity(const plan::Plan &plan) {
  std::string text = "vaec-identity 1\nmodel " + plan.model + "\n";
  for (const auto &[key, value] : plan.config)
    if (key != "batch" && key != "threads" && key != "team" && key != "cpu_features")  // not the model: its machine
      text += "config " + key + " " + value + "\n";
  const int64_t region_start =
      plan.param_region >= 0 && plan.param_region < int(plan.buffers.size()) ? plan.buffers[plan.param_region].offset : 0;
  for (const plan::Param &p : plan.params) {
    const bool known = p.buffer >= 0 && p.buffer < int(plan.buffers.size());
    text += "param " + p.name + " " + std::to_string(known ? plan.buffers[p.buffer].elements : -1) + " " +
            std::to_string(known ? plan.buffers[p.buffer].offset - region_start : -1);
    for (int64_t d : p.dims) text += " " + std::to_string(d);
    text += "\n";
  }
  for (const plan::Stat &t : plan.stats) {  // only models with statistics: other identities stay as they were
    text += "stat " + t.name;
    for (int64_t d : t.dims) text += " " + std::to_string(d);
    text += "\n";
  }
  text += "param_count " + std::to_string(plan.param_count) + "\nstate " + std::to_string(plan.state_regions.size()) +
          "\noptimizer " + plan.optimizer_kernel + "\n";
  return fnv1a64(text.data(), text.size());
}

bool write_checkpoint(const std::string &path, const Checkpoint &c, std::string &error) {
  if (c.param_count > 0)
    for (const float *r : c.region_views)
      if (!r) return error = path + ": not written: a region without values", false;
  for (const std::vector<float> &r : c.regions)
    if (static_cast<int64_t>(r.size()) != c.param_count)
      return error = path + ": not written: a region has " + std::to_string(r.size()) + " values, not " +
                     std::to_string(c.param_count),
             false;
  return replace_file(path, encode(c), true, error);
}

// Reads `n` bytes at `offset`; false at a short read.
static bool read_at(int fd, char *into, size_t n, uint64_t offset) {
  for (size_t done = 0; done < n;) {
    const ssize_t got = ::pread(fd, into + done, n - done, static_cast<off_t>(offset + done));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return false;
    done += static_cast<size_t>(got);
  }
  return true;
}

bool read_checkpoint(const std::string &path, Checkpoint &out, std::string &error) {
  uint64_t size = 0;
  const int fd = open_regular(path, "a checkpoint", size, error);
  if (fd < 0) return false;
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  // The header first: its length must match the file's real size before
  // the rest is allocated and read.
  std::string bytes(static_cast<size_t>(std::min<uint64_t>(size, kFixedHeader + 8)), '\0');
  if (!read_at(fd, bytes.data(), bytes.size(), 0)) return error = path + ": cannot read: " + errno_text(), false;
  const std::string what = path + ": ";
  if (bytes.size() < sizeof kMagic || std::memcmp(bytes.data(), kMagic, sizeof kMagic) != 0)
    return error = what + "not a vaec checkpoint (it does not start with VAECKPT)", false;
  if (size < kFixedHeader + 8)
    return error = what + "truncated: " + std::to_string(size) + " bytes, shorter than the header", false;
  Reader r{bytes, sizeof kMagic, bytes.size()};
  const uint32_t version = r.get<uint32_t>();
  if (version < 2 || version > kVersion)
    return error = what + "checkpoint format version " + std::to_string(version) + "; this trainer reads versions 2 to " +
                   std::to_string(kVersion),
           false;
  const bool drop_last = (r.get<uint32_t>() & 1u) != 0;  // the flags word
  const uint64_t length = r.get<uint64_t>();
  if (length > size)
    return error = what + "truncated: " + std::to_string(size) + " bytes of the " + std::to_string(length) +
                   " it should have",
           false;
  if (length < size) return error = what + "damaged: " + std::to_string(size - length) + " bytes after its end", false;
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
  if (pages > 0 && page > 0 && size / uint64_t(page) > uint64_t(pages) / 2)
    return error = what + "is " + format_bytes(size) + ", more than half of this machine's memory", false;
  try {
    bytes.resize(static_cast<size_t>(size));
  } catch (const std::bad_alloc &) {
    return error = what + "cannot allocate " + format_bytes(size) + " to read it", false;
  }
  errno = 0;
  if (!read_at(fd, bytes.data() + kFixedHeader + 8, size - kFixedHeader - 8, kFixedHeader + 8))
    return error = what + "cannot read: " + (errno ? errno_text() : "the file shrank while being read"), false;
  uint64_t stored;
  std::memcpy(&stored, bytes.data() + bytes.size() - 8, 8);
  if (fnv1a64(bytes.data(), bytes.size() - 8) != stored)
    return error = what + "corrupt: the checksum does not match its contents", false;

  r.end = bytes.size() - 8;
  Checkpoint c;
  c.drop_last = drop_last;
  c.model_hash = r.get<uint64_t>();
  c.epoch = r.get<int64_t>();
  c.epoch_step = r.get<int64_t>();
  c.global_step = r.get<uint64_t>();
  c.seed = r.get<uint64_t>();
  c.lr = r.get<double>();
  c.threads = r.get<uint32_t>();
  const uint32_t regions = r.get<uint32_t>();
  c.param_count = r.get<int64_t>();
  c.batch = r.get<int64_t>();
  c.model = r.get_string();
  const auto malformed = [&](const std::string &why) { return error = what + "malformed: " + why, false; };
  if (!r.ok) return malformed("the header runs past the end");
  if (c.epoch < 0 || c.epoch_step < 0) return malformed("negative epoch count");
  if (c.batch < 1) return malformed("batch " + std::to_string(c.batch));
  if (regions > kMaxRegions || c.param_count < 0 ||
      static_cast<uint64_t>(c.param_count) > (r.end - r.pos) / 4 / std::max<uint32_t>(regions, 1))
    return malformed(std::to_string(regions) + " regions of " + std::to_string(c.param_count) +
                     " values do not fit in the file");
  for (uint32_t i = 0; i < regions; ++i) {
    std::vector<float> &region = c.regions.emplace_back(static_cast<size_t>(c.param_count));
    if (!region.empty()) std::memcpy(region.data(), bytes.data() + r.pos, region.size() * 4);  // data() may be null
    r.pos += region.size() * 4;
  }
  const uint32_t names = r.get<uint32_t>();
  if (!r.ok || names > kMaxNames) return malformed("bad loss-name count");
  for (uint32_t i = 0; i < names && r.ok; ++i) c.history.names.push_back(r.get_string());
  const uint32_t rows = r.get<uint32_t>();
  if (!r.ok || rows > (r.end - r.pos) / (8 + 16 * uint64_t{names})) return malformed("bad loss-history length");
  for (uint32_t i = 0; i < rows; ++i) {
    LossHistory::Row &row = c.history.rows.emplace_back();
    row.epoch = r.get<int64_t>();
    for (std::vector<double> *v : {&row.train, &row.test})
      for (uint32_t k = 0; k < names; ++k) v->push_back(r.get<double>());
  }
  if (!r.ok) return malformed("the loss history runs past the end");
  const uint32_t sums = r.get<uint32_t>();
  if (!r.ok || sums > (r.end - r.pos) / 8) return malformed("bad count of epoch loss sums");
  for (uint32_t i = 0; i < sums; ++i) c.epoch_sums.push_back(r.get<double>());
  if (version >= 3) {
    const uint32_t stats = r.get<uint32_t>();
    if (!r.ok || stats > (r.end - r.pos) / 8) return malformed("bad count of data statistics");
    for (uint32_t i = 0; i < stats; ++i) c.data_mean.push_back(r.get<float>());
    for (uint32_t i = 0; i < stats; ++i) c.data_std.push_back(r.get<float>());
    for (float v : c.data_std)
      if (!(v > 0) || !std::isfinite(v)) return malformed("a data standard deviation is not positive");
  }
  if (version >= 4) {
    const uint32_t stats = r.get<uint32_t>();
    if (!r.ok || stats > (r.end - r.pos) / 4) return malformed("bad count of running statistics");
    for (uint32_t i = 0; i < stats; ++i) c.stats.push_back(r.get<float>());
  }
  if (r.pos != r.end) return malformed(std::to_string(r.end - r.pos) + " unread bytes before the checksum");
  out = std::move(c);
  return true;
}

bool checkpoint_fits(const Checkpoint &c, const std::string &path, uint64_t hash, const plan::Plan &plan,
                     std::string &error) {
  auto hex = [](uint64_t v) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
    return std::string(buf);
  };
  if (c.model != plan.model)
    return error = path + " is a checkpoint of model '" + c.model + "', not of '" + plan.model +
                   "', which this trainer trains",
           false;
  if (c.model_hash != hash)
    return error = path + " was written by another compilation of model '" + c.model + "' (model hash " +
                   hex(c.model_hash) + ", this trainer's is " + hex(hash) +
                   "): its parameters, optimizer or train settings differ; resume with the trainer that wrote it",
           false;
  if (static_cast<int64_t>(c.stats.size()) != plan.stat_count)
    return error = path + ": its " + std::to_string(c.stats.size()) + " running statistics do not fit this model's " +
                   std::to_string(plan.stat_count),
           false;
  if (c.param_count != plan.param_count || c.regions.size() != 1 + plan.state_regions.size())
    return error = path + ": its " + std::to_string(c.regions.size()) + " regions of " +
                   std::to_string(c.param_count) + " values do not fit this model's " +
                   std::to_string(1 + plan.state_regions.size()) + " of " + std::to_string(plan.param_count),
           false;
  return true;
}

}  // namespace vaec::rt
