"""The invoice as a PDF (A4, reportlab's built-in CJK font, nothing shipped).

It is a bill (账单), laid out like a 增值税发票 so the customer's accountant finds everything
where they expect it: the buyer and seller blocks (名称, 纳税人识别号, 地址、电话, 开户行及账号),
the lines, 不含税金额, 税率, 税额 and 价税合计 in figures and in 人民币大写. The 增值税发票
itself is issued by the seller's tax-control system on request, from the buyer details printed
here — the PDF says so. All text goes through ``Paragraph`` escaped.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from xml.sax.saxutils import escape

from sqlalchemy.orm import Session

from billing.invoicing import lines_of
from billing.money import rmb_uppercase
from saas.models.billing import Invoice, InvoiceLine
from saas.settings import Settings

PDF_FONT = "STSong-Light"  # as saas/policy/execution.py: Adobe CJK font built into reportlab
TITLE = "服务费账单"
NOTE = (
    "本账单为服务费结算凭证，不是增值税发票。增值税发票（普通发票或专用发票）由销售方根据"
    "上列购买方信息（名称、纳税人识别号、地址电话、开户行及账号）按需开具；如需开具或信息有误，"
    "请联系销售方。金额单位：人民币元。"
)
STATUS_ZH = {"open": "待付款", "paid": "已付款", "overdue": "已逾期", "void": "已作废"}
_SELLER_FIELDS = ("name", "tax_no", "address_phone", "bank_account")


@dataclass(frozen=True)
class Seller:
    """销售方: the provider's own invoicing details."""

    name: str = "（未配置销售方名称 BILLING_SELLER_NAME）"
    tax_no: str = ""
    address_phone: str = ""
    bank_account: str = ""


def seller_from_settings(settings: Settings | None) -> Seller:
    """From ``settings.billing.seller_*`` (``BILLING_SELLER_NAME``, ``_TAX_NO``,
    ``_ADDRESS_PHONE``, ``_BANK_ACCOUNT``); unset fields print as blank (the name as a visible
    placeholder)."""
    if settings is None:
        return Seller()
    values = {f: str(getattr(settings.billing, f"seller_{f}")) for f in _SELLER_FIELDS}
    return Seller(**{f: v for f, v in values.items() if v})


def money(value: Decimal) -> str:
    return f"{value:,.2f}"


def render_invoice_pdf(
    invoice: Invoice, lines: Sequence[InvoiceLine], seller: Seller, *, tenant_name: str = ""
) -> bytes:
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    if PDF_FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(PDF_FONT))
    body = ParagraphStyle("body", fontName=PDF_FONT, fontSize=9, leading=12, wordWrap="CJK")
    right = ParagraphStyle("right", parent=body, alignment=2)
    small = ParagraphStyle("small", parent=body, fontSize=8, leading=11, textColor=colors.grey)
    big = ParagraphStyle("title", parent=body, fontSize=18, leading=24, alignment=1)
    warn = ParagraphStyle("warn", parent=body, fontSize=12, leading=16, textColor=colors.red)

    def p(value: Any, style: ParagraphStyle = body) -> Paragraph:
        return Paragraph(escape("" if value is None else str(value)), style)

    grid = [
        ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
    ]
    buyer = invoice.buyer or {}
    buyer_bank = " ".join(v for v in (buyer.get("bank"), buyer.get("account")) if v)
    buyer_contact = " ".join(v for v in (buyer.get("address"), buyer.get("phone")) if v)
    parties = Table(
        [
            [p("购买方"), p("名称"), p(buyer.get("name") or tenant_name)],
            ["", p("纳税人识别号"), p(buyer.get("tax_no"))],
            ["", p("地址、电话"), p(buyer_contact)],
            ["", p("开户行及账号"), p(buyer_bank)],
            [p("销售方"), p("名称"), p(seller.name)],
            ["", p("纳税人识别号"), p(seller.tax_no)],
            ["", p("地址、电话"), p(seller.address_phone)],
            ["", p("开户行及账号"), p(seller.bank_account)],
        ],
        colWidths=[18 * mm, 30 * mm, 132 * mm],
    )
    parties.setStyle(
        TableStyle(
            [
                *grid,
                ("SPAN", (0, 0), (0, 3)),
                ("SPAN", (0, 4), (0, 7)),
                ("BACKGROUND", (0, 0), (1, -1), colors.HexColor("#E8EEF3")),
            ]
        )
    )
    rows: list[list[Any]] = [
        [p("序号"), p("项目"), p("数量"), p("单价"), p("金额（不含税）")],
        *(
            [
                p(line.position),
                p(line.description),
                p(f"{line.quantity.normalize():f}", right),
                p(f"{line.unit_price:,.4f}", right),
                p(money(line.amount), right),
            ]
            for line in lines
        ),
        ["", p("合计（不含税金额）"), "", "", p(money(invoice.subtotal), right)],
        [
            "",
            p(f"税率 {invoice.vat_rate * 100:.0f}%　税额"),
            "",
            "",
            p(money(invoice.vat_amount), right),
        ],
        [
            "",
            p(f"价税合计（大写）{rmb_uppercase(invoice.total)}"),
            "",
            "",
            p(f"（小写）¥{money(invoice.total)}", right),
        ],
    ]
    table = Table(rows, colWidths=[12 * mm, 86 * mm, 20 * mm, 28 * mm, 34 * mm], repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                *grid,
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#E8EEF3")),
                ("SPAN", (1, -3), (3, -3)),
                ("SPAN", (1, -2), (3, -2)),
                ("SPAN", (1, -1), (3, -1)),
            ]
        )
    )
    status = STATUS_ZH.get(invoice.status, invoice.status)
    facts = (
        f"账单号 {invoice.number}　账期 {invoice.period_start.isoformat()} 至 "
        f"{invoice.period_end.isoformat()}　开具日期 {invoice.issued_on.isoformat()}　"
        f"付款期限 {invoice.due_on.isoformat()}　状态 {status}"
    )
    story: list[Any] = [p(TITLE, big), Spacer(1, 3 * mm), p(facts), Spacer(1, 3 * mm)]
    if invoice.status == "void":
        story += [p(f"本账单已作废：{invoice.void_reason or ''}", warn), Spacer(1, 2 * mm)]
    story += [parties, Spacer(1, 4 * mm), table, Spacer(1, 4 * mm), p(NOTE, small)]

    out = io.BytesIO()
    doc = SimpleDocTemplate(
        out,
        pagesize=A4,
        leftMargin=15 * mm,
        rightMargin=15 * mm,
        topMargin=15 * mm,
        bottomMargin=15 * mm,
        title=f"{TITLE} {invoice.number}",
        author=seller.name,
    )
    doc.build(story)
    return out.getvalue()


def invoice_pdf(
    session: Session, invoice: Invoice, settings: Settings | None, *, tenant_name: str = ""
) -> bytes:
    """The PDF of a stored invoice (its lines read in the invoice's tenant context)."""
    return render_invoice_pdf(
        invoice,
        lines_of(session, invoice),
        seller_from_settings(settings),
        tenant_name=tenant_name,
    )


def filename(invoice: Invoice) -> str:
    return f"{invoice.number}.pdf"
