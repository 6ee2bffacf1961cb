// CSV tables of numbers (contract in source.h). Comma-separated; a field
// may be quoted ("1.5", "a, b" with "" for a quote) and may have spaces or
// tabs around it; lines end in \n or \r\n; a UTF-8 byte-order mark is
// skipped. The first row is a header when any of its fields is text that is
// not a number (an empty field is a gap in a row of data).
// Every other field must be a finite number that fits float32 ("nan",
// "inf" and empty fields are refused); blank lines may only end the file.
// With a label column, the header must name it, and its values must be
// non-negative integers: they become the labels, the other columns the
// examples, F32 [rows, columns]. Errors name the line and the character
// column where the field's text starts: "t.csv:3:5: error: 'abc' is not a
// number". The file is mapped, not copied; only the floats are allocated
// (at most two per byte of file, and files over 8 GiB are refused).
#include <cfloat>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <new>
#include <string_view>

#include "data/mapped_file.h"
#include "data/source.h"

namespace vaec::rt::data {
namespace {

struct Floats : Storage {
  std::vector<float> values;
};

struct Field {
  std::string text;  // unquoted, trimmed
  int64_t column = 0;  // 1-based character column where the text (or its quote) starts
  bool quoted = false;
};

constexpr uint64_t kMaxCsvBytes = uint64_t{8} << 30;

bool is_space(char c) { return c == ' ' || c == '\t'; }

// The 1-based character column of positions in one line, counted as the
// scan moves right (recounting from the line's start would make a line of n
// fields cost n^2). UTF-8: bytes that do not continue a character count.
class Columns {
 public:
  explicit Columns(const char *line) : at_(line) {}
  int64_t of(const char *p) {
    for (; at_ < p; ++at_) count_ += (static_cast<unsigned char>(*at_) & 0xC0) != 0x80;
    return count_ + 1;
  }

 private:
  const char *at_;
  int64_t count_ = 0;
};

// Splits one line (without its line end) into fields, or says where it is
// malformed.
bool split_line(const char *line, const char *end, std::vector<Field> &fields, std::string &problem,
                int64_t &problem_column) {
  fields.clear();
  const char *p = line;
  Columns columns(line);
  for (;;) {
    while (p < end && is_space(*p)) ++p;
    Field f;
    f.column = columns.of(p);
    if (p < end && *p == '"') {
      f.quoted = true;
      ++p;
      for (;;) {
        if (p == end) {
          problem = "unterminated quoted field", problem_column = f.column;
          return false;
        }
        if (*p == '"' && p + 1 < end && p[1] == '"') f.text += '"', p += 2;
        else if (*p == '"') break;
        else f.text += *p++;
      }
      ++p;
      while (p < end && is_space(*p)) ++p;
      if (p < end && *p != ',') {
        problem = "text after the closing quote", problem_column = columns.of(p);
        return false;
      }
    } else {
      const char *start = p;
      while (p < end && *p != ',') ++p;
      const char *stop = p;
      while (stop > start && is_space(stop[-1])) --stop;
      f.text.assign(start, stop);
    }
    fields.push_back(std::move(f));
    if (p == end) return true;
    ++p;  // the comma
  }
}

enum class Parse { Ok, NotANumber, NotFinite, TooLarge };

Parse parse_number(const std::string &text, double &v) {
  const char *b = text.data(), *e = b + text.size();
  if (b < e && *b == '+' && b + 1 < e && (b[1] == '.' || (b[1] >= '0' && b[1] <= '9'))) ++b;
  if (b == e) return Parse::NotANumber;
  const auto [ptr, ec] = std::from_chars(b, e, v);
  if (ptr != e || ec == std::errc::invalid_argument) return Parse::NotANumber;
  if (ec == std::errc::result_out_of_range) {
    // Underflow is a number that rounds to (almost) zero; overflow is not.
    v = std::strtod(std::string(b, e).c_str(), nullptr);
    if (std::fabs(v) >= 1) return Parse::TooLarge;
  }
  if (!std::isfinite(v)) return Parse::NotFinite;
  if (std::fabs(v) > FLT_MAX) return Parse::TooLarge;
  return Parse::Ok;
}

std::string quoted(const std::string &s) { return "'" + s + "'"; }

}  // namespace

bool read_csv(const std::string &path, const std::string &label_column, Split &out, std::vector<std::string> &columns,
              std::string &error) {
  std::shared_ptr<const MappedFile> file;
  if (!map_file(path, "a CSV file", file, error)) return false;
  if (file->size > kMaxCsvBytes)
    return error = path + ": is " + format_bytes(file->size) + ", more than the 8 GiB vaec reads as CSV", false;
  const char *p = reinterpret_cast<const char *>(file->data), *end = p + file->size;
  if (end - p >= 3 && std::string_view(p, 3) == "\xEF\xBB\xBF") p += 3;
  if (p == end) return error = path + ": is empty", false;

  auto at = [&](int64_t line, int64_t column) {
    return path + ":" + std::to_string(line) + (column > 0 ? ":" + std::to_string(column) : "") + ": error: ";
  };
  std::vector<std::string> header;
  bool have_header = false;
  int64_t width = -1, width_line = 0, label_index = -1, blank_line = 0, rows = 0;
  auto floats = std::make_shared<Floats>();
  std::vector<int32_t> labels;
  std::vector<Field> fields;
  std::string problem;
  int64_t line = 0;
  try {
    while (p < end) {
      ++line;
      const char *eol = p;
      while (eol < end && *eol != '\n') ++eol;
      const char *stop = eol > p && eol[-1] == '\r' ? eol - 1 : eol;
      const char *text = p;
      p = eol < end ? eol + 1 : eol;
      const char *q = text;
      while (q < stop && (is_space(*q) || *q == '\r')) ++q;
      if (q == stop) {
        if (!blank_line) blank_line = line;
        continue;
      }
      if (blank_line)
        return error = at(blank_line, 0) + "a blank line before line " + std::to_string(line) +
                       " (blank lines may only end the file)",
               false;
      int64_t problem_column = 0;
      if (!split_line(text, stop, fields, problem, problem_column))
        return error = at(line, problem_column) + problem, false;
      if (width < 0) {
        width = static_cast<int64_t>(fields.size()), width_line = line;
        double v;
        // (An empty field makes no header: "1,,3" is a row with a gap.)
        for (const Field &f : fields) have_header |= !f.text.empty() && parse_number(f.text, v) == Parse::NotANumber;
        if (have_header) {
          for (const Field &f : fields) header.push_back(f.text);
          if (!label_column.empty()) {
            for (size_t i = 0; i < header.size(); ++i)
              if (header[i] == label_column) {
                if (label_index >= 0)
                  return error = path + ": two columns are named " + quoted(label_column), false;
                label_index = static_cast<int64_t>(i);
              }
            if (label_index < 0) {
              std::string names;
              for (const std::string &h : header) names += (names.empty() ? "" : ", ") + quoted(h);
              return error = path + ": no column named " + quoted(label_column) + " (its columns: " + names + ")",
                     false;
            }
            if (width == 1)
              return error = path + ": has no columns besides the label column " + quoted(label_column), false;
          }
          continue;
        }
        if (!label_column.empty())
          return error = path + ": has no header row (line 1 is all numbers), so no column named " +
                         quoted(label_column),
                 false;
      }
      if (static_cast<int64_t>(fields.size()) != width)
        return error = at(line, 0) + std::to_string(fields.size()) + " fields, but " +
                       (have_header ? "the header has " : "line " + std::to_string(width_line) + " has ") +
                       std::to_string(width),
               false;
      for (size_t i = 0; i < fields.size(); ++i) {
        const Field &f = fields[i];
        double v = 0;
        const Parse r = parse_number(f.text, v);
        if (r == Parse::NotANumber)
          return error = at(line, f.column) + (f.text.empty() ? "an empty field" : quoted(f.text)) + " is not a number",
                 false;
        if (r == Parse::NotFinite) return error = at(line, f.column) + quoted(f.text) + " is not a finite number", false;
        if (r == Parse::TooLarge) return error = at(line, f.column) + quoted(f.text) + " does not fit in float32", false;
        if (static_cast<int64_t>(i) == label_index) {
          if (v < 0 || v != std::floor(v) || v >= 2147483647.0)
            return error = at(line, f.column) + "label " + quoted(f.text) + " is not a non-negative integer", false;
          labels.push_back(static_cast<int32_t>(v));
        } else {
          floats->values.push_back(static_cast<float>(v));
        }
      }
      ++rows;
    }
  } catch (const std::bad_alloc &) {
    return error = path + ": out of memory at line " + std::to_string(line), false;
  }
  if (rows == 0) return error = path + ": has no rows of data" + (have_header ? " after its header" : ""), false;
  std::vector<std::string> names;
  for (int64_t i = 0; i < static_cast<int64_t>(header.size()); ++i)
    if (i != label_index) names.push_back(header[static_cast<size_t>(i)]);
  out.x.shape = {rows, width - (label_index >= 0)};
  out.x.dtype = DType::F32;
  out.x.bytes = reinterpret_cast<const uint8_t *>(floats->values.data());
  out.x.storage = std::move(floats);
  out.y = std::move(labels);
  columns = std::move(names);
  return true;
}

}  // namespace vaec::rt::data
