// The fields of plan text, both ways (private to abi/: plan_format.cpp
// writes them, plan_parse.cpp reads them). Each reader refuses junk with
// false instead of throwing.
#pragma once

#include <cstdint>
#include <istream>
#include <string>
#include <vector>

namespace vaec::plan::text {

// An extent: a number, B for the batch, or c*B.
std::string extent_text(int64_t v);
bool parse_extent(const std::string &t, int64_t &out);
bool read_extent(std::istream &ls, int64_t &out);
// a + b * B as "a", "b*B" or "a+b*B".
std::string linear_text(int64_t a, int64_t b);
bool parse_linear(const std::string &t, int64_t &a, int64_t &b);
// {1, 2, 3} <-> "1,2,3" ("-" when empty; B for the batch).
std::string ints(const std::vector<int64_t> &v);
bool parse_ints(const std::string &text, std::vector<int64_t> &out);
// One integer field of a plan line; std::stoi would throw on junk.
bool read_int(std::istream &ls, int &out);
bool read_int64(std::istream &ls, int64_t &out);

}  // namespace vaec::plan::text
