// Diagnostics: formatting with source line and caret, sorting, the cap, and
// "did you mean".
#include <gtest/gtest.h>

#include <sstream>

#include "support/diagnostics.h"

using namespace vaec;

TEST(Diagnostics, PrintsLocationLineAndCaret) {
  SourceManager sm;
  sm.add("m.yaml", "a: 1\n  bad: here\n");
  Diagnostics d(&sm);
  d.error(Loc{"m.yaml", 2, 3}, "something is wrong", 3);
  std::ostringstream os;
  d.print(os);
  EXPECT_EQ(os.str(), "m.yaml:2:3: error: something is wrong\n  "
                      "  bad: here\n    ^~~\n");
}

TEST(Diagnostics, SortsByPositionAndKeepsNotes) {
  SourceManager sm;
  sm.add("m.yaml", "one\ntwo\nthree\n");
  Diagnostics d(&sm);
  Diagnostic &late = d.error(Loc{"m.yaml", 3, 1}, "late");
  Diagnostics::note(late, Loc{"m.yaml", 1, 1}, "because of this");
  d.error(Loc{"m.yaml", 2, 2}, "early");
  std::ostringstream os;
  d.print(os);
  std::string s = os.str();
  EXPECT_LT(s.find("early"), s.find("late"));
  EXPECT_LT(s.find("late"), s.find("m.yaml:1:1: note: because of this"));
  EXPECT_EQ(d.error_count(), 2);
}

TEST(Diagnostics, CapsTheNumberOfErrorsShown) {
  Diagnostics d(nullptr, 3);
  for (int i = 1; i <= 10; ++i) d.error(Loc{"f", i, 1}, "e" + std::to_string(i));
  std::ostringstream os;
  d.print(os);
  EXPECT_NE(os.str().find("f:3:1: error: e3"), std::string::npos);
  EXPECT_EQ(os.str().find("f:4:1: error: e4"), std::string::npos);
  EXPECT_NE(os.str().find("too many errors (10); showing the first 3"), std::string::npos);
}

TEST(Diagnostics, CaretLinesUpAfterTabs) {
  SourceManager sm;
  sm.add("m", "\tab cd\n");
  Diagnostics d(&sm);
  d.error(Loc{"m", 1, 5}, "x");
  std::ostringstream os;
  d.print(os);
  EXPECT_NE(os.str().find("\n  \t   ^\n"), std::string::npos) << os.str();
}

TEST(DidYouMean, FindsCloseNamesOnly) {
  std::vector<std::string> names = {"encoder", "decoder", "sampler", "losses"};
  EXPECT_EQ(closest_match("encodr", names), "encoder");
  EXPECT_EQ(closest_match("lossse", names), "losses");  // transposition
  EXPECT_EQ(closest_match("xyz", names), "");
  EXPECT_EQ(did_you_mean("decoderr", names), "; did you mean 'decoder'?");
  EXPECT_EQ(did_you_mean("completely_different", names), "");
}
