"""``/mp/cargo/<site id>``: the address in a board's QR code.

Scanned inside WeChat, the link opens the mini-program (the provider registers the prefix as
an 扫普通链接二维码打开小程序 rule); scanned with any other camera app, it lands here and
tells the driver to scan with WeChat.
"""

from __future__ import annotations

import uuid

from flask import Blueprint, render_template
from flask.typing import ResponseReturnValue

from miniprogram_api import sites
from saas.errors import ApiError

bp = Blueprint("mp_landing", __name__)  # template: saas/templates/mp/landing.html


@bp.get("/mp/cargo/<uuid:site_id>")
def cargo_landing(site_id: uuid.UUID) -> ResponseReturnValue:
    try:
        ref = sites.resolve(site_id)
    except ApiError:
        return render_template("mp/landing.html", site=None), 404
    return render_template("mp/landing.html", site=ref)
