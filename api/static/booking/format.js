// Times in the customer's own time zone (the browser's, via Intl) and money in minor units.

export const customerZone = Intl.DateTimeFormat().resolvedOptions().timeZone;

const day = new Intl.DateTimeFormat(undefined, {
  weekday: "long", day: "numeric", month: "long", timeZone: customerZone,
});
const clock = new Intl.DateTimeFormat(undefined, {
  hour: "2-digit", minute: "2-digit", timeZone: customerZone,
});

/** "Monday, 7 December" in the customer's zone. */
export const dayOf = (iso) => day.format(new Date(iso));

/** "14:30" in the customer's zone. */
export const timeOf = (iso) => clock.format(new Date(iso));

/** "Monday, 7 December, 14:30 – 15:00". */
export const spanOf = (start, end) => `${dayOf(start)}, ${timeOf(start)} – ${timeOf(end)}`;

// ISO 4217 currencies whose minor unit is not a hundredth.
const EXPONENTS = { JPY: 0, KRW: 0, VND: 0, CLP: 0, ISK: 0, BHD: 3, KWD: 3, OMR: 3, JOD: 3, TND: 3 };

/** {"amount": 50000, "currency": "INR"} as "₹500.00". */
export function moneyOf({ amount, currency }) {
  const exponent = EXPONENTS[currency] ?? 2;
  return new Intl.NumberFormat(undefined, { style: "currency", currency })
    .format(amount / 10 ** exponent);
}

/** Free starts grouped by the customer's day, in time order. */
export function byDay(items) {
  const days = new Map();
  for (const item of items) {
    const key = dayOf(item.starts_at);
    if (!days.has(key)) days.set(key, []);
    days.get(key).push(item);
  }
  return days;
}
