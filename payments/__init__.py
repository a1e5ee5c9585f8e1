"""Payment providers behind one interface, so the payout activity does not care who moves the money."""
