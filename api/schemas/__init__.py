"""HTTP request and response shapes, one module per router in :mod:`api.routes`.

- :mod:`~api.schemas.common`: the shapes every router shares (money, a page,
  the error envelope, a refund just made) and the ``Annotated`` aliases for
  fields that repeat, each described once;
- :mod:`~api.schemas.catalog`, :mod:`~api.schemas.bookings`,
  :mod:`~api.schemas.wallets`, :mod:`~api.schemas.ops`,
  :mod:`~api.schemas.webhooks`: each router's bodies and answers.

A request body is ``<Name>In`` and rejects unknown fields; a response is
``<Name>Out``; a value used in both (``Money``, ``Rate``) has a bare name.
Money is in minor units. Import from the submodule: this package exports nothing.
"""
