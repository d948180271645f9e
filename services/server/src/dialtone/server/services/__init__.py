"""Rules and authorization between the thin routes and the storage layer."""
