"""The API's plumbing: the routes (`routes`), the measured fast path for client POSTs (`fast_path`) and the
pass-on of every other /v1/ path to its provider (`passthrough`)."""
