"""The expression grammar: weighted terms of the registered kinds joined by ``+`` or ``-``."""

from __future__ import annotations

import functools
import re

from featviz_core.errors import RequestError
from featviz_core.objectives.terms import Objective, Term, registered_kinds


@functools.cache
def _term_pattern() -> re.Pattern:
    """One term of any registered kind (the kinds are registered when the package is imported)."""
    # Each kind brings its own piece; the pieces never match each other's text, so their order does not matter.
    return re.compile(
        r"\s*(?P<sign>[+-])?\s*(?:(?P<coef>\d+(?:\.\d*)?(?:e[+-]?\d+)?)\s*\*\s*)?(?:"
        + "|".join(f"(?P<{kind.name}>{kind.grammar})" for kind in registered_kinds())
        + r")\s*",
        re.IGNORECASE,
    )


def parse_objective(text: str) -> Objective:
    """Parse e.g. ``"mixed4a:3 - 0.5*mixed4b:7 + neuron(mixed4a:9@7,7) + dream(mixed3a)"``.

    Raises:
        RequestError: the text is empty or a term cannot be read (the message shows where).
    """
    text = text.strip()
    if not text:
        raise RequestError("objective is empty; write terms like " + ", ".join(k.example for k in registered_kinds()))
    terms: list[Term] = []
    pos = 0
    while pos < len(text):
        match = _term_pattern().match(text, pos)
        if not match or match.end() == pos or (terms and not match.group("sign")):
            raise RequestError(
                f"cannot read the objective at {text[pos:pos + 20]!r}; write terms like "
                + _examples() + ", joined by + or -"
            )
        weight = float(match.group("coef") or 1.0) * (-1.0 if match.group("sign") == "-" else 1.0)
        kind = next(kind for kind in registered_kinds() if match.group(kind.name) is not None)
        terms.append(Term(kind.name, weight=weight, **kind.fields(match)))
        pos = match.end()
    return Objective(tuple(terms))


def _examples() -> str:
    """``mixed4a:3, 0.5*neuron(mixed4a:3@7,7) or dream(mixed4a)``: a term of each kind, one of them weighted."""
    first, *others = [kind.example for kind in registered_kinds()]
    if not others:
        return f"{first} or 0.5*{first}"
    others[0] = "0.5*" + others[0]
    return ", ".join([first, *others[:-1]]) + " or " + others[-1]
