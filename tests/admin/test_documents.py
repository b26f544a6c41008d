"""A settlement's documents: statement (CSV and PDF) and commission invoice or credit
note (PDF and CSV), numbered without gaps per territory and year, downloadable by the
shop's staff (its own only) and the collectivité; the hold after fulfilment; only
finished periods are settled. The PDFs are read back with pypdf."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pypdf import PdfReader
from sqlalchemy import func, select

from admin import tasks
from admin.settlement import invoices
from admin.settlement import operations as ops
from admin.settlement.models import (
    CommissionInvoice,
    InvoiceCounter,
    InvoiceKind,
    Settlement,
    SettlementItem,
)
from admin.settlement.settings import Seller, hold_days
from marketplace.extensions import db
from marketplace.i18n import _money
from marketplace.models import Role, Territory
from merchants.models import StaffRole
from shop.models import SubOrderEvent, SubOrderStatus
from tests.admin.test_settlement import (
    IN_NEXT,
    IN_WEEK,
    NEXT,
    WEEK,
    collect,
    entries_sum,
    net,
    paid_sub,
    payable,
    refund,
    settle_week,
    stub_stripe_refunds,  # noqa: F401 - autouse fixture
    two_sales_and_a_refund_settled,
)
from tests.factories import DEFAULT_PASSWORD, ShopFactory, UserFactory, add_staff
from tests.helpers import csrf_token, login

SELLER = {
    "seller_name": "Val de Garonne Agglomération",
    "seller_address": "Place du Marché, 47200 Marmande",
    "seller_siret": "20003067400011",
    "seller_vat_number": "FR12200030674",
    "invoice_prefix": "VGA",
}


def pdf_text(data: bytes) -> str:
    """The PDF's text, French spaces (narrow, no-break) as plain ones."""
    assert data.startswith(b"%PDF-")
    reader = PdfReader(io.BytesIO(data))
    text = "\n".join(page.extract_text() for page in reader.pages)
    return text.replace("\u202f", " ").replace("\xa0", " ")


def euros(cents: int) -> str:
    return _money(cents, "fr").replace("\u202f", " ").replace("\xa0", " ")


def configured(shop: Any, **extra: Any) -> None:
    """The shop's territory with the collectivité's invoicing identity."""
    territory = shop.commune.territory
    territory.settings = {**(territory.settings or {}), "settlement": {**SELLER, **extra}}
    db.session.flush()


# --- invoice numbers ---------------------------------------------------------------------


def test_invoices_are_numbered_without_gaps_per_territory_and_year_once(app):
    shop = ShopFactory(name="Librairie du Marché")
    neighbour = ShopFactory(commune=shop.commune)  # same territory, same series
    elsewhere = ShopFactory()  # another territory: its own series
    configured(shop)
    for s in (shop, neighbour, elsewhere):
        collect(paid_sub(s, [(1990, 2)]), IN_WEEK)
    nothing = ShopFactory(commune=shop.commune)
    paid_sub(nothing, [(500, 1)])  # paid, never collected: no commission, no invoice
    db.session.commit()

    found = settle_week(WEEK)
    mine = invoices.of_settlement(found[shop.id].id)
    theirs = invoices.of_settlement(found[neighbour.id].id)
    other = invoices.of_settlement(found[elsewhere.id].id)
    assert mine and theirs and other
    assert invoices.of_settlement(found[nothing.id].id) is None
    year = datetime.now(UTC).year
    assert {mine.number, theirs.number} == {1, 2} and other.number == 1
    assert mine.reference == f"VGA-{year}-{mine.number:06d}"
    # No prefix of its own: the default one and the territory, never a number twice.
    territory = db.session.get(Territory, elsewhere.territory_id)
    code = territory.epci_code or f"T{territory.id}"
    assert other.reference == f"CPT-{code}-{year}-000001"
    assert mine.kind is InvoiceKind.INVOICE
    s = found[shop.id]
    assert (mine.ht_cents, mine.vat_cents) == (s.commission_ht_cents, s.commission_vat_cents)
    assert mine.ttc_cents == s.commission_ttc_cents == 219 + 44
    assert (mine.seller_siret, mine.seller_vat_number) == ("20003067400011", "FR12200030674")
    assert (mine.buyer_name, mine.buyer_siret) == ("Librairie du Marché", shop.siret)
    assert (mine.vat_rate_bp, mine.rate_bp) == (2000, 550)

    # Runs and tasks repeated: no second number.
    assert ops.compute(s.id) is not None
    settle_week(WEEK)
    tasks.settle.delay(s.id)
    tasks.run_settlements.delay(WEEK[0].isoformat())
    territory_id = shop.territory_id
    count = select(func.count()).select_from(CommissionInvoice)
    assert db.session.scalar(count.where(CommissionInvoice.territory_id == territory_id)) == 2
    assert db.session.get(InvoiceCounter, (territory_id, year)).last_number == 2  # type: ignore[union-attr]
    assert invoices.issue(s) is not None and invoices.issue(s).id == mine.id  # type: ignore[union-attr]


def test_a_rolled_back_invoice_gives_its_number_back(app):
    shop = ShopFactory()
    db.session.commit()
    with db.session.begin_nested() as savepoint:
        assert invoices.next_number(shop.territory_id, 2026) == 1
        savepoint.rollback()
    assert invoices.next_number(shop.territory_id, 2026) == 1
    assert invoices.next_number(shop.territory_id, 2026) == 2
    assert invoices.next_number(shop.territory_id, 2027) == 1  # a new year, a new series


def test_more_reversed_than_charged_gives_a_credit_note_referring_to_the_invoice(app):
    shop = ShopFactory()
    configured(shop)
    a = paid_sub(shop, [(5000, 1)])
    collect(a, IN_WEEK)
    db.session.commit()
    first = settle_week(WEEK)[shop.id]
    invoice = invoices.of_settlement(first.id)
    assert invoice is not None and invoice.kind is InvoiceKind.INVOICE
    r = refund(a, 5000, IN_NEXT)
    db.session.commit()
    second = settle_week(NEXT)[shop.id]
    credit = invoices.of_settlement(second.id)
    assert credit is not None and credit.kind is InvoiceKind.CREDIT_NOTE
    assert (credit.ht_cents, credit.vat_cents) == (-r.commission_ht_cents, -r.commission_vat_cents)
    assert credit.number == invoice.number + 1
    text = pdf_text(_pdf(credit))
    assert f"Avoir n° {credit.reference}" in text
    assert invoice.reference in text  # the invoice it gives commission back on
    assert euros(credit.ttc_cents) in text


def _pdf(invoice: CommissionInvoice) -> bytes:
    from admin.settlement import documents

    return documents.invoice_pdf(invoice)


# --- the documents --------------------------------------------------------------------


def test_statement_pdf_has_every_csv_line_and_totals_to_the_payout(app, client):
    shop = ShopFactory()
    configured(shop)
    staff = UserFactory(roles=[Role.STAFF])
    s = two_sales_and_a_refund_settled(shop)[0]
    login(client, staff.email, DEFAULT_PASSWORD)

    page = client.get("/collectivite/reversements/2026-10-19").text
    assert "Relevé PDF" in page and "Facture VGA-" in page
    response = client.get(f"/collectivite/reversements/reglement/{s.id}.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert "attachment" in response.headers["Content-Disposition"]
    text = pdf_text(response.data)
    csv = client.get(f"/collectivite/reversements/reglement/{s.id}.csv").text
    body = [line.split(";") for line in csv.strip().splitlines()[1:-3]]
    assert len(body) == 3
    for _at, _kind, reference, amount, ht, vat, line_net in body:
        assert reference in text
        for cents in (amount, ht, vat, line_net):
            assert euros(int(cents)) in text
    flat = " ".join(text.split())
    assert "21/10/2026 00:00 Vente" in flat and "21/10/2026 05:00 Remboursement" in flat
    total_net = sum(int(row[6]) for row in body)
    assert total_net + s.carry_in_cents == s.payout_cents + s.carry_out_cents
    assert f"Total net des lignes {euros(total_net)}" in text
    assert f"Reversement {euros(s.payout_cents)}" in text
    invoice = invoices.of_settlement(s.id)
    assert invoice is not None and invoice.reference in text


def test_a_long_statement_runs_over_pages_with_every_line(app):
    from admin.settlement import documents

    shop = ShopFactory()
    subs = [paid_sub(shop, [(1000 + i, 1)]) for i in range(70)]
    for i, sub in enumerate(subs):
        collect(sub, IN_WEEK + timedelta(minutes=i))
    db.session.commit()
    s = settle_week(WEEK)[shop.id]
    data = documents.statement_pdf(s)
    assert len(PdfReader(io.BytesIO(data)).pages) >= 2
    text = pdf_text(data)
    assert all(sub.reference in text for sub in subs)
    assert f"Reversement {euros(s.payout_cents)}" in text
    assert s.payout_cents == sum(net(sub) for sub in subs)


def test_invoice_pdf_and_csv_carry_the_legal_mentions(app, client):
    shop = ShopFactory(name="Fromagerie Lou")
    configured(shop)
    collect(paid_sub(shop, [(1990, 2)]), IN_WEEK)
    staff = UserFactory(roles=[Role.STAFF])
    db.session.commit()
    s = settle_week(WEEK)[shop.id]
    invoice = invoices.of_settlement(s.id)
    assert invoice is not None
    login(client, staff.email, DEFAULT_PASSWORD)
    response = client.get(f"/collectivite/reversements/reglement/{s.id}/facture.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    text = pdf_text(response.data)
    issued = invoice.issued_on.strftime("%d/%m/%Y")
    for mention in (
        f"Facture n° {invoice.reference}",
        f"Date d'émission : {issued}",
        "Val de Garonne Agglomération",
        "Place du Marché, 47200 Marmande",
        "SIRET 20003067400011",
        "N° TVA intracommunautaire FR12200030674",
        "Fromagerie Lou",
        f"SIRET {shop.siret}",
        "du 19/10/2026 au 25/10/2026",
        "5,5 % HT",
        f"Total HT {euros(219)}",
        f"TVA 20 % {euros(44)}",
        f"Total TTC {euros(263)}",
        f"déduite du reversement du {issued}",
        "Pas d'escompte",
        "pénalités",
        "indemnité forfaitaire pour frais de recouvrement de 40 €",
    ):
        assert mention in " ".join(text.split()), mention
    csv = client.get(f"/collectivite/reversements/reglement/{s.id}/facture.csv")
    assert csv.status_code == 200 and csv.mimetype == "text/csv"
    header, row = (line.split(";") for line in csv.text.strip().splitlines())
    values = dict(zip(header, row, strict=True))
    assert values["numero"] == invoice.reference and values["type"] == "facture"
    assert (values["ht_cts"], values["tva_cts"], values["ttc_cts"]) == ("219", "44", "263")
    assert (values["periode_debut"], values["periode_fin"]) == ("2026-10-19", "2026-10-25")
    assert values["vendeur_siret"] == "20003067400011" and values["client_siret"] == shop.siret


def test_shop_staff_download_their_own_documents_only(app, client):
    shop, other = ShopFactory(), ShopFactory()
    clerk = UserFactory(roles=[Role.MERCHANT])
    add_staff(shop, clerk, StaffRole.STAFF)
    collect(paid_sub(shop, [(2590, 1)]), IN_WEEK)
    collect(paid_sub(other, [(1200, 1)]), IN_WEEK)
    db.session.commit()
    settled = settle_week(WEEK)
    s, s_other = settled[shop.id], settled[other.id]
    invoice = invoices.of_settlement(s.id)
    assert invoice is not None
    login(client, clerk.email, DEFAULT_PASSWORD)

    page = client.get(f"/boutique/{shop.id}/reversements").text
    assert "Relevé PDF" in page and f"Facture {invoice.reference}" in page
    base = f"/boutique/{shop.id}/reversements"
    pdf = client.get(f"{base}/releve.pdf?reglement={s.id}")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert f"Reversement {euros(s.payout_cents)}" in pdf_text(pdf.data)
    bill = client.get(f"{base}/facture.pdf?reglement={s.id}")
    assert bill.status_code == 200 and invoice.reference in pdf_text(bill.data)
    assert client.get(f"{base}/facture.csv?reglement={s.id}").status_code == 200
    # Another shop's documents, through this shop's URLs or its own: 404.
    for url in (
        f"{base}/releve.pdf?reglement={s_other.id}",
        f"{base}/facture.pdf?reglement={s_other.id}",
        f"{base}/facture.csv?reglement={s_other.id}",
        f"{base}/facture.pdf",
        f"/boutique/{other.id}/reversements/facture.pdf?reglement={s_other.id}",
        f"/boutique/{other.id}/reversements/releve.pdf?reglement={s_other.id}",
        f"{base}/facture.xml?reglement={s.id}",
    ):
        assert client.get(url).status_code == 404, url
    # Residents and the shop's clerks never reach the collectivité's copies.
    assert client.get(f"/collectivite/reversements/reglement/{s.id}.pdf").status_code == 403


def test_no_commission_no_invoice_download(app, client):
    shop = ShopFactory()
    staff = UserFactory(roles=[Role.STAFF])
    paid_sub(shop, [(900, 1)])  # never collected
    db.session.commit()
    s = settle_week(WEEK)[shop.id]
    assert s.commission_ttc_cents == 0 and invoices.of_settlement(s.id) is None
    login(client, staff.email, DEFAULT_PASSWORD)
    assert client.get(f"/collectivite/reversements/reglement/{s.id}/facture.pdf").status_code == 404
    assert client.get("/collectivite/reversements/reglement/999999.pdf").status_code == 404
    text = pdf_text(client.get(f"/collectivite/reversements/reglement/{s.id}.pdf").data)
    assert f"Reversement {euros(0)}" in text


def test_staff_are_told_when_the_invoicing_identity_is_incomplete(app, client):
    shop = ShopFactory()
    staff = UserFactory(roles=[Role.STAFF])
    db.session.commit()
    assert not Seller.of(shop.commune.territory).complete
    login(client, staff.email, DEFAULT_PASSWORD)
    page = client.get("/collectivite/reversements").text
    assert "Identité de la collectivité incomplète" in page
    configured(shop)
    db.session.commit()
    assert Seller.of(shop.commune.territory).complete


# --- hold after fulfilment -----------------------------------------------------------


def test_sales_within_the_hold_wait_for_the_next_settlement_and_are_paid_once(app):
    shop = ShopFactory()
    early, late = paid_sub(shop, [(3000, 1)]), paid_sub(shop, [(1500, 1)])
    collect(early, WEEK[0] + timedelta(hours=1))  # Monday: 7 days passed at the run
    collect(late, WEEK[1] - timedelta(days=2))  # Friday: still held at the run
    db.session.commit()
    beat = timedelta(hours=3)  # the weekly run, Monday 03:00
    first = settle_week(WEEK, now=WEEK[1] + beat)[shop.id]
    assert first.sales_cutoff == WEEK[1] + beat - timedelta(days=7)
    assert (first.sales_count, first.payout_cents) == (1, net(early))
    assert payable(shop) == -net(late)  # still owed, not lost
    second = settle_week(NEXT, now=NEXT[1] + beat)[shop.id]
    assert (second.sales_count, second.payout_cents) == (1, net(late))
    third_week = ops.week_of(NEXT[1] + timedelta(days=1))
    third = settle_week(third_week, now=third_week[1] + beat)[shop.id]
    assert third.sales_count == 0 and third.payout_cents == 0
    claimed = db.session.scalars(
        select(SettlementItem.sub_order_id).where(SettlementItem.kind == "sale")
    ).all()
    assert sorted(claimed) == sorted([early.id, late.id])
    assert payable(shop) == 0 and entries_sum() == 0


def test_delivered_sales_are_settled_after_their_hold_like_collected_ones(app):
    shop = ShopFactory()
    sub = paid_sub(shop, [(2400, 1)], delivery_fee=590)
    sub.status = SubOrderStatus.DELIVERED
    db.session.add(
        SubOrderEvent(
            sub_order_id=sub.id,
            from_status=SubOrderStatus.OUT_FOR_DELIVERY,
            to_status=SubOrderStatus.DELIVERED,
            actor_kind="system",
            at=WEEK[1] - timedelta(days=1),
        )
    )
    db.session.commit()
    beat = timedelta(hours=3)
    assert settle_week(WEEK, now=WEEK[1] + beat)[shop.id].sales_count == 0  # held
    s = settle_week(NEXT, now=NEXT[1] + beat)[shop.id]
    assert (s.sales_count, s.sales_cents, s.payout_cents) == (1, 2990, net(sub))
    assert payable(shop) == 0 and entries_sum() == 0


def test_hold_comes_from_the_territory_then_the_configuration(app):
    shop = ShopFactory()
    territory = shop.commune.territory
    assert hold_days(territory) == 7
    app.config["SETTLEMENT_HOLD_DAYS"] = 3
    try:
        assert hold_days(territory) == 3
        territory.settings = {"settlement": {"hold_days": 0}}
        assert hold_days(territory) == 0
        for wrong in ("sept", -1, 400, True, [7]):
            territory.settings = {"settlement": {"hold_days": wrong}}
            assert hold_days(territory) == 7, wrong
    finally:
        app.config.pop("SETTLEMENT_HOLD_DAYS")
    # No hold on this territory: the Friday sale is paid at Monday's run.
    territory.settings = {"settlement": {"hold_days": 0}}
    sub = paid_sub(shop, [(1500, 1)])
    collect(sub, WEEK[1] - timedelta(days=2))
    db.session.commit()
    s = settle_week(WEEK, now=WEEK[1] + timedelta(hours=3))[shop.id]
    assert (s.sales_count, s.payout_cents) == (1, net(sub))


# --- only finished periods ------------------------------------------------------------


def test_a_period_that_has_not_ended_is_refused(app, client):
    shop = ShopFactory()
    collect(paid_sub(shop, [(1200, 1)]), IN_WEEK)
    staff = UserFactory(roles=[Role.STAFF])
    db.session.commit()
    with pytest.raises(ops.PeriodNotEnded):
        ops.start_run(*WEEK, now=WEEK[1] - timedelta(seconds=1))
    assert db.session.scalar(select(func.count()).select_from(Settlement)) == 0
    with pytest.raises(ops.PeriodNotEnded):
        tasks.run_settlements.delay(ops.week_of(datetime.now(UTC))[0].isoformat())
    db.session.rollback()

    login(client, staff.email, DEFAULT_PASSWORD)
    token = csrf_token(client, "/collectivite/reversements")
    this_week = ops.week_of(datetime.now(UTC))[0].astimezone(ops.PARIS).date().isoformat()
    response = client.post(
        "/collectivite/reversements/lancer",
        data={"week": this_week, "csrf_token": token},
        follow_redirects=True,
    )
    assert response.status_code == 200
    assert "Seules les semaines terminées peuvent être réglées." in response.text
    for wrong in ("", "2026-13-45", "demain"):
        response = client.post(
            "/collectivite/reversements/lancer",
            data={"week": wrong, "csrf_token": token},
            follow_redirects=True,
        )
        assert response.status_code == 200 and "indiquez une date" in response.text
    assert db.session.scalar(select(func.count()).select_from(Settlement)) == 0
