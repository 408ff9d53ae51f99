-- Runs once, on the first start of an empty data volume (postgres image's
-- /docker-entrypoint-initdb.d), as the superuser POSTGRES_USER (= temporal).
--
-- The same server holds two tenants:
--   * Temporal: user `temporal` (the superuser) owns `temporal` and
--     `temporal_visibility`, which temporalio/auto-setup creates itself.
--   * The booking engine: an unprivileged role `booking` owning database
--     `booking`. Migrations (`booking-engine migrate`) run as this role.
--
-- The password must match BOOKING_DATABASE_URL in docker-compose.yml. It is a
-- local, production-*like* default: change both for anything internet-facing.
-- Re-running needs a fresh volume (`docker compose down -v`).

CREATE ROLE booking WITH LOGIN PASSWORD 'booking';
CREATE DATABASE booking OWNER booking;
REVOKE ALL ON DATABASE booking FROM PUBLIC;

\connect booking
-- Since PostgreSQL 15, PUBLIC may no longer create objects in schema public.
-- Make the app role its explicit owner so migrations can create tables.
ALTER SCHEMA public OWNER TO booking;
