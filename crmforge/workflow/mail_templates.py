"""E-mail templates: ``{{ field }}`` merge fields in Chinese and English texts.

Templates are written by administrators (automation rules, processes) and filled with
record values, so they run in Jinja's ``SandboxedEnvironment`` (no access to Python
internals through attributes) and, before that, pass a whitelist of template syntax:
output, names, attribute and key lookups, ``if``, comparisons, ``and``/``or``/``not`` and a
few filters (``default``, ``upper``, ``truncate``...). No loops, macros, calls, imports or
arithmetic: rendering costs time linear in the template, whatever the values. The HTML
part is rendered with autoescape, so a merged value can never become markup; the subject
loses line breaks, so a value can never add a header.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

from jinja2 import TemplateSyntaxError, nodes
from jinja2.sandbox import SandboxedEnvironment

#: Longest template, and longest rendered body (characters).
MAX_TEMPLATE = 20_000
MAX_OUTPUT = 100_000
LANGS = ("zh", "en")

_FILTERS = frozenset({"default", "d", "upper", "lower", "title", "capitalize", "trim",
                      "truncate", "round", "replace", "string", "int", "float", "length",
                      "abs", "striptags"})
_TESTS = frozenset({"defined", "undefined", "none", "number", "string", "true", "false"})
_NODES = (nodes.Template, nodes.Output, nodes.TemplateData, nodes.Name, nodes.Const,
          nodes.Getattr, nodes.Getitem, nodes.Filter, nodes.Test, nodes.If, nodes.Not,
          nodes.And, nodes.Or, nodes.Compare, nodes.Operand, nodes.CondExpr, nodes.Concat,
          nodes.Keyword)

_text_env = SandboxedEnvironment(autoescape=False, keep_trailing_newline=True)
_html_env = SandboxedEnvironment(autoescape=True, keep_trailing_newline=True)


def template_problem(source: Any) -> str | None:
    """Why ``source`` is not a usable template (syntax, or something not allowed), or
    None. Callers check templates when they are saved."""
    if not isinstance(source, str):
        return "a template is text"
    if len(source) > MAX_TEMPLATE:
        return f"a template has at most {MAX_TEMPLATE} characters"
    try:
        tree = _text_env.parse(source)
    except TemplateSyntaxError as exc:
        return f"line {exc.lineno}: {exc.message}"
    for node in tree.find_all(nodes.Node):
        if not isinstance(node, _NODES):
            return f"line {node.lineno}: {type(node).__name__} is not allowed in a template " \
                   "(merge fields, if, comparisons and simple filters only)"
        if isinstance(node, nodes.Filter) and node.name not in _FILTERS:
            return f"line {node.lineno}: no filter named '{node.name}'"
        if isinstance(node, nodes.Test) and node.name not in _TESTS:
            return f"line {node.lineno}: no test named '{node.name}'"
        if isinstance(node, nodes.Getattr) and node.attr.startswith("_"):
            return f"line {node.lineno}: no attribute '{node.attr}'"
        if isinstance(node, nodes.Name) and node.ctx != "load":
            return f"line {node.lineno}: templates do not assign names"
    return None


def render(source: str, merge: Mapping[str, Any], *, as_html: bool = False) -> str:
    """``source`` filled with ``merge`` (a missing name renders empty). Raises ValueError
    for a template ``template_problem`` refuses."""
    problem = template_problem(source)
    if problem:
        raise ValueError(problem)
    env = _html_env if as_html else _text_env
    out = env.from_string(source).render(dict(merge))
    return out[:MAX_OUTPUT]


def pick(texts: Mapping[str, str], lang: str | None) -> list[tuple[str, str]]:
    """The (language, template) pairs to render: the one asked for when it exists, else
    every language given (Chinese first)."""
    given = [(k, texts[k]) for k in LANGS if isinstance(texts.get(k), str) and texts[k]]
    chosen = [(k, v) for k, v in given if k == lang]
    return chosen or given


def compose(subject: Mapping[str, str], body: Mapping[str, str], merge: Mapping[str, Any],
            lang: str | None = None) -> tuple[str, str, str]:
    """(subject, text body, HTML body) in ``lang``, or in both languages when the
    recipient's language is not known: subjects joined by " / ", bodies one after the
    other."""
    subjects = [render(t, merge) for _, t in pick(subject, lang)]
    texts = [render(t, merge) for _, t in pick(body, lang)]
    htmls = [render(t, merge, as_html=True) for _, t in pick(body, lang)]
    line = " / ".join(dict.fromkeys(s.strip() for s in subjects if s.strip()))
    line = " ".join(line.split())[:300]  # no line breaks: nothing becomes a header
    text = "\n\n----\n\n".join(texts)
    page = "<hr>".join(f"<div>{h.replace(chr(10), '<br>')}</div>" for h in htmls)
    return line, text, f"<!doctype html><html><body>{page}</body></html>"


def plain_html(text: str) -> str:
    """An HTML part for a text written without a template (escaped)."""
    return f"<!doctype html><html><body><div>{html.escape(text).replace(chr(10), '<br>')}" \
           "</div></body></html>"


__all__ = ["LANGS", "MAX_OUTPUT", "compose", "pick", "plain_html", "render",
           "template_problem"]
