"""A question before a page's POST that deletes: without ``confirmed=1`` the view answers a
page naming what goes and what follows, whose form sends the same request again (its
fields kept, ``confirmed=1`` added). It needs no script; Cancel goes back. A record's own
delete keeps its question page (``GET .../delete``)."""

from __future__ import annotations

from collections.abc import Iterable

from flask import render_template, request


def ask(question: str, explanation: str, back: str, yes: str,
        names: Iterable[str] = ()) -> str | None:
    """The confirmation page, or None when the request is the confirmed one."""
    if request.form.get("confirmed") == "1":
        return None
    fields = [(k, v) for k, v in request.form.items(multi=True)
              if k not in ("csrf_token", "confirmed")]
    return render_template("confirm_action.html", question=question, explanation=explanation,
                           names=list(names), fields=fields, back=back, yes=yes,
                           action=request.full_path.rstrip("?"))


__all__ = ["ask"]
