"""The sandbox payment gateway: a real HTTP service that behaves like a hosted gateway.

Merchants create orders, the hosted checkout page (or a test script) plays the
customer, and signed webhooks are delivered at least once to the engine, with
fault modes for duplicates, delays and reordering. All state is in memory: this
is a sandbox for development and tests, never a store of record.

    config.py     SandboxConfig, what one sandbox needs to run
    errors.py     error codes, their HTTP statuses and the envelope
    schemas.py    request and response bodies
    store.py      orders, payments and refunds (in memory, under one lock)
    delivery.py   webhook delivery: signing, retries with backoff, faults
    service.py    the Sandbox object the app holds (``app.state.sandbox``)
    checkout.py   the hosted checkout page
    routes.py     the HTTP routes
    app.py        ``create_app``
"""
