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
line2
line3
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

TEST(JinjaStmt, WhitespaceScopingAndCornerCases) {
  const std::vector<std::string> templates = {
      "{%- if true -%}\n\n  a  \n\n{%- endif -%}",
      R"J(  {{- 'x' -}}  )J",
      "{% for i in [1,2] -%}\n{{ i }}\n{%- endfor %}",
      "{#- comment -#}\n x",
      "\t  {% if true %}\t\n{% endif %}",
      "{% if true %}   \n{% endif %}|",
      "a{% if true %}\r\nb{% endif %}\r\n",
      "\u3000{% if true %}x{% endif %}",
      "\u00a0 {% if true %}x{% endif %}",
      "x\n\u2003 {% if true %}y{% endif %}",
      "{{ 'a' }}\n\n",
      "{{ 'a' }}\n",
      R"J({% raw -%}  x  {%- endraw %}|)J",
      "  {% raw %}\n  r\n  {% endraw %}\n",
      R"J({{ "a'b" }}{{ 'a"b' }})J",
      "{% if true %}\n{% endif %}\n{% if true %}\n  {% endif %}",
      "{% for x in l %}\n  {{ x }}\n{% endfor %}",
      "{% for x in l %}{{ x }},{%- endfor %}\n",
      R"J({%+ if true %}x{% endif %}  {%+ if true %}y{% endif %})J",
      "a  {#+ c #}b\n  {#- c #}c",
      "{% if true -%}  \n\n  x{% endif %}",
      R"J({{ 1 }}  {{- 2 }}  {{ 3 -}}  {{ 4 }})J",
      "{% set x -%}\n  inner  \n{%- endset %}[{{ x }}]",
      "{% macro m() -%}\n  body\n{%- endmacro %}[{{ m() }}]",
      "line1 {% if false %}no{% else %}yes{% endif %}\nline2",
      "{% for m in msgs %}\n{% if m.role == 'user' %}\nU:{{ m.content }}\n{% else %}\nA:{{ m.content|trim }}\n{% endif %}\n{% endfor %}",
      R"J({{ 'a' ~ 1 + 2 }})J",
      R"J({{ 1 + 2 ~ 'a' }})J",
      R"J({{ -1|abs }})J",
      R"J({{ not true == false }})J",
      R"J({{ 2 * -3 }})J",
      R"J({{ 10 // 3 * 3 }})J",
      R"J({{ [1, 2, 3][1:] | length }})J",
      R"J({{ 'abc' is string and 'abc'|length > 2 }})J",
      R"J({{ d.a.x.y is defined }}{{ d.a.x.q is defined }})J",
      R"J({{ 'x'|center(7)|replace(' ', '.') }})J",
      R"J({{ l|join(d='-') }})J",
      R"J({{ 3|string|int + 1 }})J",
      R"J({{ (1, 2) | list }})J",
      R"J({{ 'ab' in ['ab'] }})J",
      R"J({{ n > 3 and 'big' or 'small' }})J",
      R"J({{ z|default('dz', boolean=true) }})J",
      R"J({{ msgs|length > 1 and msgs[-1].role == 'assistant' }})J",
      R"J({{ 1.0 == 1 }}{{ 1.5|int }}{{ -1.5|int }}{{ (0.1 + 0.2)|round(2) }}{{ 1e300 * 1e10 }}{{ -1e300 * 1e10 }})J",
      R"J({{ 7 / 7 }}{{ 2 ** 62 }}{{ 2 ** 0 }}{{ 0 ** 0 }}{{ 4 ** 0.5 }}{{ (-8) % 3 }}{{ 8 % -3 }}{{ -8 // 3 }}{{ 8.5 % -3 }})J",
      R"J({{ 1_000_000 }}{{ 0o777 }}{{ 0XFF }}{{ 1E3 }}{{ .5 if false else 0.5 }})J",
      R"J({% set a = [1, 2] %}{% set b = a %}{% set a = a + [3] %}{{ a }}{{ b }})J",
      R"J({% set ns = namespace({'a': 1}, b=2) %}{{ ns.a }}{{ ns.b }})J",
      R"J({% macro m(x) %}{{ caller(x) if caller is defined else x }}{% endmacro %}{{ m(1) }}|{% call(v) m(2) %}[{{ v }}]{% endcall %})J",
      R"J({% for a in [1, 2] %}{% macro inner() %}{{ a }}{% endmacro %}{{ inner() }}{% endfor %})J",
      R"J({% macro m() %}{% for x in [1, 2] %}{{ loop.index }}{% endfor %}{% endmacro %}{% for y in [7] %}{{ m() }}{{ loop.index }}{% endfor %})J",
      R"J({% for x in [1, 2, 3] %}{% for y in [4, 5] %}{{ loop.index }}{% endfor %}{{ loop.index }};{% endfor %})J",
      R"J({% for x in 'ab' %}{% set z = x %}{% endfor %}{{ z }})J",
      R"J({% if true %}{% set w = 1 %}{% endif %}{{ w }})J",
      R"J({% for k, v in {'a': 1}.items() %}{{ k }}{{ v }}{% endfor %}{% for x in {'a': 1}.values() %}{{ x }}{% endfor %})J",
      R"J({{ msgs[0].get('role') }}{{ msgs[0].get('nope', 'd') }}{{ msgs[0]['items'] is defined }})J",
      R"J({{ {'a': 1}.keys()|list }}{{ {'a': 1}.items()|list }}{{ ({'a': 1}.keys())[0] }})J",
      R"J({{ l.pop() }}{{ l }}{{ l.clear() }}{{ l }})J",
      R"J({{ 'hello'|capitalize }}{{ 'HELLO'|capitalize }}{{ 'ßx'|upper }}{{ 'Ǆ'|title }})J",
      R"J({{ '\u00e9'|length }}{{ '日本語'[1] }}{{ '🎉x'|length }}{{ '🎉x'[1:] }}{{ 'é'|tojson }}{{ '🎉'|tojson(ensure_ascii=true) }})J",
      R"J({{ [3, 1, 2]|sort|first }}{{ ['b', 'a']|sort|join }}{{ [{'a': 2}, {'a': 1}]|sort(attribute='a')|map(attribute='a')|list }})J",
      R"J({{ [1, 2, 3]|select('divisibleby', 2)|list }}{{ ['a', '', 'b']|reject('equalto', '')|join(',') }}{{ [none, 1]|select('none')|list }})J",
      R"J({{ range(3)|map('string')|join('-') }}{{ range(3)|sum }}{{ [[1], [2]]|sum(start=[]) }})J",
      R"J({{ x is defined and x or 'undef' }}{{ (x|default('a')) ~ 'b' }})J",
      R"J({{ none|tojson }}{{ true|tojson }}{{ 1.5|tojson }}{{ 'a\u2028b\x7f'|tojson }}{{ {'k': (1, 2)}|tojson }})J",
      R"J({{ [1, [2, [3, {'a': [4]}]]]|tojson(indent=2) }})J",
      R"J({{ {'b': 1, 'a': {'d': 1, 'c': 2}}|tojson(sort_keys=true, indent=1) }})J",
      R"J({{ 'a' * 0 }}{{ 'a' * -1 }}{{ [1] * 0 }}{{ 3 * [0] }})J",
      R"J({{ 'x' if none else 'y' if 0 else 'z' }})J",
      R"J({{ d|dictsort|first }}{{ d|length }}{{ d.a|length }})J",
      R"J({{ '%-6s|' % 'ab' }}{{ '%6.2f' % 3.14159 }}{{ '%+d' % 5 }}{{ '%s' % [1, 2] }}{{ '%s %s' % ('a', 'b') }})J",
      R"J({{ s.split('l') }}{{ s.split('l', 1) }}{{ s.rsplit('l', 1) }}{{ s|replace('l', '') }})J",
      R"J({{ 'a b  c'.split(' ') }}{{ ' a '.strip(' a') }}{{ 'xxhixx'.lstrip('x') }}{{ 'xxhixx'.rstrip('x') }})J",
      R"J({{ '\tx\n'.strip() }}|{{ '\u3000x\u00a0'.strip() }}|{{ '\u200bx'.strip() }}|{{ ' x '|trim }}|{{ '..x..'|trim('.') }})J",
      R"J({{ 'Hello World'.title() }}{{ 'hello-world foo_bar'|title }}{{ "o'neil mc-donald".title() }}{{ "o'neil mc-donald"|title }})J",
  };
  const Comparison cmp = CompareWithPython(Table(templates));
  EXPECT_EQ(cmp.mismatches, 0);
  EXPECT_EQ(cmp.rendered + cmp.raised, static_cast<int>(templates.size()));
}

}  // namespace
}  // namespace phx::chat::testing
