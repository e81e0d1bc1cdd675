"""The robe-serve HTTP service: settings, model runtimes, the request batcher, API.

Nothing happens at import time: `service.app.build_app(settings)` is the one
composition root, and its lifespan loads the models into `app.state`.
"""
