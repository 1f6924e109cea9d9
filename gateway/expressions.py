"""A small, safe subset of API Management policy expressions.

APIM attributes such as ``counter-key="@(context.Subscription.Id)"`` hold C# expressions. We accept
the forms people actually use for keys and partitions, compiled once at config load into a plain
function of the context (a bad expression is a config error, not a runtime surprise):

- ``@(context.Subscription.Id)``, ``.Key``, ``.Name``; ``@(context.Product.Id)``; ``@(context.Api.Id)``;
  ``@(context.Operation.Id)``; ``@(context.Deployment)``; ``@(context.User.Id)``;
  ``@(context.Request.IpAddress)``; ``@(context.Request.Headers.GetValueOrDefault("name", "default"))``;
  ``@(context.Request.Url.Query.GetValueOrDefault("name", "default"))``; ``@(context.Variables["name"])``;
- several of these joined with ``+`` and string literals: ``@(context.Subscription.Id + "-" + context.Deployment)``;
- anything without ``@(`` is a literal.
"""

import re
from typing import Any, Callable

Getter = Callable[[Any], str]

_CALL = re.compile(r'^context\.Request\.(Headers|Url\.Query)\.GetValueOrDefault\(\s*"([^"]*)"\s*(?:,\s*"([^"]*)"\s*)?\)$')
_VARIABLE = re.compile(r'^context\.Variables\["([^"]+)"\]$')
_STRING = re.compile(r'^"((?:[^"\\]|\\.)*)"$')


_PATHS: dict[str, Getter] = {
    "context.Subscription.Id": lambda c: c.subscription.id if c.subscription else "",
    "context.Subscription.Key": lambda c: c.subscription.key if c.subscription else "",
    "context.Subscription.Name": lambda c: c.subscription.id if c.subscription else "",
    "context.User.Id": lambda c: (c.subscription.user or "") if c.subscription else "",
    "context.Product.Id": lambda c: c.product.id if c.product else "",
    "context.Product.Name": lambda c: (c.product.name or c.product.id) if c.product else "",
    "context.Api.Id": lambda c: c.api.id,
    "context.Operation.Id": lambda c: c.operation or "",
    "context.Deployment": lambda c: c.deployment or "",
    "context.Request.IpAddress": lambda c: c.request.client_ip,
    "context.Request.Method": lambda c: c.request.method,
}


class ExpressionError(ValueError):
    pass


def compile_expression(text: str) -> Getter:
    """A function ``ctx -> str`` for ``text``; ExpressionError names what is not supported."""
    stripped = text.strip()
    if not (stripped.startswith("@(") and stripped.endswith(")")):
        return lambda ctx, literal=text: literal
    inner = stripped[2:-1].strip()
    parts = [_term(part.strip(), text) for part in _split_plus(inner)]
    if len(parts) == 1:
        return parts[0]
    return lambda ctx: "".join(part(ctx) for part in parts)


def _split_plus(expression: str) -> list[str]:
    parts, current, quoted, escaped = [], "", False, False
    for char in expression:
        if quoted:
            current += char
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                quoted = False
        elif char == '"':
            quoted = True
            current += char
        elif char == "+":
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return parts


def _term(term: str, whole: str) -> Getter:
    if term in _PATHS:
        return _PATHS[term]
    if match := _STRING.match(term):
        literal = bytes(match.group(1), "utf-8").decode("unicode_escape")
        return lambda ctx: literal
    if match := _CALL.match(term):
        where, name, default = match.group(1), match.group(2), match.group(3) or ""
        if where == "Headers":
            return lambda ctx: ctx.request.header(name) or default
        return lambda ctx: ctx.request.query(name) or default
    if match := _VARIABLE.match(term):
        name = match.group(1)
        return lambda ctx: str(ctx.variables.get(name, ""))
    supported = ", ".join(sorted(_PATHS)) + ', context.Request.Headers.GetValueOrDefault("h", "d"), context.Variables["v"]'
    raise ExpressionError(f"unsupported expression term {term!r} in {whole!r}; supported: {supported}, string literals, +")
