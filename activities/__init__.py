"""Activities: the only code through which a claim workflow touches the database or the provider."""
