"""Helpers shared by the tests, one module per concern.

- ``auth``: test secrets and bearer tokens
- ``identity``: a stand-in identity provider (keys, a JWKS on loopback HTTP, tokens)
- ``catalog``: resources, slots, wallets and bookings through the public API
- ``engine``: an API and worker on a fresh task queue; swapping one activity
- ``histories``: recording workflow histories for the replay tests
- ``db``: rows written straight to the database
- ``http``: third parties faked at the HTTP layer
- ``fakes``: stand-ins for every activity, for workflow tests
"""
