// Checkout page: a live preview of the wallet credit used and what is left to pay by
// card, as the box is ticked or unticked. Progressive enhancement: the server
// computes the same split when the form is sent, and it is what is charged.
(function () {
  "use strict";
  var box = document.getElementById("use_wallet");
  var summary = document.getElementById("wallet-summary");
  if (!box || !summary) { return; }
  var total = parseInt(summary.dataset.total, 10);
  var credit = parseInt(summary.dataset.credit, 10);
  var minimum = parseInt(summary.dataset.minimum, 10);
  if (!isFinite(total) || !isFinite(credit) || !isFinite(minimum)) { return; }
  var format = new Intl.NumberFormat(document.documentElement.lang || "fr", {
    style: "currency",
    currency: "EUR",
  });

  // As shop/operations/wallet.py credit_to_use: never less than Stripe's minimum
  // left to the card.
  function used() {
    var take = Math.max(Math.min(credit, total), 0);
    var rest = total - take;
    if (rest > 0 && rest < minimum) { take = Math.max(total - minimum, 0); }
    return take;
  }

  function show() {
    var take = box.checked ? used() : 0;
    summary.querySelector("#wallet-used .amount").textContent = "−" + format.format(take / 100);
    summary.querySelector("#card-rest .amount").textContent = format.format((total - take) / 100);
    summary.querySelectorAll("p").forEach(function (line) { line.hidden = !take; });
  }

  box.addEventListener("change", show);
  show();
})();
