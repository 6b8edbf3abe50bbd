"""One module per use case: each combines the domain with the adapters (store/, superoffice/)."""
