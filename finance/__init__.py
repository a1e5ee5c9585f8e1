"""Finance tools that read the ledger and the payment provider side by side: reconciliation.

`lines` turns ledger rows and Stripe objects into comparable lines, `ledger` streams the ledger
sorted by idempotency key, `spool` sorts provider lines by key in bounded memory, and `matching`
merge-joins the two sorted streams into findings.
"""
