"""engage's HTTP API as plain FastAPI: routers by concern over the `Backends` they need.

Nothing here imports Ray: `serving.api` builds the live backends (shards through Ray,
Kafka, Redis, the model registry) and serves `create_app(backends)` on Ray Serve; tests
build it over fakes and call the same routes with FastAPI's TestClient.
"""
