// Card payment: Stripe.js tokenises the card, the server confirms the PaymentIntent,
// Stripe.js handles 3-D Secure when asked; the signed webhook marks the order paid.
(function () {
  const form = document.getElementById("payment-form");
  if (!form || typeof Stripe === "undefined") { return; }
  const stripe = Stripe(form.dataset.key);
  const card = stripe.elements().create("card");
  card.mount("#card-element");
  const message = document.getElementById("payment-message");
  const button = document.getElementById("pay-button");

  async function confirmOnServer(paymentMethodId) {
    const response = await fetch(form.dataset.confirmUrl, {
      method: "POST",
      headers: {"Content-Type": "application/json", "X-CSRFToken": form.dataset.csrf},
      body: JSON.stringify({payment_method: paymentMethodId}),
    });
    return response.json();
  }

  async function createPaymentMethod() {
    if (form.dataset.testCardUrl) {
      // Local test mode: localstripe's Stripe.js imitation cannot create payment
      // methods, so the test card goes to the app, which asks localstripe.
      const response = await fetch(form.dataset.testCardUrl, {
        method: "POST",
        headers: {"Content-Type": "application/json", "X-CSRFToken": form.dataset.csrf},
        body: JSON.stringify(card.value.card),
      });
      const body = await response.json();
      return body.paymentMethod ? body : {error: body.error || {message: body.message}};
    }
    return stripe.createPaymentMethod({type: "card", card: card});
  }

  form.addEventListener("submit", async function (event) {
    event.preventDefault();
    button.disabled = true;
    message.textContent = "";
    const created = await createPaymentMethod();
    if (created.error) {
      message.textContent = created.error.message || "Carte refusée.";
      button.disabled = false;
      return;
    }
    let result = await confirmOnServer(created.paymentMethod.id);
    if (result.status === "requires_action") {
      const action = await stripe.confirmCardPayment(result.client_secret);
      if (action.error) {
        message.textContent = action.error.message || "Authentification refusée.";
        button.disabled = false;
        return;
      }
      result.status = "processing";
    }
    if (result.error || result.status === "requires_payment_method") {
      // The order is released and its lines are back in the basket.
      message.textContent = (result.error || result.message || "Paiement refusé.") + " ";
      if (result.next) {
        const link = document.createElement("a");
        link.href = result.next;
        link.textContent = form.dataset.backLabel;
        message.appendChild(link);
      }
      return;
    }
    window.location.assign(result.next);
  });
})();
