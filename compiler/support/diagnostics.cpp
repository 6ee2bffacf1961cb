// Diagnostic collection, sorting and printing with source line and caret.
#include "support/diagnostics.h"

#include <algorithm>
#include <cctype>
#include <ostream>

namespace vaec {

void SourceManager::add(const std::string &file, std::string text) {
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

// Replaces bytes a terminal would misrender (control characters, invalid
// UTF-8 is left alone only if printable ASCII) so a quoted line is safe.
static std::string printable(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (c == '\t' || (c >= 0x20 && c != 0x7f)) out += static_cast<char>(c);
    else out += '?';
  }
  return out;
}

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
      if (text.size() > 200) text = text.substr(0, 200);
      os << "  " << printable(text) << '\n' << "  ";
      // Keep tabs as tabs so the caret lines up in any terminal.
      for (int i = 0; i + 1 < d.loc.col && i < static_cast<int>(text.size()); ++i)
        os << (text[i] == '\t' ? '\t' : ' ');
      os << '^';
      for (int i = 1; i < d.length && d.loc.col - 1 + i < static_cast<int>(text.size()); ++i)
        os << '~';
      os << '\n';
    }
  }
  for (const Diagnostic &n : d.notes) print_one(os, n);
}

void Diagnostics::print(std::ostream &os) {
  std::stable_sort(list_.begin(), list_.end(), [](const Diagnostic &a, const Diagnostic &b) {
    if (a.loc.file != b.loc.file) return false;
    if (a.loc.line != b.loc.line) return a.loc.line < b.loc.line;
    return a.loc.col < b.loc.col;
  });
  int shown = 0;
  for (const Diagnostic &d : list_) {
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
