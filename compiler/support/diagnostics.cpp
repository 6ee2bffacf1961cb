// Diagnostic collection, sorting and printing with source line and caret.
#include "support/diagnostics.h"

#include <algorithm>
#include <cctype>
#include <ostream>
#include <tuple>

namespace vaec {

void SourceManager::add(const std::string &file, std::string text) {
  // Columns are counted after a UTF-8 byte order mark, as yaml-cpp does.
  if (text.compare(0, 3, "\xef\xbb\xbf") == 0) text.erase(0, 3);
  texts_[file] = std::move(text);
}

std::string_view SourceManager::line(const std::string &file, int line) const {
  auto it = texts_.find(file);
  if (it == texts_.end() || line < 1) return {};
  std::string_view t = it->second;
  size_t pos = 0;
  for (int l = 1; l < line; ++l) {
    pos = t.find('\n', pos);
    if (pos == std::string_view::npos) return {};
    ++pos;
  }
  size_t end = t.find('\n', pos);
  if (end == std::string_view::npos) end = t.size();
  std::string_view s = t.substr(pos, end - pos);
  if (!s.empty() && s.back() == '\r') s.remove_suffix(1);
  return s;
}

Diagnostic &Diagnostics::error(const Loc &loc, std::string message, int length) {
  ++errors_;
  list_.push_back({Severity::Error, loc, std::move(message), std::max(length, 1), {}});
  return list_.back();
}

Diagnostic &Diagnostics::warning(const Loc &loc, std::string message, int length) {
  list_.push_back({Severity::Warning, loc, std::move(message), std::max(length, 1), {}});
  return list_.back();
}

void Diagnostics::note(Diagnostic &d, const Loc &loc, std::string message) {
  d.notes.push_back({Severity::Note, loc, std::move(message), 1, {}});
}

static const char *severity_name(Severity s) {
  switch (s) {
  case Severity::Error: return "error";
  case Severity::Warning: return "warning";
  case Severity::Note: return "note";
  }
  return "error";
}

// Length of the UTF-8 sequence starting at s[i], or 0 if it is not valid.
static size_t utf8_length(std::string_view s, size_t i) {
  unsigned char c = static_cast<unsigned char>(s[i]);
  size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k)
    if ((static_cast<unsigned char>(s[i + k]) >> 6) != 2) return 0;
  return n;
}

// Replaces what a terminal would misrender (control characters, bytes that
// are not valid UTF-8) with '?', so a quoted line or message is safe to print.
static std::string printable(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t n = utf8_length(s, i);
    if (n > 1) {
      out.append(s.substr(i, n));
      i += n;
      continue;
    }
    out += c == '\t' || (c >= 0x20 && c != 0x7f && n == 1) ? static_cast<char>(c) : '?';
    ++i;
  }
  return out;
}

// Columns count bytes (as yaml-cpp and clang do); the caret line counts
// characters, so it lines up under multi-byte UTF-8 text too.
static bool is_continuation(char c) { return (static_cast<unsigned char>(c) >> 6) == 2; }

// At most this many bytes of a source line are quoted; a longer line is shown
// as a window around the column.
constexpr int kQuoteWidth = 160;

void Diagnostics::print_one(std::ostream &os, const Diagnostic &d) const {
  if (!d.loc.file.empty()) {
    os << d.loc.file << ':';
    if (d.loc.known()) os << d.loc.line << ':' << d.loc.col << ':';
    os << ' ';
  } else {
    os << "vaec: ";
  }
  os << severity_name(d.severity) << ": " << printable(d.message) << '\n';
  if (sources_ && d.loc.known()) {
    std::string_view text = sources_->line(d.loc.file, d.loc.line);
    if (!text.empty() || d.loc.col == 1) {
      int col = d.loc.col;  // 1-based byte column within `text`
      std::string prefix, suffix;
      if (static_cast<int>(text.size()) > kQuoteWidth) {
        size_t start = col > kQuoteWidth / 2 ? static_cast<size_t>(col - kQuoteWidth / 2) : 0;
        start = std::min(start, text.size());
        while (start < text.size() && is_continuation(text[start])) ++start;
        size_t end = std::min(text.size(), start + kQuoteWidth);
        while (end < text.size() && is_continuation(text[end])) ++end;
        if (start > 0) prefix = "...";
        if (end < text.size()) suffix = "...";
        text = text.substr(start, end - start);
        col -= static_cast<int>(start);
      }
      os << "  " << prefix << printable(text) << suffix << '\n' << "  " << std::string(prefix.size(), ' ');
      // Keep tabs as tabs so the caret lines up in any terminal.
      int n = static_cast<int>(text.size());
      for (int i = 0; i + 1 < col && i < n; ++i)
        if (!is_continuation(text[i])) os << (text[i] == '\t' ? '\t' : ' ');
      os << '^';
      for (int i = col; i < col - 1 + d.length && i < n; ++i)
        if (!is_continuation(text[i])) os << '~';
      os << '\n';
    }
  }
  for (const Diagnostic &n : d.notes) print_one(os, n);
}

void Diagnostics::print(std::ostream &os) {
  // By file (in order of first report), then position; a strict weak order
  // even when errors without a location are mixed in.
  std::vector<std::string> files;
  for (const Diagnostic &d : list_)
    if (std::find(files.begin(), files.end(), d.loc.file) == files.end()) files.push_back(d.loc.file);
  auto rank = [&](const Diagnostic &d) {
    return std::make_tuple(std::find(files.begin(), files.end(), d.loc.file) - files.begin(), d.loc.line, d.loc.col);
  };
  std::stable_sort(list_.begin(), list_.end(),
                   [&](const Diagnostic &a, const Diagnostic &b) { return rank(a) < rank(b); });
  int shown = 0;
  for (size_t i = 0; i < list_.size(); ++i) {
    const Diagnostic &d = list_[i];
    // The same message at the same place (a tensor reached twice through a
    // YAML alias, say) is said once.
    // After sorting, diagnostics at one place are neighbours.
    bool repeated = false;
    for (size_t j = i; j-- > 0 && list_[j].loc == d.loc && !repeated;)
      repeated = list_[j].severity == d.severity && list_[j].message == d.message;
    if (repeated) continue;
    if (d.severity == Severity::Error && ++shown > max_errors_) continue;
    print_one(os, d);
  }
  if (shown > max_errors_)
    os << "vaec: error: too many errors (" << shown << "); showing the first " << max_errors_
       << '\n';
  list_.clear();
}

static size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i)
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t sub = d[i - 1][j - 1] + (std::tolower(a[i - 1]) != std::tolower(b[j - 1]));
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, sub});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);  // transposition
    }
  return d[a.size()][b.size()];
}

std::string closest_match(std::string_view word, const std::vector<std::string> &candidates) {
  if (word.size() > 64) return "";
  std::string best;
  // Allow one edit per three characters: "encodr" -> "encoder", but a
  // one-letter name suggests nothing.
  size_t best_d = (word.size() + 1) / 3 + 1;
  for (const std::string &c : candidates) {
    if (c == word || c.size() > 64) continue;
    size_t gap = c.size() > word.size() ? c.size() - word.size() : word.size() - c.size();
    if (gap >= best_d) continue;  // the distance is at least the length difference
    size_t d = edit_distance(word, c);
    if (d < best_d) {
      best_d = d;
      best = c;
    }
  }
  return best;
}

std::string did_you_mean(std::string_view word, const std::vector<std::string> &candidates) {
  std::string m = closest_match(word, candidates);
  return m.empty() ? "" : "; did you mean '" + m + "'?";
}

}  // namespace vaec
