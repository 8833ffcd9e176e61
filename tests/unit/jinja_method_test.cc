// Python str, dict and list methods called from templates, compared with Python at test time.
#include <gtest/gtest.h>

#include "tests/unit/jinja_test_util.h"

namespace phx::chat::testing {
namespace {

std::vector<Case> Table(const std::vector<std::string>& templates) {
  std::vector<Case> cases;
  for (size_t i = 0; i < templates.size(); ++i) {
    cases.push_back({"#" + std::to_string(i), templates[i], SampleVars()});
  }
  return cases;
}

TEST(JinjaMethod, StrDictListMethods) {
  const std::vector<std::string> templates = {
      R"J({{ 'a,b,,c'.split(',') }})J",
      R"J({{ 'a,b,,c'.split(',', 1) }})J",
      R"J({{ '  a  b c '.split() }})J",
      R"J({{ '  a  b c '.split(none, 1) }})J",
      R"J({{ 'a,b,c'.rsplit(',', 1) }})J",
      R"J({{ '  a  b c '.rsplit(maxsplit=1) }})J",
      R"J({{ 'a\nb\r\nc\rd'.splitlines() }})J",
      R"J({{ 'a\nb'.splitlines(true) }})J",
      R"J({{ ''.split(',') }})J",
      R"J({{ ''.split() }})J",
      R"J({{ s.startswith('hé') }})J",
      R"J({{ s.endswith('ld') }})J",
      R"J({{ s.startswith(('x', 'h')) }})J",
      R"J({{ s.find('l') }})J",
      R"J({{ s.rfind('l') }})J",
      R"J({{ s.find('zz') }})J",
      R"J({{ s.count('l') }})J",
      R"J({{ s.index('W') }})J",
      R"J({{ s.replace('l', 'L') }})J",
      R"J({{ s.replace('l', 'L', 2) }})J",
      R"J({{ '-'.join(['a', 'b']) }})J",
      R"J({{ s.find('l', 4) }})J",
      R"J({{ s.startswith('llo', 2) }})J",
      R"J({{ 'x'.center(6, '*') }})J",
      R"J({{ 'x'.ljust(4) }})J",
      R"J({{ 'x'.rjust(4, '0') }})J",
      R"J({{ '42'.zfill(5) }})J",
      R"J({{ '-42'.zfill(5) }})J",
      R"J({{ 'abc'.removeprefix('a') }})J",
      R"J({{ 'abc'.removesuffix('c') }})J",
      R"J({{ 'a=b=c'.partition('=') }})J",
      R"J({{ 'a=b=c'.rpartition('=') }})J",
      R"J({{ 'abc'.partition('z') }})J",
      R"J({{ 'abc'.isalpha() }})J",
      R"J({{ 'a1'.isalnum() }})J",
      R"J({{ '12'.isdigit() }})J",
      R"J({{ '½'.isnumeric() }})J",
      R"J({{ '½'.isdigit() }})J",
      R"J({{ ' \t'.isspace() }})J",
      R"J({{ 'Ab Cd'.istitle() }})J",
      R"J({{ 'ab'.islower() }})J",
      R"J({{ 'AB1'.isupper() }})J",
      R"J({{ ''.isalpha() }})J",
      R"J({{ 'é'.isascii() }})J",
      R"J({{ 'ß'.upper() }})J",
      R"J({{ 'İ'.lower() }})J",
      R"J({{ 'ǅ'.lower() }})J",
      R"J({{ 'ΣΑΣ ΣΑΣ'.lower() }})J",
      R"J({{ 'ﬁ'.title() }})J",
      R"J({{ l.index(2) }})J",
      R"J({{ l.count(1) }})J",
      R"J({{ (1, 2, 1).count(1) }})J",
      R"J({{ d.copy() }})J",
      R"J({{ range(3) | list }})J",
      R"J({{ range(1, 10, 3)|list }})J",
      R"J({{ range(5, 0, -2)|list }})J",
      R"J({{ dict(a=1, b=2) }})J",
      R"J({{ dict([('x', 1)]) }})J",
      R"J({{ namespace(a=1).a }})J",
  };
  const Comparison cmp = CompareWithPython(Table(templates));
  EXPECT_EQ(cmp.mismatches, 0);
  EXPECT_EQ(cmp.rendered + cmp.raised, static_cast<int>(templates.size()));
}

}  // namespace
}  // namespace phx::chat::testing
