// Statements compared with Python at test time: for loops and loop.*, break/continue, else,
// set (scoping), namespaces, set blocks, macros with defaults/varargs/caller, call and filter
// blocks, with, recursion, raw, generation, whitespace control (trim_blocks, lstrip_blocks, -
// and +), the immutable sandbox, Undefined errors, raise_exception, and syntax errors.
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

TEST(JinjaStmt, StatementsSandboxAndErrors) {
  const std::vector<std::string> templates = {
      R"J({% for x in l %}{{ loop.index }}/{{ loop.index0 }}/{{ loop.revindex }}/{{ loop.revindex0 }}/{{ loop.first }}/{{ loop.last }}/{{ loop.length }}/{{ loop.depth }}:{{ x }} {% endfor %})J",
      R"J({% for x in l %}{{ loop.previtem }}<{{ x }}>{{ loop.nextitem }}|{{ loop.cycle('a', 'b') }} {% endfor %})J",
      R"J({% for x in l if x > 1 %}{{ x }}{{ loop.length }}{% else %}empty{% endfor %}|{% for x in [] %}x{% else %}empty{% endfor %}|{% for x in undefinedvar %}x{% else %}none{% endfor %})J",
      R"J({% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}|{% for k in d %}{{ k }}{% endfor %}|{% for c in 'héj' %}[{{ c }}]{% endfor %}|{% for a, b in [(1, 2), [3, 4]] %}{{ a + b }}{% endfor %})J",
      R"J({% for x in l %}{% if x == 1 %}{% continue %}{% endif %}{% if x == 2 %}{% break %}{% endif %}{{ x }}{% endfor %})J",
      R"J({% set x = 0 %}{% for i in range(3) %}{% set x = x + i %}{{ x }}{% endfor %}{{ x }})J",
      R"J({% set ns = namespace(total=0, items=[]) %}{% for i in range(4) %}{% set ns.total = ns.total + i %}{% set ns.items = ns.items + [i] %}{% endfor %}{{ ns.total }}{{ ns.items }}{{ ns }})J",
      R"J({% set a, b = 1, 2 %}{{ a }}{{ b }}{% set c = (3, 4) %}{{ c }}{% set t = 1, %}{{ t }})J",
      R"J({% set block %}  inner {{ n }}  {% endset %}[{{ block }}]{% set b2 | upper | trim %} x {{ s }} {% endset %}[{{ b2 }}])J",
      R"J({% macro m(a, b='B', c=none) %}{{ a }}-{{ b }}-{{ c }}{% endmacro %}{{ m(1) }}|{{ m(1, 2) }}|{{ m(1, c=3) }}|{{ m(a=5) }}|{{ m() }})J",
      R"J({% macro v() %}{{ varargs }}{{ kwargs }}{% endmacro %}{{ v(1, 2, x=3) }}|{% macro w(x) %}{{ x }}{% endmacro %}{{ w.name }})J",
      R"J({% macro outer() %}<{{ caller() }}>{% endmacro %}{% call outer() %}body {{ n }}{% endcall %}|{% macro o2(x) %}{{ caller(x * 2) }}{% endmacro %}{% call(y) o2(4) %}y={{ y }}{% endcall %})J",
      R"J({% macro fact(k) %}{% if k <= 1 %}1{% else %}{{ k * (fact(k - 1)|int) }}{% endif %}{% endmacro %}{{ fact(6) }})J",
      R"J({% macro late() %}{{ zz }}{% endmacro %}{{ late() }}{% set zz = 'set later' %}{{ late() }})J",
      R"J({% filter upper %}abc {{ s }}{% endfilter %}|{% filter trim|replace('a', 'b') %}  aaa  {% endfilter %})J",
      R"J({% with a = 1, b = n %}{{ a + b }}{% endwith %}{{ a }})J",
      R"J({% if n > 3 %}big{% elif n > 1 %}mid{% else %}small{% endif %}|{% if z %}z{% elif e %}e{% else %}neither{% endif %})J",
      R"J({% for i in range(2) %}{% for j in range(2) %}{{ loop.depth }}{{ i }}{{ j }} {% endfor %}{% endfor %})J",
      R"J({% for item in [1, [2, [3]]] recursive %}{% if item is iterable %}[{{ loop(item) }}]{% else %}{{ item }}@{{ loop.depth }}{% endif %}{% endfor %})J",
      R"J({% for x in l %}{{ loop.changed(x > 1) }}{% endfor %})J",
      R"J({% set c = cycler('a', 'b') %}{{ c.next() }}{{ c.next() }}{{ c.next() }}{{ c.current }}|{% set j = joiner('|') %}{% for x in l %}{{ j() }}{{ x }}{% endfor %})J",
      R"J({% raw %}{{ not parsed }}{% endraw %}|{# comment #}x)J",
      R"J({% generation %}gen {{ n }}{% set inside = 1 %}{% endgeneration %}{{ inside }})J",
      R"J({{ l.append(4) }})J",
      R"J({{ d.pop('a') }})J",
      R"J({{ d.update({}) }})J",
      R"J({{ l.sort() }})J",
      R"J({% set x = l.pop() %}{{ x }}{{ l }})J",
      R"J({{ d.__class__ }}|{{ d._private }})J",
      R"J({{ d.__class__.__name__ }})J",
      R"J({{ undefinedvar.attr }})J",
      R"J({{ undefinedvar + 1 }})J",
      R"J({{ undefinedvar['k'] }})J",
      R"J({{ undefinedvar() }})J",
      R"J({{ d.zz.y }})J",
      R"J({{ l[10].y }})J",
      R"J({{ undefinedvar < 1 }})J",
      R"J({{ -undefinedvar }})J",
      R"J({{ undefinedvar|int }})J",
      R"J({{ undefinedvar|tojson }})J",
      R"J({{ undefinedvar|indent }})J",
      R"J({{ undefinedvar|upper }}[{{ undefinedvar|trim }}]{{ undefinedvar|first }}{{ undefinedvar|join }}{{ undefinedvar ~ 'x' }})J",
      R"J({{ raise_exception('custom message ' ~ n) }})J",
      R"J({% if true %}{{ raise_exception('in if') }}{% endif %})J",
      R"J({{ 1 + 'a' }})J",
      R"J({{ 'a' + 1 }})J",
      R"J({{ [1] + 'a' }})J",
      R"J({{ 1 / 0 }})J",
      R"J({{ 1 // 0 }})J",
      R"J({{ 1 % 0 }})J",
      R"J({{ 'a' - 1 }})J",
      R"J({{ none.x }})J",
      R"J({{ 1 < 'a' }})J",
      R"J({{ 'a' in 1 }})J",
      R"J({{ 1 in 'a' }})J",
      R"J({{ s() }})J",
      R"J({{ range(200000)|length }})J",
      R"J({{ x })J",
      R"J({% for %})J",
      R"J({% if x %})J",
      R"J({{ x|nosuchfilter }})J",
      R"J({{ x is nosuchtest }})J",
      R"J({% endfor %})J",
      R"J({% unknowntag %})J",
      R"J({{ 'unterminated }})J",
      R"J({% break %})J",
      R"J({% set ns = namespace() %}{% set ns.x = 1 %}{{ ns.x }}{{ ns.y }})J",
      R"J({% set z.x = 1 %})J",
      R"J({% for a, b in [1] %}{% endfor %})J",
      R"J({% for a, b in [(1, 2, 3)] %}{% endfor %})J",
      R"J(  {% if true %}
    x
  {% endif %}
  y  
{%- if true %}  z {% endif -%}  
 w {{- ' v ' -}} u
)J",
      R"J(a
  {% for i in l %}
  {{ i }}
  {% endfor %}
b

)J",
      R"J(a {%+ if true %}b{% endif %}
  {%+ if true %}c{% endif %}
  {# c #}
d {#- c -#} e
  {#+ c #}x)J",
      R"J({% if true +%}
keep newline{% endif %}

)J",
      R"J(line1
line2line3
)J",
      R"J({{ 'a' }}
{% if true %}
{{ 'b' }}
{% endif %}
)J",
      R"J({%- for m in msgs -%}
  <{{ m.role }}>
{%- endfor -%}
!)J",
      R"J(	{% if true %}x{% endif %}	
)J",
      R"J({{ '\n\t\\ \x41 \u00e9 \101 \d é' }})J",
      R"J({{ 'a' 'b' "c" }}|{{ (1) }}|{{ (1, 2)[1] }}|{{ [1, 2,][1] }}|{{ {'a': 1,}['a'] }}|{{ foo(1) if false else 'ok' }})J",
      R"J({{ n|string + 'x' }}|{{ (n|string).zfill(3) }}|{{ n ~ n }}|{{ [1, 2]|string }}|{{ none|string }})J",
      R"J({% set l2 = l %}{{ l2 is sameas l }}|{{ msgs|selectattr('role', 'equalto', 'user')|list }})J",
      R"J({{ messages[0]['content'] if messages is defined else 'none' }}|{{ msgs[-1].content|trim }})J",
      R"J({{ strftime_now('%Y-%m-%d %H:%M %a %b %j %%') }}|{{ strftime_now('%d %B %Y') }})J",
      R"J({{ {'a': 1}|tojson(indent=2, sort_keys=true) }}|{{ [{'x': [1, {'y': none}]}]|tojson(indent=1) }})J",
      R"J({{ msgs|map(attribute='role')|unique|list }}|{{ msgs|map('tojson')|join(',') }})J",
      R"J({{ x | default('a') | upper }}|{{ -n|abs }}|{{ -(n|abs) }}|{{ n is not none and n > 1 }}|{{ not n is none }})J",
      R"J({% for m in msgs %}{{ m.role|upper }}{{ ':' if not loop.last }}{% endfor %})J",
      R"J({{ d['a'] is defined and d['a'] > 1 }}|{{ 'items' in d }}|{{ d.items() | length }})J",
  };
  const Comparison cmp = CompareWithPython(Table(templates));
  EXPECT_EQ(cmp.mismatches, 0);
  EXPECT_EQ(cmp.rendered + cmp.raised, static_cast<int>(templates.size()));
}

}  // namespace
}  // namespace phx::chat::testing
