"""Ray Serve: the scorer deployment, the ingest deployment, the HTTP API and the app builder."""
