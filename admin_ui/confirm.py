"""A question before a designer POST that deletes or removes something: without
``confirmed=1`` the view answers a page naming what goes and what follows, whose form sends
the same request again with ``confirmed=1`` (no script needed; a Cancel link goes back).
Deletes that already ask (roles and departments on a page of their own, processes and
automation rules with a tick box) keep their way."""

from __future__ import annotations

from flask import render_template, request


def ask(question: str, explanation: str, back: str, yes: str) -> tuple[str, int] | None:
    """The confirmation page, or None when the request is the confirmed one."""
    if request.form.get("confirmed") == "1":
        return None
    fields = [(k, v) for k, v in request.form.items(multi=True)
              if k not in ("csrf_token", "confirmed")]
    return render_template("admin/confirm.html", question=question, explanation=explanation,
                           back=back, yes=yes, fields=fields,
                           action=request.full_path.rstrip("?")), 200


__all__ = ["ask"]
