"""Initial schema: resources, slots, bookings, wallets, ledger, outbox, idempotency.

The invariants of the product contract live here as constraints and triggers,
so no code path (and no operator with psql) can break them:

* slot capacity: ``slots.active_count`` is a checked counter (0..capacity);
* no overlapping active bookings on a capacity-1 resource: an exclusion
  constraint over (resource, time range). The embedded server has no
  btree_gist, so the resource is a singleton ``int8range`` (two singleton
  ranges overlap exactly when they are equal);
* the ledger is append-only and is the only way a balance moves: an insert
  trigger applies each entry to its wallet, ``CHECK (balance >= 0)`` refuses
  overdrafts, update and delete are refused;
* one ledger entry per idempotency key (``{booking_id}:debit`` ...).

Revision ID: 0001
Revises:
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ACTIVE = "('HELD', 'AWAITING_PAYMENT', 'CONFIRMED')"


def split_statements(script: str) -> list[str]:
    """Split a SQL script on top-level semicolons (asyncpg runs one statement at a time)."""
    statements, current, in_body = [], [], False
    for part in script.split("$$"):
        if in_body:
            current.append("$$" + part + "$$")
        else:
            *complete, rest = part.split(";")
            for piece in complete:
                current.append(piece)
                statements.append("".join(current).strip())
                current = []
            current.append(rest)
        in_body = not in_body
    tail = "".join(current).strip()
    return [s for s in [*statements, tail] if s]


SCHEMA = """
        CREATE TABLE resources (
            id uuid PRIMARY KEY,
            seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
            name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
            timezone text NOT NULL,
            meeting_provider varchar(32) NOT NULL,
            refund_policy jsonb NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now()
        );

        CREATE TABLE slots (
            id uuid PRIMARY KEY,
            resource_id uuid NOT NULL REFERENCES resources(id),
            starts_at timestamptz NOT NULL,
            ends_at timestamptz NOT NULL,
            price_amount bigint NOT NULL CHECK (price_amount >= 0),
            currency char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
            capacity integer NOT NULL CHECK (capacity >= 1),
            active_count integer NOT NULL DEFAULT 0,
            created_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT slots_time_order CHECK (ends_at > starts_at),
            CONSTRAINT slots_capacity_not_exceeded
                CHECK (active_count >= 0 AND active_count <= capacity)
        );
        CREATE INDEX slots_resource_start ON slots (resource_id, starts_at, id);
        CREATE INDEX slots_start ON slots (starts_at, id);

        CREATE TABLE bookings (
            id uuid PRIMARY KEY,
            customer_id uuid NOT NULL,
            slot_id uuid NOT NULL REFERENCES slots(id),
            resource_id uuid NOT NULL REFERENCES resources(id),
            resource_seq bigint NOT NULL,
            status varchar(32) NOT NULL CHECK (status IN
                ('HELD', 'AWAITING_PAYMENT', 'CONFIRMED', 'FAILED', 'EXPIRED', 'CANCELLED')),
            reason varchar(64),
            amount bigint NOT NULL CHECK (amount >= 0),
            currency char(3) NOT NULL,
            payment_method varchar(16) NOT NULL CHECK (payment_method IN ('wallet', 'gateway')),
            payment_provider varchar(32),
            payment_status varchar(32) NOT NULL DEFAULT 'PENDING',
            captured_amount bigint NOT NULL DEFAULT 0 CHECK (captured_amount >= 0),
            meeting_status varchar(16) NOT NULL DEFAULT 'PENDING'
                CHECK (meeting_status IN ('PENDING', 'READY', 'FAILED')),
            meeting_url text,
            meeting_provider varchar(32) NOT NULL,
            meeting_external_id text,
            contact jsonb,
            workflow_id text NOT NULL,
            exclusive boolean NOT NULL,
            hold_expires_at timestamptz,
            starts_at timestamptz NOT NULL,
            ends_at timestamptz NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            resource_span int8range GENERATED ALWAYS AS
                (int8range(resource_seq, resource_seq, '[]')) STORED,
            during tstzrange GENERATED ALWAYS AS (tstzrange(starts_at, ends_at, '[)')) STORED,
            CONSTRAINT bookings_no_overlap_on_exclusive_resource
                EXCLUDE USING gist (resource_span WITH &&, during WITH &&)
                WHERE (exclusive AND status IN {active})
        );
        CREATE INDEX bookings_customer_created ON bookings (customer_id, created_at DESC, id DESC);
        CREATE INDEX bookings_created ON bookings (created_at DESC, id DESC);
        CREATE INDEX bookings_status_created ON bookings (status, created_at DESC, id DESC);
        CREATE INDEX bookings_slot_active ON bookings (slot_id) WHERE status IN {active};

        CREATE TABLE booking_events (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            booking_id uuid NOT NULL REFERENCES bookings(id),
            key text NOT NULL UNIQUE,
            type varchar(64) NOT NULL,
            data jsonb NOT NULL DEFAULT '{}'::jsonb,
            at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX booking_events_booking ON booking_events (booking_id, id);

        CREATE TABLE wallets (
            customer_id uuid NOT NULL,
            currency char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
            balance bigint NOT NULL DEFAULT 0,
            updated_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (customer_id, currency),
            CONSTRAINT wallets_balance_not_negative CHECK (balance >= 0)
        );

        CREATE TABLE ledger_entries (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            customer_id uuid NOT NULL,
            currency char(3) NOT NULL,
            amount bigint NOT NULL CHECK (amount <> 0),
            kind varchar(16) NOT NULL CHECK (kind IN ('credit', 'debit', 'refund')),
            booking_id uuid REFERENCES bookings(id),
            idempotency_key text NOT NULL UNIQUE,
            reason text,
            actor text,
            created_at timestamptz NOT NULL DEFAULT now(),
            FOREIGN KEY (customer_id, currency) REFERENCES wallets (customer_id, currency)
        );
        CREATE INDEX ledger_customer ON ledger_entries (customer_id, id DESC);

        CREATE FUNCTION ledger_apply() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            UPDATE wallets SET balance = balance + NEW.amount, updated_at = now()
             WHERE customer_id = NEW.customer_id AND currency = NEW.currency;
            RETURN NEW;
        END $$;
        CREATE TRIGGER ledger_apply AFTER INSERT ON ledger_entries
            FOR EACH ROW EXECUTE FUNCTION ledger_apply();

        CREATE FUNCTION ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'ledger_entries is append-only' USING ERRCODE = 'restrict_violation';
        END $$;
        CREATE TRIGGER ledger_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON ledger_entries
            FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only();

        CREATE TABLE idempotency_records (
            principal text NOT NULL,
            scope varchar(32) NOT NULL,
            key varchar(255) NOT NULL,
            request_hash varchar(64) NOT NULL,
            target_id uuid NOT NULL,
            response_status integer,
            -- json, not jsonb: a replayed answer keeps its key order byte for byte.
            response_body json,
            created_at timestamptz NOT NULL DEFAULT now(),
            expires_at timestamptz NOT NULL,
            PRIMARY KEY (principal, scope, key)
        );
        CREATE INDEX idempotency_expires ON idempotency_records (expires_at);

        CREATE TABLE notifications (
            id uuid PRIMARY KEY,
            booking_id uuid NOT NULL REFERENCES bookings(id),
            kind varchar(32) NOT NULL,
            channel varchar(16) NOT NULL,
            recipient text,
            idempotency_key text NOT NULL UNIQUE,
            status varchar(16) NOT NULL CHECK (status IN ('PENDING', 'SENT', 'FAILED', 'SKIPPED')),
            attempts integer NOT NULL DEFAULT 0,
            last_error text,
            created_at timestamptz NOT NULL DEFAULT now(),
            sent_at timestamptz
        );
        CREATE INDEX notifications_booking ON notifications (booking_id);
        CREATE INDEX notifications_undelivered ON notifications (status) WHERE status <> 'SENT';
""".replace("{active}", ACTIVE)


def upgrade() -> None:
    for statement in split_statements(SCHEMA):
        op.execute(statement)


def downgrade() -> None:
    op.execute(
        "DROP TABLE notifications, idempotency_records, ledger_entries, wallets,"
        " booking_events, bookings, slots, resources"
    )
    op.execute("DROP FUNCTION ledger_apply, ledger_append_only")
