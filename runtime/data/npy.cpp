// .npy and .npz files (NumPy's formats; contract in source.h).
//
// .npy: "\x93NUMPY", a version byte pair (1.0: a u16 header length; 2.0 and
// 3.0: u32), then a Python dict literal such as
//   {'descr': '<f4', 'fortran_order': False, 'shape': (60000, 28, 28), }
// padded with spaces and ended by '\n', then the array's bytes. The dict is
// parsed as the literal it is (any key order, whitespace, trailing commas,
// 1-tuples, Python 2's 60000L), not matched as text. A .npy is mapped, never
// copied.
//
// .npz: a ZIP archive of NAME.npy members (np.savez stores them,
// np.savez_compressed deflates them). Every offset and size read from the
// archive is checked against the file before use. The sizes come from the
// central directory (ZIP64 extra fields when 0xFFFFFFFF, as numpy writes for
// large arrays); a local header, which numpy always gives a ZIP64 extra
// field and which may defer its sizes to a data descriptor, is read only
// for where the data starts and to see that it names the same member. Stored members are arrays pointing into
// the one mapping of the archive; deflated members are inflated into memory
// of their own after their stated size passes deflate's 1032:1 limit, and
// their CRC-32 is checked (a stored member's is not: that would read the
// whole mapping, which is what mapping avoids).
#include <zlib.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <set>

#include "data/mapped_file.h"
#include "data/source.h"

namespace vaec::rt::data {
namespace {

// --- the .npy header's dict literal ---

struct Value {
  enum Kind { Str, Bool, Tuple } kind = Str;
  std::string text;
  bool flag = false;
  std::vector<int64_t> ints;
};

class HeaderParser {
 public:
  HeaderParser(const char *begin, const char *end) : begin_(begin), p_(begin), end_(end) {}

  // Fills descr, fortran and shape; on failure, `problem` says what is wrong.
  bool parse(std::string &descr, bool &fortran, std::vector<int64_t> &shape, std::string &problem) {
    bool have_descr = false, have_fortran = false, have_shape = false;
    skip_space();
    if (!eat('{')) return fail("it does not start with '{'", problem);
    for (;;) {
      skip_space();
      if (eat('}')) break;
      Value key, value;
      if (peek() != '\'' && peek() != '"') return fail("expected a quoted key", problem);
      if (!parse_value(key, problem)) return false;
      skip_space();
      if (!eat(':')) return fail("expected ':' after '" + key.text + "'", problem);
      skip_space();
      if (key.text != "descr" && key.text != "fortran_order" && key.text != "shape")
        return fail("unexpected key '" + key.text + "'", problem);
      if (key.text == "descr" && (peek() == '[' || peek() == '{'))
        return fail("its descr is a structured dtype (named fields); vaec reads plain arrays", problem);
      if (!parse_value(value, problem)) return false;
      if (key.text == "descr") {
        if (have_descr || value.kind != Value::Str) return fail("'descr' must be given once, as a string", problem);
        descr = value.text, have_descr = true;
      } else if (key.text == "fortran_order") {
        if (have_fortran || value.kind != Value::Bool)
          return fail("'fortran_order' must be given once, as True or False", problem);
        fortran = value.flag, have_fortran = true;
      } else if (key.text == "shape") {
        if (have_shape || value.kind != Value::Tuple) return fail("'shape' must be given once, as a tuple", problem);
        shape = value.ints, have_shape = true;
      }
      skip_space();
      if (eat(',')) continue;
      skip_space();
      if (eat('}')) break;
      return fail("expected ',' or '}'", problem);
    }
    skip_space();
    if (p_ != end_) return fail("text after the closing '}'", problem);
    if (!have_descr || !have_fortran || !have_shape)
      return fail(std::string("it lacks '") + (!have_descr ? "descr" : !have_fortran ? "fortran_order" : "shape") + "'",
                  problem);
    return true;
  }

 private:
  const char *begin_, *p_, *end_;

  char peek() const { return p_ < end_ ? *p_ : '\0'; }
  bool eat(char c) { return p_ < end_ && *p_ == c ? (++p_, true) : false; }
  void skip_space() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\t' || *p_ == '\n' || *p_ == '\r')) ++p_;
  }
  bool fail(const std::string &what, std::string &problem) {
    problem = what + " (at byte " + std::to_string(p_ - begin_) + " of the dict)";
    return false;
  }
  bool word(const char *w) {
    const size_t n = std::strlen(w);
    if (static_cast<size_t>(end_ - p_) < n || std::memcmp(p_, w, n) != 0) return false;
    p_ += n;
    return true;
  }

  bool parse_value(Value &v, std::string &problem) {
    const char c = peek();
    if (c == '\'' || c == '"') {
      ++p_;
      v.kind = Value::Str;
      while (p_ < end_ && *p_ != c) {
        if (*p_ == '\\' && p_ + 1 < end_) ++p_;
        v.text += *p_++;
      }
      if (!eat(c)) return fail("unterminated string", problem);
      return true;
    }
    if (word("True")) return v.kind = Value::Bool, v.flag = true, true;
    if (word("False")) return v.kind = Value::Bool, v.flag = false, true;
    if (c == '(') {
      ++p_;
      v.kind = Value::Tuple;
      skip_space();
      if (eat(')')) return true;  // (): a 0-d array
      for (;;) {
        skip_space();
        if (peek() < '0' || peek() > '9') return fail("expected a dimension in the shape", problem);
        int64_t n = 0;
        while (peek() >= '0' && peek() <= '9') {
          if (__builtin_mul_overflow(n, 10, &n) || __builtin_add_overflow(n, *p_ - '0', &n))
            return fail("a dimension of the shape is too large", problem);
          ++p_;
        }
        eat('L');  // Python 2 wrote longs as 60000L
        v.ints.push_back(n);
        skip_space();
        if (eat(')')) return true;
        if (!eat(',')) return fail("expected ',' or ')' in the shape", problem);
        skip_space();
        if (eat(')')) return true;  // (5,) or a trailing comma
      }
    }
    return fail(c ? std::string("unexpected '") + c + "'" : std::string("unexpected end"), problem);
  }
};

uint16_t u16(const uint8_t *p) { return static_cast<uint16_t>(p[0] | p[1] << 8); }
uint32_t u32(const uint8_t *p) { return u16(p) | static_cast<uint32_t>(u16(p + 2)) << 16; }
uint64_t u64(const uint8_t *p) { return u32(p) | static_cast<uint64_t>(u32(p + 4)) << 32; }

bool dtype_of(const std::string &descr, DType &t) {
  if (descr == "|u1" || descr == "<u1" || descr == ">u1" || descr == "u1") return t = DType::U8, true;
  if (descr == "<f4") return t = DType::F32, true;
  if (descr == "<f8") return t = DType::F64, true;
  if (descr == "<i4") return t = DType::I32, true;
  if (descr == "<i8") return t = DType::I64, true;
  return false;
}

// Parses the .npy held in [p, p + size) and points `out` into it. `name`
// starts messages ("data/x.npy", "data/d.npz: member x.npy"); `holder`
// ("file", "member") says what holds the bytes.
bool parse_npy(const uint8_t *p, size_t size, const std::string &name, const char *holder, Array &out,
               std::string &error) {
  static const uint8_t magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
  if (size < 10 || std::memcmp(p, magic, 6) != 0)
    return error = name + ": not a .npy " + holder + " (no \\x93NUMPY magic at its start)", false;
  const int major = p[6], minor = p[7];
  if ((major != 1 && major != 2 && major != 3) || minor != 0)
    return error = name + ": .npy format version " + std::to_string(major) + "." + std::to_string(minor) +
                   " is not 1.0, 2.0 or 3.0",
           false;
  if (major > 1 && size < 12) return error = name + ": too short for a .npy header", false;
  const size_t start = major == 1 ? 10 : 12;
  const uint64_t length = major == 1 ? u16(p + 8) : u32(p + 8);
  if (length > size - start)
    return error = name + ": the .npy header's length (" + std::to_string(length) + " bytes) runs past the end of the " +
                   holder + " (" + std::to_string(size) + " bytes)",
           false;
  const size_t offset = start + static_cast<size_t>(length);
  if (length == 0 || p[offset - 1] != '\n')
    return error = name + ": the .npy header is not terminated by a newline", false;
  const char *text = reinterpret_cast<const char *>(p + start);
  std::string descr, problem;
  bool fortran = false;
  std::vector<int64_t> shape;
  if (!HeaderParser(text, text + length).parse(descr, fortran, shape, problem)) {
    std::string shown(text, std::min<size_t>(length - 1, 200));
    while (!shown.empty() && (shown.back() == ' ' || shown.back() == '\n')) shown.pop_back();  // numpy's padding
    return error = name + ": malformed .npy header: " + problem + ": " + shown, false;
  }
  DType dtype;
  if (!dtype_of(descr, dtype)) {
    const bool big = descr.size() > 1 && descr[0] == '>';
    return error = name + ": dtype '" + descr + "' " +
                   (big ? "is big-endian; save it little-endian (a.astype(a.dtype.newbyteorder('<')))"
                        : "is not one of uint8, float32, float64, int32, int64 ('|u1', '<f4', '<f8', '<i4', '<i8')"),
           false;
  }
  uint64_t elements = 1;
  bool overflow = false;
  for (int64_t d : shape) overflow |= __builtin_mul_overflow(elements, static_cast<uint64_t>(d), &elements);
  uint64_t bytes = 0;
  overflow |= __builtin_mul_overflow(elements, static_cast<uint64_t>(dtype_size(dtype)), &bytes);
  if (overflow) return error = name + ": the shape's size overflows 64 bits", false;
  if (fortran && shape.size() > 1 && elements > 1)
    return error = name + ": the array is in Fortran order; save it with np.ascontiguousarray", false;
  const uint64_t have = size - offset;
  if (bytes != have)
    return error = name + ": " + (bytes > have ? "truncated: " : "") + "header promises " + std::to_string(bytes) +
                   " bytes of data after its " + std::to_string(offset) + "-byte header, the " + holder + " has " +
                   std::to_string(have) + (bytes < have ? " (" + std::to_string(have - bytes) + " trailing bytes)" : ""),
           false;
  out.shape = std::move(shape);
  out.dtype = dtype;
  out.bytes = p + offset;
  out.storage.reset();
  return true;
}

// --- .npz ---

struct Member {
  std::string name;
  uint16_t flags = 0, method = 0;
  uint32_t crc = 0;
  uint64_t compressed = 0, size = 0, local = 0;
};

constexpr uint64_t kMax32 = 0xFFFFFFFF;

// The central directory's entries, every offset checked against the file.
bool read_directory(const std::string &path, const MappedFile &f, std::vector<Member> &members, std::string &error) {
  const uint8_t *p = f.data;
  const uint64_t size = f.size;
  if (size < 22) return error = path + ": not a ZIP archive (too short; an .npz is a ZIP archive from np.savez)", false;
  // The end record is the last 22 bytes, unless an archive comment (at most
  // 65535 bytes) follows it.
  uint64_t end = size - 22;
  const uint64_t lowest = size - 22 > 65535 ? size - 22 - 65535 : 0;
  while (!(u32(p + end) == 0x06054b50 && end + 22 + u16(p + end + 20) <= size)) {
    if (end == lowest) return error = path + ": not a ZIP archive (no end-of-central-directory record)", false;
    --end;
  }
  uint64_t disk = u16(p + end + 4), cd_disk = u16(p + end + 6), on_disk = u16(p + end + 8),
           entries = u16(p + end + 10), cd_size = u32(p + end + 12), cd_offset = u32(p + end + 16);
  uint64_t cd_limit = end;
  if (end >= 20 && u32(p + end - 20) == 0x07064b50) {
    // ZIP64: the locator before the end record points at the ZIP64 end record.
    const uint64_t z = u64(p + end - 12);
    if (u32(p + end - 4) != 1) disk = 1;  // total number of disks
    if (z > end - 20 || end - 20 - z < 56 || u32(p + z) != 0x06064b50)
      return error = path + ": damaged ZIP archive (the ZIP64 end record is missing or out of place)", false;
    disk |= u32(p + z + 16), cd_disk = u32(p + z + 20), on_disk = u64(p + z + 24), entries = u64(p + z + 32),
        cd_size = u64(p + z + 40), cd_offset = u64(p + z + 48);
    cd_limit = z;
  } else if (cd_size == kMax32 || cd_offset == kMax32) {
    return error = path + ": damaged ZIP archive (ZIP64 sizes without a ZIP64 end record)", false;
  }
  if (disk != 0 || cd_disk != 0 || on_disk != entries)
    return error = path + ": is part of a multi-disk (split) ZIP archive; vaec reads single-file archives", false;
  if (cd_offset > cd_limit || cd_size > cd_limit - cd_offset)
    return error = path + ": damaged ZIP archive (the central directory lies outside the file)", false;
  if (entries > cd_size / 46)
    return error = path + ": damaged ZIP archive (" + std::to_string(entries) + " entries cannot fit in a " +
                   std::to_string(cd_size) + "-byte central directory)",
           false;
  uint64_t q = cd_offset;
  const uint64_t cd_end = cd_offset + cd_size;
  for (uint64_t i = 0; i < entries; ++i) {
    if (cd_end - q < 46 || u32(p + q) != 0x02014b50)
      return error = path + ": damaged ZIP archive (central directory entry " + std::to_string(i) + " is malformed)",
             false;
    const uint64_t name_len = u16(p + q + 28), extra_len = u16(p + q + 30), comment_len = u16(p + q + 32);
    if (cd_end - q - 46 < name_len + extra_len + comment_len)
      return error = path + ": damaged ZIP archive (central directory entry " + std::to_string(i) +
                     " runs past the directory)",
             false;
    Member m;
    m.flags = u16(p + q + 8);
    m.method = u16(p + q + 10);
    m.crc = u32(p + q + 16);
    m.compressed = u32(p + q + 20);
    m.size = u32(p + q + 24);
    const uint64_t start_disk = u16(p + q + 34);
    m.local = u32(p + q + 42);
    m.name.assign(reinterpret_cast<const char *>(p + q + 46), name_len);
    // The ZIP64 extra field holds, in this order, each of the sizes and the
    // offset that the fixed fields give as 0xFFFFFFFF.
    const uint8_t *x = p + q + 46 + name_len, *x_end = x + extra_len;
    while (x_end - x >= 4) {
      const uint16_t id = u16(x), len = u16(x + 2);
      if (x_end - x - 4 < len) break;
      if (id == 0x0001) {
        const uint8_t *y = x + 4, *y_end = y + len;
        for (uint64_t *field : {&m.size, &m.compressed, &m.local}) {
          if (*field != kMax32) continue;
          if (y_end - y < 8)
            return error = path + ": damaged ZIP archive (a truncated ZIP64 extra field for " + m.name + ")", false;
          *field = u64(y), y += 8;
        }
      }
      x += 4 + len;
    }
    if (start_disk != 0 && start_disk != 0xFFFF)
      return error = path + ": is part of a multi-disk (split) ZIP archive; vaec reads single-file archives", false;
    members.push_back(std::move(m));
    q += 46 + name_len + extra_len + comment_len;
  }
  return true;
}

bool inflate_member(const std::string &name, const uint8_t *in, uint64_t in_size, uint8_t *out, uint64_t out_size,
                    std::string &error) {
  z_stream zs{};
  if (inflateInit2(&zs, -15) != Z_OK) return error = name + ": cannot start zlib", false;
  zs.next_out = out;  // never null, even for an empty member
  // avail_in and avail_out are 32-bit: feed members over 4 GiB in pieces.
  const uint64_t piece = uint64_t{1} << 30;
  uint64_t in_left = in_size, out_left = out_size;
  int rc = Z_OK;
  for (;;) {
    if (zs.avail_in == 0 && in_left > 0) {
      zs.next_in = const_cast<Bytef *>(in + (in_size - in_left));
      zs.avail_in = static_cast<uInt>(std::min(in_left, piece));
      in_left -= zs.avail_in;
    }
    if (zs.avail_out == 0 && out_left > 0) {
      zs.next_out = out + (out_size - out_left);
      zs.avail_out = static_cast<uInt>(std::min(out_left, piece));
      out_left -= zs.avail_out;
    }
    rc = inflate(&zs, Z_NO_FLUSH);
    if (rc == Z_STREAM_END) break;
    if (rc == Z_OK) continue;
    if (rc == Z_BUF_ERROR && zs.avail_out == 0 && out_left == 0) {
      error = name + ": inflates to more than the " + std::to_string(out_size) + " bytes its directory entry states";
    } else if (rc == Z_BUF_ERROR) {
      error = name + ": the compressed data ends early (truncated archive?)";
    } else {
      error = name + ": cannot inflate: " + (zs.msg ? zs.msg : "zlib error " + std::to_string(rc));
    }
    inflateEnd(&zs);
    return false;
  }
  const uint64_t produced = out_size - out_left - zs.avail_out;
  inflateEnd(&zs);
  if (produced != out_size)
    return error = name + ": inflates to " + std::to_string(produced) + " bytes, but its directory entry states " +
                   std::to_string(out_size),
           false;
  return true;
}

// The longest output deflate can produce per input byte (a 258-byte match in
// 2 bits), with room for a stream's few bytes of framing.
constexpr uint64_t kMaxDeflateRatio = 1032;

bool read_member(const std::string &path, const std::shared_ptr<const MappedFile> &file, const Member &m, Array &out,
                 std::string &error) {
  const std::string name = path + ": member " + m.name;
  if (m.flags & 0x41) return error = name + " is encrypted; vaec reads unencrypted archives", false;
  if (m.method != 0 && m.method != 8) {
    const char *known = m.method == 12 ? " (bzip2)" : m.method == 14 ? " (LZMA)" : m.method == 93 ? " (Zstandard)"
                      : m.method == 99 ? " (AES encryption)" : "";
    return error = name + " uses compression method " + std::to_string(m.method) + known +
                   "; vaec reads stored (np.savez) and deflated (np.savez_compressed) members",
           false;
  }
  const uint8_t *p = file->data;
  const uint64_t size = file->size;
  if (m.local > size || size - m.local < 30 || u32(p + m.local) != 0x04034b50)
    return error = name + ": damaged ZIP archive (its local header is missing or outside the file)", false;
  const uint64_t name_len = u16(p + m.local + 26), extra_len = u16(p + m.local + 28);
  const uint64_t data = m.local + 30 + name_len + extra_len;
  if (data > size || m.compressed > size - data)
    return error = name + ": damaged ZIP archive (its " + std::to_string(m.compressed) +
                   " bytes of data run past the end of the file)",
           false;
  if (name_len != m.name.size() || std::memcmp(p + m.local + 30, m.name.data(), name_len) != 0)
    return error = name + ": damaged ZIP archive (the local header names another file)", false;
  if (m.method == 0) {
    if (m.compressed != m.size)
      return error = name + ": damaged ZIP archive (a stored member of " + std::to_string(m.size) +
                     " bytes occupies " + std::to_string(m.compressed) + ")",
             false;
    if (!parse_npy(p + data, m.size, name, "member", out, error)) return false;
    out.storage = file;  // the arrays of an archive share its mapping
    return true;
  }
  if (m.size / kMaxDeflateRatio > m.compressed + 16)
    return error = name + " claims to inflate " + std::to_string(m.compressed) + " bytes to " + std::to_string(m.size) +
                   ", beyond deflate's 1032:1 limit (a damaged or malicious archive)",
           false;
  std::shared_ptr<OwnedBytes> owned;
  if (!allocate_bytes(m.size, name, owned, error)) return false;
  if (!inflate_member(name, p + data, m.compressed, owned->data, m.size, error)) return false;
  if (crc32_z(0, owned->data, m.size) != m.crc)
    return error = name + ": CRC-32 mismatch after inflating (the archive is damaged)", false;
  if (!parse_npy(owned->data, m.size, name, "member", out, error)) return false;
  out.storage = std::move(owned);
  return true;
}

}  // namespace

bool read_npy(const std::string &path, Array &out, std::string &error) {
  std::shared_ptr<const MappedFile> file;
  if (!map_file(path, "a .npy file", file, error)) return false;
  if (!parse_npy(file->data, file->size, path, "file", out, error)) return false;
  out.storage = std::move(file);
  return true;
}

bool read_npz(const std::string &path, const std::vector<std::string> &names,
              std::vector<std::pair<std::string, Array>> &out, std::string &error) {
  std::shared_ptr<const MappedFile> file;
  if (!map_file(path, "an .npz file", file, error)) return false;
  std::vector<Member> members;
  if (!read_directory(path, *file, members, error)) return false;
  std::vector<std::pair<std::string, Array>> arrays;
  std::set<std::string> seen;
  for (const Member &m : members) {
    // np.load lists the .npy members; anything else rode along in the archive.
    if (m.name.size() < 4 || m.name.compare(m.name.size() - 4, 4, ".npy") != 0) continue;
    const std::string key = m.name.substr(0, m.name.size() - 4);
    if (!seen.insert(key).second) return error = path + ": holds two members named " + m.name, false;
    if (!names.empty() && std::find(names.begin(), names.end(), key) == names.end()) {
      arrays.emplace_back(key, Array{});  // listed (for messages and duplicates), not read
      continue;
    }
    Array a;
    if (!read_member(path, file, m, a, error)) return false;
    arrays.emplace_back(key, std::move(a));
  }
  out = std::move(arrays);
  return true;
}

bool read_npz(const std::string &path, std::vector<std::pair<std::string, Array>> &out, std::string &error) {
  return read_npz(path, {}, out, error);
}

}  // namespace vaec::rt::data
