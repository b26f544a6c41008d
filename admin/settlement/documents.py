"""A settlement's documents: its statement (CSV and PDF) and its commission invoice
or credit note (PDF and CSV), the same for the shop and the collectivité.

The PDFs are made with fpdf2 (pure Python) and embed DejaVu Sans (fonts/, with its
licence) so accents, € and the narrow spaces of French amounts print anywhere. They
are legal and accounting documents of a French collectivité: French only, amounts
as French money ("1 234,56 €"), dates and times in Europe/Paris.

The statement PDF has every line of the CSV (each sale, refund and the commission
on it), the carry from an earlier settlement and totals that add up to the payout
to the cent: Σ net of the lines + carry in = payout + carry out.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from fpdf import FPDF
from fpdf.fonts import FontFace

from marketplace.extensions import db
from marketplace.i18n import _money
from merchants.models import Shop

from . import invoices
from .models import CommissionInvoice, InvoiceKind, Settlement
from .operations import statement_rows
from .settings import Seller

PARIS = ZoneInfo("Europe/Paris")
FONTS = Path(__file__).parent / "fonts"
FONT = "DejaVu"
KINDS = {"sale": "Vente", "refund": "Remboursement"}
LATE_PAYMENT = (
    "Pas d'escompte pour paiement anticipé. En cas de retard de paiement : pénalités "
    "au taux d'intérêt appliqué par la Banque centrale européenne à son opération de "
    "refinancement la plus récente majoré de 10 points (art. L441-10 du code de "
    "commerce) et indemnité forfaitaire pour frais de recouvrement de 40 € "
    "(art. D441-5 du code de commerce)."
)


def euros(cents: int) -> str:
    return _money(cents, "fr")


def day(value: datetime | date) -> str:
    if isinstance(value, datetime):
        value = value.astimezone(PARIS).date()
    return value.strftime("%d/%m/%Y")


def last_day(settlement: Settlement) -> date:
    """The period's last day in Paris (its end is the next day's midnight)."""
    return (settlement.period_end - timedelta(microseconds=1)).astimezone(PARIS).date()


def period_label(settlement: Settlement) -> str:
    """du 19/10/2026 au 25/10/2026 (the last day included)."""
    return f"du {day(settlement.period_start)} au {day(last_day(settlement))}"


def file_stem(kind: str, settlement: Settlement) -> str:
    return f"{kind}-{settlement.shop_id}-{settlement.period_start.astimezone(PARIS):%Y-%m-%d}"


# --- CSV --------------------------------------------------------------------------------


def statement_csv(settlement: Settlement) -> str:
    """Each sale and refund with its commission and net, then the carry and payout."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";")
    writer.writerow(
        ["date", "type", "commande", "montant_cts", "commission_ht_cts", "tva_cts", "net_cts"]
    )
    writer.writerows(statement_rows(settlement.id))
    carry_in, carry_out = settlement.carry_in_cents, settlement.carry_out_cents
    writer.writerow(["", "report", "", carry_in, 0, 0, carry_in])
    writer.writerow(["", "reste_du", "", carry_out, 0, 0, carry_out])
    writer.writerow(["", "verse", "", settlement.payout_cents, "", "", settlement.payout_cents])
    return out.getvalue()


INVOICE_CSV_COLUMNS = [
    "numero",
    "type",
    "date",
    "vendeur",
    "vendeur_adresse",
    "vendeur_siret",
    "vendeur_tva",
    "client",
    "client_adresse",
    "client_siret",
    "periode_debut",
    "periode_fin",
    "releve",
    "ht_cts",
    "taux_tva_pb",
    "tva_cts",
    "ttc_cts",
]


def invoice_csv(invoice: CommissionInvoice) -> str:
    """The invoice as one CSV row (for the shop's or the collectivité's accounts)."""
    settlement = invoice.settlement
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";")
    writer.writerow(INVOICE_CSV_COLUMNS)
    writer.writerow(
        [
            invoice.reference,
            "facture" if invoice.kind is InvoiceKind.INVOICE else "avoir",
            invoice.issued_on.isoformat(),
            invoice.seller_name,
            invoice.seller_address,
            invoice.seller_siret,
            invoice.seller_vat_number,
            invoice.buyer_name,
            invoice.buyer_address,
            invoice.buyer_siret,
            settlement.period_start.astimezone(PARIS).date().isoformat(),
            (settlement.period_end - timedelta(microseconds=1))
            .astimezone(PARIS)
            .date()
            .isoformat(),
            settlement.id,
            invoice.ht_cents,
            invoice.vat_rate_bp,
            invoice.vat_cents,
            invoice.ttc_cents,
        ]
    )
    return out.getvalue()


# --- PDF --------------------------------------------------------------------------------


class _Document(FPDF):
    def __init__(self, title: str) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.add_font(FONT, "", str(FONTS / "DejaVuSans.ttf"))
        self.add_font(FONT, "B", str(FONTS / "DejaVuSans-Bold.ttf"))
        self.set_title(title)
        self.set_lang("fr-FR")
        self.set_author("Comptoir")
        self.set_creator("Comptoir")
        self.set_auto_page_break(auto=True, margin=18)
        self.set_margins(15, 15, 15)
        self.alias_nb_pages()
        self.add_page()
        self.set_font(FONT, size=9)

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(FONT, size=7)
        self.cell(0, 5, f"{self.title} — page {self.page_no()}/{{nb}}", align="C")

    def heading(self, text: str, size: int = 14) -> None:
        self.set_font(FONT, "B", size)
        self.multi_cell(0, 7, text, new_x="LMARGIN", new_y="NEXT")
        self.set_font(FONT, size=9)
        self.ln(1)

    def lines(self, *texts: str, bold: bool = False) -> None:
        self.set_font(FONT, "B" if bold else "", 9)
        for text in texts:
            self.multi_cell(0, 4.6, text, new_x="LMARGIN", new_y="NEXT")
        self.set_font(FONT, size=9)

    def parties(self, left: list[str], right: list[str]) -> None:
        """Two address blocks side by side (first lines bold)."""
        top, width = self.get_y(), (self.epw - 10) / 2
        bottom = top
        for x, block in ((self.l_margin, left), (self.l_margin + width + 10, right)):
            self.set_xy(x, top)
            for i, text in enumerate(block):
                self.set_font(FONT, "B" if i < 1 else "", 9)
                self.set_x(x)
                self.multi_cell(width, 4.6, text, new_x="LEFT", new_y="NEXT")
            bottom = max(bottom, self.get_y())
        self.set_xy(self.l_margin, bottom + 4)
        self.set_font(FONT, size=9)

    def grid(
        self,
        rows: list[list[str]],
        widths: tuple[float, ...],
        align: tuple[str, ...],
        bold_last: int = 0,
    ) -> None:
        bold = FontFace(emphasis="BOLD")
        self.set_font(FONT, size=8)
        with self.table(
            col_widths=widths,
            text_align=align,
            line_height=5,
            headings_style=FontFace(emphasis="BOLD", fill_color=(230, 230, 230)),
            padding=(1, 1.5),
        ) as table:
            for index, row in enumerate(rows):
                style = bold if bold_last and index >= len(rows) - bold_last else None
                table.row(row, style=style)
        self.set_font(FONT, size=9)
        self.ln(3)


def _shop(settlement: Settlement) -> Shop:
    shop = db.session.get(Shop, settlement.shop_id)
    assert shop is not None
    return shop


@dataclass(frozen=True)
class StatementTotals:
    amount_cents: int
    commission_ht_cents: int
    commission_vat_cents: int
    net_cents: int


def statement_pdf(settlement: Settlement) -> bytes:
    """Every line of the CSV statement, the carry, totals adding up to the payout."""
    shop = _shop(settlement)
    seller = Seller.of(shop.commune.territory)
    rows = statement_rows(settlement.id)
    totals = StatementTotals(
        sum(row[3] for row in rows),
        sum(row[4] for row in rows),
        sum(row[5] for row in rows),
        sum(row[6] for row in rows),
    )
    invoice = invoices.of_settlement(settlement.id)
    title = f"Relevé de reversement n° {settlement.id}"
    pdf = _Document(title)
    pdf.parties(
        [seller.name, seller.address, f"SIRET {seller.siret}" if seller.siret else ""],
        [shop.name, shop.street, f"{shop.postcode} {shop.commune.name}", f"SIRET {shop.siret}"],
    )
    pdf.heading(title)
    pdf.lines(
        f"Période : {period_label(settlement)} (heure de Paris).",
        "Ventes retirées ou livrées avant le "
        f"{settlement.claims_until.astimezone(PARIS):%d/%m/%Y à %H:%M}, délai de rétention "
        "passé ; les suivantes figurent sur un prochain relevé.",
    )
    if invoice is not None:
        label = "Facture" if invoice.kind is InvoiceKind.INVOICE else "Avoir"
        pdf.lines(
            f"Commission : {label.lower()} n° {invoice.reference} du {day(invoice.issued_on)}."
        )
    pdf.ln(2)
    head = ["Date", "Type", "Commande", "Montant TTC", "Commission HT", "TVA", "Net"]
    body = [
        [
            datetime.fromisoformat(at).strftime("%d/%m/%Y %H:%M"),
            KINDS.get(kind, kind),
            reference,
            euros(amount),
            euros(ht),
            euros(vat),
            euros(net),
        ]
        for at, kind, reference, amount, ht, vat, net in rows
    ]
    total = [
        "Total des lignes",
        f"{settlement.sales_count} v., {settlement.refunds_count} r.",
        "",
        euros(totals.amount_cents),
        euros(totals.commission_ht_cents),
        euros(totals.commission_vat_cents),
        euros(totals.net_cents),
    ]
    pdf.grid(
        [head, *body, total],
        (27, 27, 28, 26, 26, 20, 26),
        ("LEFT", "LEFT", "LEFT", "RIGHT", "RIGHT", "RIGHT", "RIGHT"),
        bold_last=1,
    )
    carried_from = (
        f" (relevé n° {settlement.carried_from_id})" if settlement.carried_from_id else ""
    )
    summary = [
        ["", "Montant"],
        ["Total net des lignes", euros(totals.net_cents)],
        [f"Report d'un relevé précédent{carried_from}", euros(settlement.carry_in_cents)],
        ["Solde de la période", euros(totals.net_cents + settlement.carry_in_cents)],
        ["Reste dû reporté sur le prochain relevé", euros(settlement.carry_out_cents)],
        ["Reversement", euros(settlement.payout_cents)],
    ]
    pdf.grid(summary, (140, 40), ("LEFT", "RIGHT"), bold_last=1)
    pdf.lines(
        "Montants en euros TTC. Commission : taux de la collectivité sur les ventes de "
        "produits TTC (frais de livraison exclus), arrondie au centime par ligne ; un "
        "remboursement reprend la commission de ce qu'il rembourse."
    )
    return bytes(pdf.output())


def invoice_pdf(invoice: CommissionInvoice) -> bytes:
    """The commission invoice (or credit note) with the mentions of art. 242 nonies A
    of the French tax code and the B2B late-payment mentions."""
    settlement = invoice.settlement
    credit = invoice.kind is InvoiceKind.CREDIT_NOTE
    name = "Avoir" if credit else "Facture"
    title = f"{name} n° {invoice.reference}"
    pdf = _Document(title)
    pdf.parties(
        [
            invoice.seller_name,
            invoice.seller_address,
            f"SIRET {invoice.seller_siret}",
            f"N° TVA intracommunautaire {invoice.seller_vat_number}",
        ],
        ["Client", invoice.buyer_name, invoice.buyer_address, f"SIRET {invoice.buyer_siret}"],
    )
    pdf.heading(title)
    pdf.lines(
        f"Date d'émission : {day(invoice.issued_on)}",
        f"Prestation : {period_label(settlement)}",
    )
    if credit:
        originals = invoices.refunded_sales_invoices(settlement.id)
        pdf.lines(
            "Avoir sur commission : les remboursements de la période reprennent plus de "
            "commission que ses ventes n'en portent."
            + (f" Factures d'origine : {', '.join(originals)}." if originals else "")
        )
    pdf.ln(2)
    rate = f"{invoice.rate_bp / 100:.2f}".rstrip("0").rstrip(".").replace(".", ",")
    vat_rate = f"{invoice.vat_rate_bp / 100:.2f}".rstrip("0").rstrip(".").replace(".", ",")
    description = (
        f"Commission de service de la place de marché ({rate} % HT des ventes de produits "
        f"TTC, nette des remboursements) — relevé de reversement n° {settlement.id} "
        f"{period_label(settlement)} : {settlement.sales_count} vente(s), "
        f"{settlement.refunds_count} remboursement(s)"
    )
    pdf.grid(
        [
            ["Désignation", "Quantité", "Prix unitaire HT", "Total HT"],
            [description, "1", euros(invoice.ht_cents), euros(invoice.ht_cents)],
        ],
        (100, 20, 30, 30),
        ("LEFT", "RIGHT", "RIGHT", "RIGHT"),
    )
    pdf.grid(
        [
            ["", "Montant"],
            ["Total HT", euros(invoice.ht_cents)],
            [f"TVA {vat_rate} %", euros(invoice.vat_cents)],
            ["Total TTC", euros(invoice.ttc_cents)],
        ],
        (140, 40),
        ("LEFT", "RIGHT"),
        bold_last=1,
    )
    if credit:
        terms = (
            f"Règlement : avoir imputé sur le reversement du {day(invoice.issued_on)} "
            f"(relevé n° {settlement.id})."
        )
    else:
        terms = (
            f"Règlement : commission déduite du reversement du {day(invoice.issued_on)} "
            f"(relevé n° {settlement.id}) ; date d'échéance : {day(invoice.issued_on)}."
        )
    pdf.lines(terms, LATE_PAYMENT)
    return bytes(pdf.output())
