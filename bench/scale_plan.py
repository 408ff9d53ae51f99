"""What a database of a given size holds: resources, and each booking's time, owner and fate.

Pure drawing from a seeded generator, no I/O: :mod:`bench.scale_data` turns a
:class:`Plan` into rows. The shape is chosen so that what one request reads
does not change with the size of the database, only how much else there is:

* Regular resources grow with the data (one per ~2,000 bookings), each with a
  weight drawn from a log-normal, so the spread of bookings per resource is
  the same at every size. A resource's slots are laid end to end over the
  span (about 18 months back, 6 months ahead), one hour or shorter, so no two
  of its bookings ever overlap (the exclusion constraint holds).
* One busy slot resource is booked hour after hour around the clock (85% of
  its hours) from 30 days back to 60 days ahead, and one busy range resource
  has a one-hour rental every three hours over the same days: the same
  calendar at every size, so their availability is comparable across sizes.
* Customers have one INR wallet each; bookings pick their customer with a
  skew (some customers book a lot) that is the same at every size.
* A booking's fate follows its time: ended ones are mostly COMPLETED, some
  CANCELLED (refunded in full or in part), EXPIRED (gateway) or FAILED
  (insufficient funds); upcoming ones mostly CONFIRMED; a few, created in the
  last minutes, AWAITING_PAYMENT, each for a different customer.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

DAY = 86_400.0
HOUR = 3_600.0
# The span of booked times around "now", in seconds.
PAST, FUTURE = 540 * DAY, 180 * DAY
BUSY_FROM, BUSY_TO = -30 * DAY, 60 * DAY
BOOKINGS_PER_RESOURCE = 2_000
PRICES = (20_000, 50_000, 75_000, 150_000)
TIMEZONES = ("Asia/Kolkata", "Europe/London", "America/New_York", "UTC")
PROVIDERS = ("sandbox", "stripe", "razorpay")
RANGE_BUFFER = 30 * 60.0

# Booking statuses and methods as drawn (the row builder spells out the rest).
COMPLETED, CONFIRMED, CANCELLED, EXPIRED, FAILED, AWAITING = range(6)
WALLET, GATEWAY = 0, 1


@dataclass(frozen=True)
class ResourcePlan:
    """One resource: its name, mode, timezone and price."""

    name: str
    mode: str  # "slots" or "range"
    timezone: str
    price: int


@dataclass(frozen=True)
class Draw:
    """One booking as drawn: times (epoch seconds), resource, customer, fate."""

    created: float
    starts: float
    ends: float
    resource: int
    customer: int
    status: int
    method: int
    provider: int
    amount: int
    # Cancelled bookings: the share refunded (100 or 50 percent); the cancel time.
    refund_percent: int = 0
    cancelled: float = 0.0


@dataclass
class Plan:
    """Resources, every booking (oldest created first) and the slots nobody booked."""

    resources: list[ResourcePlan]
    draws: list[Draw]
    # Free slots: (resource index, starts, ends).
    free_slots: list[tuple[int, float, float]] = field(default_factory=list)
    busy_resource: int = 0
    busy_range_resource: int = 1


def plan(
    bookings: int, wallets: int, now: float, seed: int, per_resource: int = BOOKINGS_PER_RESOURCE
) -> Plan:
    """Draw ``bookings`` bookings over ``wallets`` customers around ``now`` (epoch seconds).

    Raises:
        ValueError: Fewer than 100 bookings or 10 wallets: too few to spread.
    """
    if bookings < 100 or wallets < 10:
        raise ValueError("at least 100 bookings and 10 wallets")
    rng = random.Random(seed)  # noqa: S311 - reproducible data, not secrets
    resources = [
        ResourcePlan("Busy room", "slots", "Asia/Kolkata", 50_000),
        ResourcePlan("Busy car", "range", "Asia/Kolkata", 10_000),
    ]
    out = Plan(resources=resources, draws=[])
    busy_hours = min(int((BUSY_TO - BUSY_FROM) / HOUR), bookings // 4)
    busy_start = _hour(now + BUSY_FROM)
    for h in range(busy_hours):
        starts = busy_start + h * HOUR
        if rng.random() < 0.85:
            out.draws.append(_draw(rng, now, starts, starts + HOUR, 0, 50_000, wallets))
        else:
            out.free_slots.append((0, starts, starts + HOUR))
    range_count = min(int((BUSY_TO - BUSY_FROM) / (3 * HOUR)), bookings // 10)
    for k in range(range_count):
        starts = busy_start + k * 3 * HOUR
        out.draws.append(_draw(rng, now, starts, starts + HOUR, 1, 10_000, wallets))
    regular = bookings - len(out.draws)
    count = max(4, regular // per_resource)
    weights = [rng.lognormvariate(0, 0.75) for _ in range(count)]
    shares = _split(regular, weights)
    span_start = now - PAST
    for i, n in enumerate(shares):
        price = rng.choice(PRICES)
        resources.append(ResourcePlan(f"Room {i + 1}", "slots", rng.choice(TIMEZONES), price))
        index = len(resources) - 1
        step = (PAST + FUTURE) / max(n, 1)
        if step < 120:
            raise ValueError(f"resource {i} would need slots shorter than a minute ({n} bookings)")
        length = min(HOUR, (step // 60 - 1) * 60)
        for k in range(n):
            starts = (span_start + k * step) // 60 * 60
            out.draws.append(_draw(rng, now, starts, starts + length, index, price, wallets))
    _awaiting(rng, out, now, max(1, bookings // 5_000), wallets)
    out.draws.sort(key=lambda d: d.created)
    return out


def _draw(
    rng: random.Random, now: float, starts: float, ends: float, res: int, price: int, wallets: int
) -> Draw:
    """One booking of ``[starts, ends)``: when it was made, by whom, and how it ended."""
    lead = min(rng.expovariate(1 / (7 * DAY)), 90 * DAY)
    created = min(starts - lead, now - rng.uniform(60, 14 * DAY))
    # The square skews towards low indexes: a few customers book much more than most.
    customer = int(wallets * rng.random() ** 2)
    method = WALLET if rng.random() < 0.7 else GATEWAY
    provider = rng.randrange(len(PROVIDERS))
    u = rng.random()
    if ends <= now:
        status = (
            COMPLETED if u < 0.84 else CANCELLED if u < 0.94 else EXPIRED if u < 0.98 else FAILED
        )
    else:
        status = CONFIRMED if u < 0.88 else CANCELLED if u < 0.98 else FAILED
    if status == EXPIRED and method == WALLET:
        status = FAILED
    if status == FAILED:
        method = WALLET  # insufficient funds: a wallet refusal
    draw = Draw(created, starts, ends, res, customer, status, method, provider, price)
    if status == CANCELLED:
        cancelled = rng.uniform(created + 60, max(created + 120, min(starts, now - 60)))
        percent = 100 if rng.random() < 0.8 else 50
        return Draw(**{**draw.__dict__, "refund_percent": percent, "cancelled": cancelled})
    return draw


def _awaiting(rng: random.Random, out: Plan, now: float, count: int, wallets: int) -> None:
    """Turn ``count`` upcoming CONFIRMED bookings into fresh gateway holds, one per customer."""
    upcoming = [i for i, d in enumerate(out.draws) if d.status == CONFIRMED and d.starts > now]
    chosen = rng.sample(upcoming, min(count, len(upcoming), wallets))
    for i, customer in zip(chosen, rng.sample(range(wallets), len(chosen)), strict=True):
        d = out.draws[i]
        created = now - rng.uniform(10, 500)
        out.draws[i] = Draw(
            created, d.starts, d.ends, d.resource, customer, AWAITING, GATEWAY, d.provider, d.amount
        )


def _split(total: int, weights: list[float]) -> list[int]:
    """``total`` split in proportion to ``weights``, in whole numbers that add up."""
    whole = sum(weights)
    shares = [int(total * w / whole) for w in weights]
    for i in range(total - sum(shares)):
        shares[i % len(shares)] += 1
    return shares


def _hour(t: float) -> float:
    return t // HOUR * HOUR
