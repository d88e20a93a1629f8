"""Browser pages. The business pages and the designer come with the UI; today the start
page points at the API and its interactive documentation."""

from __future__ import annotations

from flask import Blueprint, render_template

bp = Blueprint("pages", __name__)


@bp.get("/")
def home() -> str:
    return render_template("home.html")
