// Diagnostics for people: "file:line:col: error: message", the source line, a
// caret under the column, notes, every error of a run (capped), sorted by
// position. Nothing in vaec prints an error any other way.
#pragma once

#include <iosfwd>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace vaec {

// A position in a source file; line and col are 1-based, 0 means unknown.
struct Loc {
  std::string file;
  int line = 0;
  int col = 0;
  bool known() const { return line > 0; }
  bool operator==(const Loc &) const = default;
};

// Remembers the text of every file read, so diagnostics can quote lines.
class SourceManager {
public:
  void add(const std::string &file, std::string text);
  // The text of line `line` (1-based) of `file` without its newline, or "".
  std::string_view line(const std::string &file, int line) const;

private:
  std::map<std::string, std::string> texts_;
};

enum class Severity { Error, Warning, Note };

struct Diagnostic {
  Severity severity;
  Loc loc;
  std::string message;
  int length = 1;  // characters to underline
  std::vector<Diagnostic> notes;
};

class Diagnostics {
public:
  explicit Diagnostics(const SourceManager *sources = nullptr, int max_errors = 20)
      : sources_(sources), max_errors_(max_errors) {}

  // Returns the diagnostic so a note can be attached: d.error(...).notes...
  Diagnostic &error(const Loc &loc, std::string message, int length = 1);
  Diagnostic &warning(const Loc &loc, std::string message, int length = 1);
  static void note(Diagnostic &d, const Loc &loc, std::string message);

  int error_count() const { return errors_; }
  bool has_errors() const { return errors_ > 0; }
  // True once far more errors were reported than will be shown: callers may
  // then skip costly extras such as "did you mean".
  bool flooded() const { return errors_ > 10 * max_errors_; }

  // Prints everything collected (sorted by file position, errors capped) and
  // clears the list.
  void print(std::ostream &os);

private:
  void print_one(std::ostream &os, const Diagnostic &d) const;
  const SourceManager *sources_;
  int max_errors_;
  int errors_ = 0;
  std::vector<Diagnostic> list_;
};

// The closest candidate to `word` by edit distance, or "" if none is close
// enough to be a plausible misspelling.
std::string closest_match(std::string_view word, const std::vector<std::string> &candidates);
// "; did you mean 'x'?" or "".
std::string did_you_mean(std::string_view word, const std::vector<std::string> &candidates);

}  // namespace vaec
