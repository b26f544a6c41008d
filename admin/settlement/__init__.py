"""Settlement runs: per shop and period, fulfilled sales − refunds − commission TTC,
paid out exactly once (Stripe Connect transfer, or SEPA transfer by the treasury)."""
