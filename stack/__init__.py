"""Running the product: configuration, the embedded dev stack, and start-up."""
